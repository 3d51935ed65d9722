"""`sweeplab ui`: the MLflow UI on the workspace's store, bound to 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import typer

from sweeplab.cli._app import app
from sweeplab.cli._common import WorkspaceOpt

__all__ = ["ui", "free_port", "ui_command"]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def ui_command(workspace_root: Path, *, host: str, port: int, workers: int = 1) -> list[str]:
    from sweeplab.tracking import artifact_root, default_tracking_uri

    mlflow_bin = shutil.which("mlflow", path=str(Path(sys.executable).parent)) or shutil.which(
        "mlflow"
    )
    base = [mlflow_bin] if mlflow_bin else [sys.executable, "-m", "mlflow"]
    return [
        *base,
        "ui",
        "--backend-store-uri",
        default_tracking_uri(workspace_root),
        "--default-artifact-root",
        artifact_root(workspace_root),
        "--host",
        host,
        "--port",
        str(port),
        "--workers",  # mlflow's default (4) takes a minute to start on a small machine
        str(workers),
    ]


@app.command(epilog="Example: sweeplab ui --port 5000")
def ui(
    workspace: Path | None = WorkspaceOpt,
    host: str = typer.Option(
        "127.0.0.1",
        "--host",
        help="Address to bind; 127.0.0.1 keeps it on this machine. Use 0.0.0.0 only on a trusted network.",
    ),
    port: int | None = typer.Option(
        None, "--port", "-p", min=1, max=65535, help="Port (default: a free one)."
    ),
    workers: int = typer.Option(
        1, "--workers", min=1, help="Server worker processes (more for a team sharing one UI)."
    ),
) -> None:
    """Open the MLflow UI on this workspace's runs: each sweep a parent run, its trials nested
    under it. Stops cleanly on Ctrl-C."""
    from sweeplab.errors import UserError
    from sweeplab.workspace import Workspace

    ws = Workspace.at(workspace)
    if not (ws.root / "mlflow.db").is_file():
        raise UserError(
            f"no MLflow store in {ws.root} yet; run a sweep first (sweeplab sweep PROJECT.yaml)"
        )
    port = port or free_port(host if host != "0.0.0.0" else "127.0.0.1")
    cmd = ui_command(ws.root, host=host, port=port, workers=workers)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    typer.echo(f"MLflow UI for {ws.root}: http://{shown}:{port}  (Ctrl-C to stop)")
    # Its own process group: `mlflow ui` starts a server process of its own, and stopping
    # must reach both (Ctrl-C and SIGTERM come to us; we pass them on to the whole group).
    # MLflow's server also starts a pool of job workers (for its GenAI features); browsing
    # runs needs none of them.
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    proc = subprocess.Popen(cmd, start_new_session=True, env=env)
    previous = _stop_on_signals()
    try:
        rc = proc.wait()
    except KeyboardInterrupt:
        _stop_group(proc)
        typer.echo("MLflow UI stopped.")
        return
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if rc != 0:
        raise typer.Exit(1)


def _stop_on_signals() -> dict:
    """SIGINT and SIGTERM raise KeyboardInterrupt (so the server is stopped, not orphaned),
    even where SIGINT was ignored (a shell's background job); returns the old handlers."""

    def handler(signum, frame):
        raise KeyboardInterrupt

    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[sig] = signal.signal(sig, handler)
        except ValueError:  # not the main thread (the command called from a thread)
            pass
    return previous


def _stop_group(proc: subprocess.Popen) -> None:
    """SIGINT to the server's process group, then SIGTERM, then SIGKILL if it lingers."""
    import os

    for sig, wait_s in ((signal.SIGINT, 10), (signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break  # the whole group is gone
        try:
            proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            continue
        # the leader exited; give its workers a moment, then stop what is left of the group
        for _ in range(50):
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
