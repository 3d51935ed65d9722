"""`sweeplab ui`: the MLflow UI on the workspace's store, bound to 127.0.0.1."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import typer

from sweeplab.cli._app import app
from sweeplab.cli._common import WorkspaceOpt

__all__ = ["ui", "free_port", "ui_command"]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def ui_command(workspace_root: Path, *, host: str, port: int) -> list[str]:
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
    cmd = ui_command(ws.root, host=host, port=port)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    typer.echo(f"MLflow UI for {ws.root}: http://{shown}:{port}  (Ctrl-C to stop)")
    proc = subprocess.Popen(cmd)
    try:
        rc = proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        typer.echo("MLflow UI stopped.")
        return
    if rc != 0:
        raise typer.Exit(1)
