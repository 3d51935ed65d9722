"""What a report adds beside the trial's own predictions: out-of-sample label checks and the
error analysis across the sweep's top-K trials (both need more models than the chosen one)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sweeplab.analysis import SweepErrors, check_labels_per_label, sweep_errors
from sweeplab.errors import UserError
from sweeplab.reports._crossfit import OutOfSample, out_of_sample, pooled
from sweeplab.reports._evaluate import (
    Evaluation,
    TrialRef,
    evaluate_trial,
    resolve_trial,
    trial_model,
)
from sweeplab.reports._report_data import automatic_categories
from sweeplab.tasks import ReportTable, num, pct, prepare_context, report_table
from sweeplab.tracking import TrialStatus, client_for, load_sweep_table
from sweeplab.training import predict

__all__ = ["label_inputs", "multilabel_label_table", "top_trials_errors"]

SHOWN = 5  # suspects named per label in the table (all of them are in report.json)


def label_inputs(
    ev: Evaluation, *, tracking_uri: str | None, refit: bool = False
) -> OutOfSample | None:
    """The trial's out-of-sample probabilities of train + dev (cached in its run, or
    cross-fitted now); None for a task without one class per example."""
    if ev.context.task not in ("binary", "multiclass"):
        return None
    client = client_for(tracking_uri or ev.ref.info["tracking_uri"])
    data = pooled(ev.context, ev.manifest)
    oos, note = out_of_sample(ev.ref, ev.context, data, client, refit=refit)
    if note:
        ev.notes.append(note)
    return oos


def top_trials_errors(
    ev: Evaluation,
    k: int,
    *,
    workspace: Path | None = None,
    tracking_uri: str | None = None,
) -> SweepErrors | None:
    """The chosen trial's dev errors split by the sweep's ``k`` best finished, feasible trials
    (the chosen one first): all of them wrong, or only some. None when ``k`` < 2."""
    if k < 2:
        return None
    _, ranked = load_sweep_table(ev.ref.sweep, workspace, tracking_uri)
    objective = ev.ref.objective
    usable = [
        t
        for t in ranked
        if t["status"] == TrialStatus.FINISHED
        and t["feasible"]
        and math.isfinite(t["metrics"].get(objective, math.nan))
        and t["number"] != ev.ref.number
    ]
    if not usable:
        raise UserError(
            f"--top {k}: sweep {ev.ref.sweep!r} has no other finished trial that satisfies "
            "every constraint to compare with"
        )
    dev = ev.predictions["dev"]
    preds, names = [dev.y_pred], [ev.ref.number]
    for t in usable[: k - 1]:
        ref = resolve_trial(
            ev.ref.sweep, trial=int(t["number"]), workspace=workspace, tracking_uri=tracking_uri
        )
        other = evaluate_trial(ref, tracking_uri=tracking_uri).predictions["dev"]
        preds.append(other.y_pred)
        names.append(ref.number)
    return sweep_errors(
        ev.dataset.ids[dev.indices],
        dev.y_true,
        preds,
        trials=names,
        categories=automatic_categories(ev, dev),
    )


def multilabel_label_table(
    ref: TrialRef, pf: Any, client: Any, *, tracking_uri: str | None, refit: bool = False
) -> tuple[ReportTable, list[str]]:
    """Probable label errors of a multi-label trial, one binary check per label: the trial's
    configuration cross-fitted on train + dev (cached in its run like a classification
    trial's), the chosen model's predictions veto; dev is reported. The table and notes."""
    ctx, dataset, manifest = prepare_context(
        pf,
        manifest_path=ref.sweep_dir / "splits.json",
        tracking_uri=tracking_uri or ref.info["tracking_uri"],
    )
    ref, model, source, notes = trial_model(ref, ctx, client)
    data = pooled(ctx, manifest)
    oos, note = out_of_sample(ref, ctx, data, client, refit=refit)
    notes += [n for n in (note,) if n]
    indices, X, y = data
    y_pred, _ = predict(model, X, task="multilabel")
    labels = [str(c) for c in dataset.classes]
    n_dev = len(manifest.splits["dev"])
    checks = check_labels_per_label(
        y.numpy(), oos.probs, y_pred, labels, report=np.arange(len(indices)) >= len(indices) - n_dev
    )
    rows = []
    for name, check in checks.items():
        shown = check.suspects.iloc[:SHOWN]
        rows.append(
            {
                "label": name,
                "labeled": check.n,
                "suspects": len(check.suspects),
                "share": len(check.suspects) / check.n if check.n else math.nan,
                "low": check.low,
                "high": check.high,
                "model_error": check.model_error,
                "verdict": "no evidence" if check.no_evidence else "label errors",
                "examples": ", ".join(
                    f"{dataset.ids[indices[pos]]} ({int(s['label'])}→{int(s['suggested'])})"
                    for pos, s in shown.iterrows()
                ),
            }
        )
    frame = pd.DataFrame(rows)
    table = report_table(
        "multilabel-label-errors",
        "Probable label errors by label (dev)",
        f"Each label checked on its own (given 0 / 1 against the out-of-sample probability; "
        f"{oos.method}; the {source} chosen model's prediction vetoes). low–high: the 95 % "
        "interval of the number of label errors among the label's labeled dev entries; 'no "
        "evidence' when fewer than one cannot be ruled out. model_error: the out-of-sample "
        "error on those entries (a weak model's confident mistakes on hard examples look the "
        "same as label errors: check a few suspects before relabeling). Examples: the "
        f"{SHOWN} most suspicious, id (given→suggested).",
        frame,
        {
            "label": str,
            "labeled": num,
            "suspects": num,
            "share": pct,
            "low": lambda v: f"{v:.1f}",
            "high": lambda v: f"{v:.1f}",
            "model_error": pct,
            "verdict": str,
            "examples": str,
        },
    )
    return table, notes
