"""``sweeplab review``: export a trial's misclassified dev examples for people to categorise.

Writes ``<workspace>/reviews/<sweep>-trial<N>/review.csv`` (``id``, ``y_true``, ``y_pred``,
``confidence``, an empty column per category, ``notes``) and ``review.html`` (the same rows
with a thumbnail per image). Fill in the CSV (``x`` marks a category), then
``sweeplab report RUN --review review.csv`` adds its categories to the error-analysis table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sweeplab.analysis import review_template, safe_example_id, spreadsheet_csv
from sweeplab.reports._evaluate import evaluate_trial, resolve_trial
from sweeplab.reports._labels_report import label_inputs
from sweeplab.reports._report import templates_dir
from sweeplab.reports._report_data import (
    error_analysis,
    example_rows,
    label_check,
    suggested_labels,
)
from sweeplab.workspace import Workspace

__all__ = ["DEFAULT_CATEGORIES", "ReviewFiles", "write_review"]

DEFAULT_CATEGORIES = ("mislabeled", "blurry")


@dataclass(frozen=True)
class ReviewFiles:
    folder: Path
    csv: Path
    html: Path
    rows: int
    run_id: str


def write_review(
    target: str | None = None,
    *,
    trial: int | None = None,
    workspace: Path | None = None,
    tracking_uri: str | None = None,
    categories: tuple[str, ...] = DEFAULT_CATEGORIES,
    sample: int | None = None,
    seed: int = 0,
    out: Path | None = None,
    refit_labels: bool = False,
) -> ReviewFiles:
    """Export the review sheet of a trial (default: the last sweep's best feasible trial):
    the probable label errors first, with a pre-filled ``suggested_label``."""
    import jinja2

    ref = resolve_trial(target, trial=trial, workspace=workspace, tracking_uri=tracking_uri)
    ev = evaluate_trial(ref, tracking_uri=tracking_uri)
    table = error_analysis(ev)
    oos = label_inputs(ev, tracking_uri=tracking_uri, refit=refit_labels)
    suggested = suggested_labels(ev, label_check(ev, oos)) if oos is not None else None
    sheet = review_template(
        table, categories=categories, sample=sample, seed=seed, suggested=suggested
    )
    for example_id in sheet["id"]:
        safe_example_id(example_id)  # ids may become file names in people's tools
    folder = out or Workspace.at(workspace).root / "reviews" / ref.name
    folder.mkdir(parents=True, exist_ok=True)
    csv_path = folder / "review.csv"
    csv_path.write_text(spreadsheet_csv(sheet, float_format="%.4f"), encoding="utf-8")

    pred = ev.predictions["dev"]
    ids = ev.dataset.ids[pred.indices].astype(str)
    position = {i: p for p, i in enumerate(ids.tolist())}
    positions = np.array([position[str(i)] for i in sheet["id"]], dtype=np.int64)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    html = env.get_template("review.html.j2").render(
        ref=ref,
        rows=example_rows(ev, pred, positions),
        categories=list(categories),
        suggested=suggested or {},
        csv_name=csv_path.name,
        n_errors=table.n_errors,
        n_dev=table.n_dev,
    )
    html_path = folder / "review.html"
    html_path.write_text(html, encoding="utf-8")
    return ReviewFiles(
        folder=folder, csv=csv_path, html=html_path, rows=len(sheet), run_id=ref.run_id
    )
