"""What a report adds beside the trial's own predictions: out-of-sample label checks and the
error analysis across the sweep's top-K trials (both need more models than the chosen one)."""

from __future__ import annotations

import math
from pathlib import Path

from sweeplab.analysis import SweepErrors, sweep_errors
from sweeplab.errors import UserError
from sweeplab.reports._crossfit import OutOfSample, out_of_sample
from sweeplab.reports._evaluate import Evaluation, evaluate_trial, resolve_trial
from sweeplab.reports._report_data import automatic_categories
from sweeplab.tracking import TrialStatus, client_for, load_sweep_table

__all__ = ["label_inputs", "top_trials_errors"]


def label_inputs(
    ev: Evaluation, *, tracking_uri: str | None, refit: bool = False
) -> OutOfSample | None:
    """The trial's out-of-sample probabilities of train + dev (cached in its run, or
    cross-fitted now); None for a task without one class per example."""
    if ev.context.task not in ("binary", "multiclass"):
        return None
    client = client_for(tracking_uri or ev.ref.info["tracking_uri"])
    oos, note = out_of_sample(ev, client, refit=refit)
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
