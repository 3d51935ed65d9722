"""The driver's side of a Ray sweep: trial numbers and names, progress, the outcome of each
Tune trial in the shared form, and the MLflow end state of trials whose worker could not
write it (stopped by ASHA, crashed)."""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path
from typing import Any

from ray.tune import Callback

from sweeplab.tuning._ray_worker import RAY_TRIAL_TAG, RESULT_KEY, trial_number
from sweeplab.tuning._sweep import SweepSetup, TrialOutcome

__all__ = [
    "LIVE",
    "Numbering",
    "TrialNames",
    "SweepCallback",
    "Driver",
    "outcome_of",
    "trial_dirname",
]

LIVE: dict[str, Any] = {}  # sweep name -> the live Driver (Tune pickles callbacks: keys only)


# -- trial numbers and names ------------------------------------------------------------------
class Numbering:
    """Trial id -> the sweep's trial number (0, 1, 2, ...), kept in the run folder so a
    resumed sweep goes on counting where it stopped."""

    def __init__(self, path: Path, start: int) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.numbers: dict[str, int] = json.loads(path.read_text()) if path.is_file() else {}
        self.next = max([start - 1, *self.numbers.values()]) + 1

    def number(self, trial_id: str) -> int:
        with self.lock:
            if trial_id not in self.numbers:
                self.numbers[trial_id] = self.next
                self.next += 1
                tmp = self.path.with_suffix(".tmp")
                tmp.write_text(json.dumps(self.numbers))
                tmp.replace(self.path)
            return self.numbers[trial_id]


class TrialNames:
    """Tune's ``trial_name_creator``: ``trial_00007``. Pickled into Tune's run folder, so it
    holds only the sweep's name and finds the live numbering through ``LIVE``."""

    def __init__(self, key: str) -> None:
        self.key = key

    def __call__(self, trial: Any) -> str:
        return f"trial_{LIVE[self.key].numbering.number(trial.trial_id):05d}"


def trial_dirname(trial: Any) -> str:
    return trial.custom_trial_name or f"trial_{trial.trial_id}"


# -- the driver's view of the trials ------------------------------------------------------------
class SweepCallback(Callback):
    """Progress, and the MLflow end state of trials that the worker could not end itself
    (stopped by ASHA, crashed). Pickled into Tune's run folder: holds only the sweep's name."""

    def __init__(self, key: str) -> None:
        self.key = key

    def on_trial_start(self, iteration, trials, trial, **info):
        LIVE[self.key].started(trial)

    def on_trial_result(self, iteration, trials, trial, result, **info):
        LIVE[self.key].result(trial, result)

    def on_trial_complete(self, iteration, trials, trial, **info):
        LIVE[self.key].ended(trial, error=None)

    def on_trial_error(self, iteration, trials, trial, **info):
        LIVE[self.key].ended(trial, error=_error_text(trial))

    def on_trial_recover(self, iteration, trials, trial, **info):
        LIVE[self.key].crashed(trial, retrying=True)


def _error_text(trial: Any) -> str:
    text = ""
    path = getattr(trial, "error_file", None) or getattr(trial, "pickled_error_file", None)
    if path and Path(path).is_file() and not str(path).endswith(".pkl"):
        lines = [ln for ln in Path(path).read_text(errors="replace").splitlines() if ln.strip()]
        text = lines[-1] if lines else ""
    return f"the trial's Ray worker crashed: {text or 'see ' + str(path)}"[:1000]


class Driver:
    """Live state of a running sweep on the driver: numbering, outcomes, progress."""

    def __init__(
        self, setup: SweepSetup, numbering: Numbering, say, done: dict[str, TrialOutcome]
    ) -> None:
        self.setup, self.numbering, self.say = setup, numbering, say
        self.outcomes = done  # trial id -> outcome (those finished before a resume included)
        self.lock = threading.Lock()
        self.ran, self.train_s = 0, 0.0  # trials this run saw end; their time inside run_trial

    def started(self, trial: Any) -> None:
        self.say("trial_start", {"number": trial_number(trial.custom_trial_name), "params": {}})

    def result(self, trial: Any, result: dict[str, Any]) -> None:
        if result.get(RESULT_KEY, {}).get("status") == "running" and "epoch" in result:
            metrics = {k: v for k, v in result.items() if isinstance(v, float)}
            self.say("epoch", {"epoch": result["epoch"], "metrics": metrics})

    def crashed(self, trial: Any, *, retrying: bool) -> None:
        why = "the trial's Ray worker crashed" + ("; Tune retries the trial" if retrying else "")
        _end_running_runs(self.setup, trial.trial_id, "killed", why)

    def ended(self, trial: Any, *, error: str | None) -> None:
        outcome = outcome_of(
            self.setup,
            trial.trial_id,
            trial.custom_trial_name,
            trial.config,
            trial.last_result,
            error,
        )
        if outcome.status == "pruned":
            _end_running_runs(self.setup, trial.trial_id, "pruned", outcome.reason)
        elif error is not None:
            _end_running_runs(self.setup, trial.trial_id, "failed", error)
        with self.lock:
            self.outcomes[outcome.run_id or trial.trial_id] = outcome
            self.ran += 1
            self.train_s += float(
                ((trial.last_result or {}).get(RESULT_KEY) or {}).get("train_s", 0.0)
            )
            done = list(self.outcomes.values())
        from sweeplab.tuning._optuna import pick_best

        best = pick_best(done, self.setup.objective, self.setup.goal)
        self.say(
            "trial",
            {"outcome": outcome, "done": len(done), "total": self.setup.trials, "best": best},
        )


def outcome_of(
    setup: SweepSetup,
    trial_id: str,
    name: str | None,
    config: dict[str, Any],
    last: dict[str, Any] | None,
    error: str | None,
) -> TrialOutcome:
    """A Tune trial's outcome in the shared form (what ``_finish`` and the CLI show)."""
    last = last or {}
    book = last.get(RESULT_KEY) or {}
    number = book.get("number", trial_number(name))
    try:
        params = setup.space.resolve(config)
    except ValueError:
        params = {}
    status = book.get("status")
    reason = book.get("reason")
    if error is not None:
        status, reason = "failed", error
    elif status in (None, "running"):
        epoch = last.get("epoch")
        status = "pruned"
        reason = (
            f"stopped early by ASHA after epoch {epoch}"
            if epoch
            else "stopped by Tune before its first epoch"
        )
    metrics: dict[str, float] = {}
    if status == "finished":
        skip = {
            "epoch",
            "timestamp",
            "training_iteration",
            "time_this_iter_s",
            "time_total_s",
            "time_since_restore",
            "iterations_since_restore",
            "pid",
        }
        metrics = {
            k: float(v)
            for k, v in last.items()
            if k not in skip
            and isinstance(v, int | float)
            and not isinstance(v, bool)
            and math.isfinite(float(v))
        }
    return TrialOutcome(
        number=int(number),
        status=status,
        params=params,
        metrics=metrics,
        reason=reason,
        run_id=book.get("run_id"),
        duration_s=float(last.get("time_total_s", 0.0) or 0.0),
        feasible=bool(book.get("feasible", True)),
    )


def _end_running_runs(setup: SweepSetup, trial_id: str, status: str, reason: str | None) -> None:
    """End the child runs of ``trial_id`` that are still RUNNING (the worker could not)."""
    from sweeplab.tracking import TAG, TrialRun

    client = setup.sweep_run.client
    runs = client.search_runs(
        [setup.sweep_run.experiment_id],
        filter_string=(
            f"tags.`{TAG['parent']}` = '{setup.sweep_run.run_id}' and tags.`{RAY_TRIAL_TAG}` = "
            f"'{trial_id}' and attributes.status = 'RUNNING'"
        ),
        max_results=100,
    )
    for r in runs:
        TrialRun(client, r.info.run_id).finish(status, reason=reason)
