"""`sweeplab dashboard`: a sweep's self-contained HTML dashboard (works offline)."""

from __future__ import annotations

from pathlib import Path

import typer

from sweeplab.cli._app import app
from sweeplab.cli._common import TrackingOpt, WorkspaceOpt

__all__ = ["dashboard"]


@app.command(
    epilog="Example: sweeplab dashboard   |   sweeplab dashboard digits-mlp-20261126-091200 --top 3"
)
def dashboard(
    sweep: str | None = typer.Argument(
        None, help="Sweep name (default: the last sweep in the workspace)."
    ),
    top: int = typer.Option(
        5, "--top", "-k", min=1, max=10, help="Learning curves of the best K trials."
    ),
    smoothing: float = typer.Option(
        0.6,
        "--smoothing",
        min=0.0,
        max=0.99,
        help="β of the bias-corrected EWMA of the learning curves (0: none).",
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        "-o",
        help="Write the page here (default: WORKSPACE/dashboards/SWEEP.html).",
    ),
    log: bool = typer.Option(
        True,
        "--log/--no-log",
        help="Also log the page as an artifact of the sweep's parent run.",
    ),
    workspace: Path | None = WorkspaceOpt,
    tracking_uri: str | None = TrackingOpt,
) -> None:
    """Write a sweep's dashboard: one self-contained HTML page, also logged to MLflow.

    Each hyperparameter against the optimizing metric on the scale it was sampled on,
    parallel coordinates, learning curves of the best trials (raw and smoothed, training vs
    dev), parameter importance and the best trials with their satisficing constraints marked.
    Plotly is embedded: the page needs no network.
    """
    from sweeplab.reports._dashboard import build_dashboard

    result = build_dashboard(
        sweep,
        workspace=workspace,
        tracking_uri=tracking_uri,
        top=top,
        smoothing=smoothing,
        output=out,
        log_artifact=log,
    )
    for note in result.notes:
        typer.echo(f"note: {note}", err=True)
    typer.echo(f"dashboard of sweep {result.sweep}: {result.path}")
    if result.artifact:
        typer.echo(f"logged to the sweep's parent run as the artifact {result.artifact}")
