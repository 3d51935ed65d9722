"""`sweeplab sync`: send MLflow records a sweep could not deliver (the tracking server was away)."""

from __future__ import annotations

from pathlib import Path

import typer

from sweeplab.cli._app import app
from sweeplab.cli._common import TrackingOpt, WorkspaceOpt

__all__ = ["sync"]


@app.command(epilog="Example: sweeplab sync digits-mlp-20261126-091200")
def sync(
    sweep: str | None = typer.Argument(
        None, help="Sweep name (default: every sweep with unsent records)."
    ),
    workspace: Path | None = WorkspaceOpt,
    tracking_uri: str | None = TrackingOpt,
) -> None:
    """Send the records saved in WORKSPACE/outbox/SWEEP/ to the tracking store. Safe to run
    again: what the store already holds is not sent twice."""
    from sweeplab.errors import SweeplabError
    from sweeplab.tracking import client_for, quiet_http_retries, sync_directory
    from sweeplab.workspace import Workspace, check_safe_name

    ws = Workspace.at(workspace)
    base = ws.root / "outbox"
    if sweep is not None:
        names = [check_safe_name(sweep)]
    else:
        names = sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []
    quiet_http_retries()
    total_sent = total_left = 0
    for name in names:
        directory = ws.outbox_dir(name)
        if not directory.is_dir() or not any(directory.glob("*.jsonl")):
            typer.echo(f"{name}: nothing to send")
            continue
        uri = tracking_uri
        if uri is None and (ws.sweep_dir(name) / "sweep.json").is_file():
            own = ws.read_sweep(name).get("tracking_uri")
            uri = own if own == ws.tracking_uri else None  # a moved or copied workspace's own
        sent, left = sync_directory(directory, client_for, tracking_uri=uri)
        total_sent, total_left = total_sent + sent, total_left + left
        typer.echo(
            f"{name}: {sent} run(s) sent"
            + (f", {left} still unsent (the store did not answer)" if left else "")
        )
    if not names:
        typer.echo(f"nothing to send: {base} holds no unsent records")
    if total_left:
        raise SweeplabError(
            f"{total_left} run(s) could not be sent; they stay in {base} — run `sweeplab sync` again later"
        )
