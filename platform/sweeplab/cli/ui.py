"""`sweeplab ui`: the MLflow UI on the workspace's store, bound to 127.0.0.1 unless asked."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import typer

from sweeplab.cli._app import app
from sweeplab.cli._common import WorkspaceOpt

__all__ = ["ui", "LOG_NAME"]

#: The server's output (requests, its shutdown), in the workspace: the terminal stays quiet.
LOG_NAME = "mlflow-ui.log"


@app.command(epilog="Example: sweeplab ui --port 5000")
def ui(
    workspace: Path | None = WorkspaceOpt,
    host: str = typer.Option(
        "127.0.0.1",
        "--host",
        help="Address to listen on; 127.0.0.1 keeps it on this machine. Any other address "
        "(0.0.0.0, ::, a LAN address) needs --allow-remote.",
    ),
    port: int | None = typer.Option(
        None, "--port", "-p", min=1, max=65535, help="Port (default: a free one)."
    ),
    workers: int = typer.Option(
        1, "--workers", min=1, help="Server worker processes (more for a team sharing one UI)."
    ),
    allow_remote: bool = typer.Option(
        False,
        "--allow-remote",
        help="Allow a --host other machines can reach. The MLflow server has no "
        "authentication: put a reverse proxy with authentication in front, or use an SSH tunnel.",
    ),
) -> None:
    """Open the MLflow UI on this workspace's runs: each sweep a parent run, its trials nested
    under it. Prints the URL of the latest sweep's runs table. Stops cleanly on Ctrl-C, and
    the server stops with this command however it ends."""
    from sweeplab._processes import GuardedGroup
    from sweeplab.errors import UserError
    from sweeplab.tracking._ui_server import bind_address, mlflow_ui_command, wait_listening
    from sweeplab.workspace import Workspace

    bind = bind_address(host, port, allow_remote=allow_remote)
    ws = Workspace.at(workspace)
    if not (ws.root / "mlflow.db").is_file():
        raise UserError(
            f"no MLflow store in {ws.root} yet; run a sweep first (sweeplab sweep PROJECT.yaml)"
        )
    landing, sweep = _latest_sweep_view(ws)
    log_path = ws.root / LOG_NAME
    # MLflow's server also starts a pool of job workers (for its GenAI features); browsing
    # runs needs none of them.
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    previous = _stop_on_signals()
    server = None
    try:
        with open(log_path, "wb") as log:
            server = GuardedGroup(
                mlflow_ui_command(ws.root, bind, workers=workers), env=env, log=log
            )
        typer.echo(f"Starting the MLflow UI on {ws.root} (server log: {log_path}) ...")
        if not wait_listening(bind, lambda: server.proc.poll() is None):
            server.stop()
            raise typer.Exit(_failed(server.proc.returncode, log_path))
        _announce(bind, landing, sweep)
        rc = server.proc.wait()
    except KeyboardInterrupt:
        if server is not None:
            server.stop()
        typer.echo("MLflow UI stopped.")
        return
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    server.stop()
    raise typer.Exit(_failed(rc, log_path))


def _latest_sweep_view(ws) -> tuple[str, str | None]:
    """(the URL path of the latest sweep's runs table, its name); ("/", None) without one."""
    from mlflow.exceptions import MlflowException

    from sweeplab.errors import UserError
    from sweeplab.tracking import client_for, default_tracking_uri
    from sweeplab.tracking._ui_view import runs_view_path

    try:
        name = ws.last_sweep()
        info = ws.read_sweep(name)
        client = client_for(default_tracking_uri(ws.root))
        return runs_view_path(client, info["experiment_id"], name, info["parent_run_id"]), name
    except (UserError, MlflowException, OSError, KeyError, ValueError):
        # no sweep yet, or its runs are in another store (a tracking server): the home page
        return "/", None


def _announce(bind, landing: str, sweep: str | None) -> None:
    where = "this machine only" if bind.loopback else "reachable from other machines"
    if bind.every_interface:
        where = "every interface of this machine: reachable from other machines"
    typer.echo(f"MLflow UI listening on {bind.shown} ({where})")
    if sweep:
        typer.echo(f"Runs of the latest sweep ({sweep}): {bind.local_url}{landing}")
    typer.echo(f"All experiments: {bind.local_url}/")
    if not bind.loopback:
        typer.echo(
            "Warning: the MLflow server has no authentication: anyone who reaches this port "
            "can read, change and delete every run. Put a reverse proxy with authentication "
            "in front of it (nginx or Caddy with basic auth, listening on the network, this "
            "server on 127.0.0.1), or keep it on 127.0.0.1 and reach it through an SSH "
            f"tunnel: ssh -N -L {bind.port}:127.0.0.1:{bind.port} USER@THIS-MACHINE"
        )
    typer.echo("Ctrl-C to stop.")


def _failed(rc: int | None, log_path: Path) -> int:
    typer.echo(
        f"sweeplab: error: the MLflow server stopped (exit {rc}); its log: {log_path}", err=True
    )
    return 1


def _stop_on_signals() -> dict:
    """SIGINT, SIGTERM and SIGHUP raise KeyboardInterrupt (so the server is stopped, not
    orphaned), even where SIGINT was ignored (a shell's background job); the old handlers."""

    def handler(signum, frame):
        raise KeyboardInterrupt

    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        try:
            previous[sig] = signal.signal(sig, handler)
        except ValueError:  # not the main thread (the command called from a thread)
            pass
    return previous
