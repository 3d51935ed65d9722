"""``sweeplab review``: export a trial's misclassified dev examples for manual error analysis."""

from __future__ import annotations

from pathlib import Path

import typer

from sweeplab.cli._app import app
from sweeplab.cli._common import RefitLabelsOpt, TrackingOpt, WorkspaceOpt
from sweeplab.cli.report import TargetArg, TrialOpt

__all__ = ["review"]


@app.command(
    epilog=(
        "Example: sweeplab review   |   sweeplab review RUN_ID --category mislabeled --category blurry "
        "--category incomplete --sample 100"
    )
)
def review(
    target: str | None = TargetArg,
    trial: int | None = TrialOpt,
    category: list[str] | None = typer.Option(
        None,
        "--category",
        "-c",
        help="A category column to fill in (repeat it; default: mislabeled, blurry).",
    ),
    sample: int | None = typer.Option(
        None, "--sample", min=1, help="Export a random sample of this many errors."
    ),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Folder (default: WORKSPACE/reviews/<sweep>-trial<N>)."
    ),
    refit_labels: bool = RefitLabelsOpt,
    workspace: Path | None = WorkspaceOpt,
    tracking_uri: str | None = TrackingOpt,
) -> None:
    """Write the misclassified dev examples as a CSV with empty category columns (mark them
    with x) and an HTML page with their images; then `sweeplab report RUN --review FILE`.
    Probable label errors come first, with a suggested_label column filled in."""
    from sweeplab.cli._common import console
    from sweeplab.reports import write_review
    from sweeplab.reports._report_review import DEFAULT_CATEGORIES

    files = write_review(
        target,
        trial=trial,
        workspace=workspace,
        tracking_uri=tracking_uri,
        categories=tuple(category) if category else DEFAULT_CATEGORIES,
        sample=sample,
        out=out,
        refit_labels=refit_labels,
    )
    c = console()
    c.print(f"{files.rows} misclassified dev examples to review", highlight=False)
    c.print(f"CSV:  {files.csv}", highlight=False, soft_wrap=True)
    c.print(f"HTML: {files.html}", highlight=False, soft_wrap=True)
    c.print(
        f"then: sweeplab report {files.run_id} --review {files.csv}",
        highlight=False,
        soft_wrap=True,
    )
