"""A trial's life, the same for both backends: how it ended (a :class:`TrialStatus`), what
that leaves in MLflow, the sweep's progress events, the best trial, and the sweep's end.

The model is Optuna's ``_run_trial``: the backend runs the trial; pruning reaches it as an
exception; whatever happens is recorded by :func:`record_trial` and the sweep goes on. The
Optuna backend runs trials in this process (``_optuna``), the Ray backend in Tune workers
(``_ray_worker``) with a driver that ends the runs a worker could not (``_ray_driver``); both
end their sweep with :func:`finish_sweep` and clean up after a killed sweep process with
:func:`end_orphan_runs`. "Best" is :func:`sweeplab.analysis.select_best`'s rule.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sweeplab.analysis import Objective, select_best, violation
from sweeplab.tasks import TrialResult
from sweeplab.tracking import RUN_KEY_TAG, TAG, TrialRun, TrialStatus
from sweeplab.tuning._record import TrialRecorder
from sweeplab.tuning._settings import SweepSetup
from sweeplab.tuning._tracking import (
    BEST_MODEL_TAG,
    end_trial_tracking,
    keeps_models,
    log_best_model,
)

__all__ = [
    "TrialStatus",
    "TrialOutcome",
    "SweepOutcome",
    "StatusMessage",
    "SweepStarted",
    "TrialStarted",
    "EpochDone",
    "TrialDone",
    "RayFitDone",
    "ProgressEvent",
    "ProgressFn",
    "fail_sweep",
    "nothing_finished",
    "no_progress",
    "TrialEnd",
    "record_trial",
    "constraint_violations",
    "best_trial",
    "finish_sweep",
    "close_outbox",
    "interrupt_sweep",
    "end_orphan_runs",
    "end_interrupted_run",
    "end_running_runs",
    "FEASIBLE_TAG",
    "DEVICE_TAG",
    "DIAGNOSIS_TAG",
    "KILLED_REASON",
]

FEASIBLE_TAG = "sweeplab.feasible"  # "true" | "false": every constraint held
DEVICE_TAG = TAG["device"]  # where the trial trained: cpu | cuda | mps
DIAGNOSIS_TAG = "sweeplab.diagnosis"  # the largest gap: avoidable_bias, variance, ...
KILLED_REASON = "the sweep process stopped while this trial ran; re-run on resume"
_MODEL_WAIT_S = 30.0  # how long the best model waits for the best run's queued records


# -- outcomes -------------------------------------------------------------------------------------
@dataclass
class TrialOutcome:
    number: int
    status: TrialStatus
    params: dict[str, Any]
    metrics: dict[str, float] = field(default_factory=dict)
    reason: str | None = None
    run_id: str | None = None
    duration_s: float = 0.0
    feasible: bool = True

    def __post_init__(self) -> None:
        self.status = TrialStatus(self.status)


@dataclass
class SweepOutcome:
    name: str
    workspace: Path
    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    objective: Objective
    trials: list[TrialOutcome]
    best: TrialOutcome | None
    elapsed_s: float
    stopped_reason: str | None = None


# -- progress events (what `sweeplab sweep` shows) -------------------------------------------------
@dataclass(frozen=True)
class StatusMessage:
    message: str


@dataclass(frozen=True)
class SweepStarted:
    total: int
    done: int  # trials a resumed sweep had already run
    best: TrialOutcome | None
    objective: Objective


@dataclass(frozen=True)
class TrialStarted:
    number: int
    params: dict[str, Any]


@dataclass(frozen=True)
class EpochDone:
    epoch: int
    metrics: dict[str, float]


@dataclass(frozen=True)
class TrialDone:
    outcome: TrialOutcome
    done: int
    total: int
    best: TrialOutcome | None


@dataclass(frozen=True)
class RayFitDone:
    """Ray's ``Tuner.fit`` is over: its wall time and the time trials spent in ``run_trial``."""

    fit_s: float
    train_s: float
    trials: int


ProgressEvent = StatusMessage | SweepStarted | TrialStarted | EpochDone | TrialDone | RayFitDone
ProgressFn = Callable[[ProgressEvent], None]


def no_progress(event: ProgressEvent) -> None:
    """The progress callback of a sweep nobody watches."""


# -- recording how a trial ended ------------------------------------------------------------------
@dataclass(frozen=True)
class TrialEnd:
    """How a trial ended, as :func:`record_trial` recorded it on the trial's run."""

    status: TrialStatus
    metrics: dict[str, float] = field(default_factory=dict)  # the finite final values
    violations: list[float] = field(default_factory=list)  # per constraint, <= 0 when it holds
    reason: str | None = None
    device: str | None = None

    @property
    def feasible(self) -> bool:
        return all(v <= 0 for v in self.violations)


def constraint_violations(constraints: Iterable[Any], metrics: dict[str, float]) -> list[float]:
    """Optuna's convention: a value ≤ 0 means the constraint holds."""
    constraints = list(constraints)
    return [float(v) for v in violation(metrics, constraints)] if constraints else []


def record_trial(
    recorder: TrialRecorder,
    status: TrialStatus,
    *,
    result: TrialResult | None = None,
    constraints: Iterable[Any] = (),
    reason: str | None = None,
    epoch: int = 0,
) -> TrialEnd:
    """End the trial's run in MLflow: the one place both backends record a trial's end.

    finished (``result`` required): its finite metrics, constraint violations → the
    ``sweeplab.feasible`` tag, its weights (``log_models``, ``train.save_checkpoint``: see
    :mod:`sweeplab.tuning._tracking`) and artifacts, the diagnosis and device tags;
    pruned: after ``epoch``; failed: ``reason``; killed: ``reason`` (or the default)."""
    status = TrialStatus(status)
    if status is TrialStatus.FINISHED:
        if result is None:
            raise ValueError("a finished trial is recorded with its result")
        metrics = {
            k: v for k, v in result.metrics.items() if isinstance(v, float) and math.isfinite(v)
        }
        end = TrialEnd(
            status,
            metrics=metrics,
            violations=constraint_violations(constraints, metrics),
            device=result.device,
        )
        # the weights (log_models, train.save_checkpoint), the system metrics' last sample
        then = end_trial_tracking(recorder, status, result, feasible=end.feasible)
        if result.artifacts:  # style/generated.png, analysis tables of the vision tasks
            recorder.log_artifacts(result.artifacts)
        tags = {FEASIBLE_TAG: str(end.feasible).lower(), DEVICE_TAG: result.device}
        recorder.finished(metrics, tags={**tags, **_diagnosis_tag(result.metrics)})
        if then is not None:  # the MLflow model, once the final metrics are on the run
            then()
        return end
    end_trial_tracking(recorder, status, None, feasible=False)
    if status is TrialStatus.PRUNED:
        recorder.pruned(epoch)
    elif status is TrialStatus.FAILED:
        recorder.failed(reason or "the trial failed")
    elif status is TrialStatus.KILLED and reason:
        recorder.killed(reason)
    elif status is TrialStatus.KILLED:
        recorder.killed()
    else:
        raise ValueError(f"a trial ends finished, pruned, failed or killed, not {status}")
    return TrialEnd(status, reason=reason)


def _diagnosis_tag(metrics: Mapping[str, float]) -> dict[str, str]:
    gaps = {
        k: metrics[k]
        for k in ("avoidable_bias", "variance", "data_mismatch", "dev_overfit")
        if k in metrics
    }
    if not gaps:
        return {}
    return {DIAGNOSIS_TAG: max(gaps, key=gaps.get)}


# -- the best trial ---------------------------------------------------------------------------------
def best_trial(outcomes: list[TrialOutcome], objective: Objective) -> TrialOutcome | None:
    """The best finite objective among finished, feasible trials, ties to the earliest trial:
    :func:`sweeplab.analysis.select_best`'s rule."""
    selection = select_best(
        [{objective.name: o.metrics.get(objective.name, math.nan)} for o in outcomes],
        objective,
        status=[o.status for o in outcomes],
        feasible=[o.feasible for o in outcomes],
        order=[o.number for o in outcomes],
    )
    return outcomes[selection.index] if selection else None


# -- the sweep's end ----------------------------------------------------------------------------------
def finish_sweep(
    setup: SweepSetup,
    outcomes: list[TrialOutcome],
    stopped_reason: str | None,
    say: ProgressFn | None = None,
    *,
    interrupted: bool = False,
) -> SweepOutcome:
    """Sum the trials up on the parent run (counts, best), end it, and send what is queued.
    ``interrupted``: a signal stopped the sweep (:func:`interrupt_sweep`)."""
    objective = setup.objective
    if stopped_reason is None and not interrupted:
        stopped_reason = nothing_finished(outcomes)
    best = best_trial(outcomes, objective)
    ends = (TrialStatus.FINISHED, TrialStatus.PRUNED, TrialStatus.FAILED, TrialStatus.KILLED)
    summary = {f"trials_{s.value}": float(sum(o.status == s for o in outcomes)) for s in ends}
    status = "interrupted" if interrupted else "stopped" if stopped_reason else "finished"
    tags = {TAG["status"]: status}
    if stopped_reason:
        tags[TAG["failure"]] = stopped_reason[:500]
    if best is not None:
        summary[f"best_{objective.name}"] = best.metrics[objective.name]
        tags.update(
            {"sweeplab.best_trial": str(best.number), "sweeplab.best_run_id": best.run_id or ""}
        )
        if not interrupted:  # the finished sweep's best; a resumed one logs it at its end
            tags.update(_best_model(setup, best, say))
    setup.sweep_run.log_summary(summary, tags)
    setup.sweep_run.finish({"interrupted": "killed", "stopped": "failed"}.get(status, status))
    close_outbox(setup, say)
    info = setup.workspace.read_sweep(setup.name)
    setup.workspace.write_sweep(setup.name, {**info, "status": tags[TAG["status"]]})
    return SweepOutcome(
        name=setup.name,
        workspace=setup.workspace.root,
        tracking_uri=setup.tracking_uri,
        experiment_id=setup.sweep_run.experiment_id,
        parent_run_id=setup.sweep_run.run_id,
        objective=objective,
        trials=outcomes,
        best=best,
        elapsed_s=time.monotonic() - setup.started,
        stopped_reason=stopped_reason,
    )


def nothing_finished(outcomes: list[TrialOutcome]) -> str | None:
    """Why a sweep that ran trials but finished none has failed: the first failure's reason
    (a sweep whose every trial failed is no success; ``sweeplab sweep`` exits 1)."""
    if any(o.status == TrialStatus.FINISHED for o in outcomes):
        return None
    failed = sorted((o for o in outcomes if o.status == TrialStatus.FAILED), key=lambda o: o.number)
    if not failed:
        return None
    first = failed[0]
    return (
        f"no trial finished: all {len(failed)} that ran failed; the first (trial "
        f"{first.number}) with: {first.reason or 'no reason recorded'}"
    )


def fail_sweep(setup: SweepSetup, exc: BaseException) -> None:
    """The sweep process itself raised (not a trial: those are recorded and the sweep goes
    on): the parent run ends FAILED with the reason as its ``sweeplab.failure`` tag, sweep.json
    says "failed", and no child run is left RUNNING. Best effort: the caller re-raises ``exc``."""
    reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:500] if str(exc) else ''}"
    steps = (
        lambda: end_orphan_runs(setup, reason=f"the sweep failed: {reason}"),
        lambda: setup.sweep_run.log_summary({}, {TAG["status"]: "failed", TAG["failure"]: reason}),
        lambda: setup.sweep_run.finish("failed"),
        lambda: close_outbox(setup, None),
        lambda: setup.workspace.write_sweep(
            setup.name, {**setup.workspace.read_sweep(setup.name), "status": "failed"}
        ),
    )
    for step in steps:
        try:
            step()
        except Exception:  # noqa: BLE001 - the original error is what the user must see
            pass


def _best_model(setup: SweepSetup, best: TrialOutcome, say: ProgressFn | None) -> dict[str, str]:
    """The best trial's MLflow model (``log_models`` best or all), as the parent's tag."""
    if not keeps_models(setup.context) or not best.run_id:
        return {}
    setup.sweep_run.outbox.drain(_MODEL_WAIT_S)  # the best run's weights and final metrics
    uri = log_best_model(setup, best.run_id, best.params)
    if uri is None:
        message = (
            f"the best trial ({best.number}) has no MLflow model: its weights were not logged "
            "(see the warning above); `sweeplab report` re-trains it"
        )
        if say is not None:
            say(StatusMessage(message))
        return {}
    return {BEST_MODEL_TAG: uri}


def interrupt_sweep(
    setup: SweepSetup, outcomes: list[TrialOutcome], say: ProgressFn | None = None
) -> None:
    """A signal stopped the sweep: the parent run (tag ``sweeplab.status``) and sweep.json
    say "interrupted", the parent run ends KILLED (``--resume`` reopens it). The backend has
    ended its trials' runs already, so nothing is left RUNNING."""
    finish_sweep(setup, outcomes, None, say, interrupted=True)


def close_outbox(setup: SweepSetup, say: ProgressFn | None) -> None:
    wait_s = float(os.environ.get("SWEEPLAB_OUTBOX_WAIT_S", "30"))
    saved = setup.sweep_run.close(wait_s)
    if not saved:
        return
    message = (
        f"the tracking store at {setup.tracking_uri} did not answer: {len(saved)} run(s) were "
        f"not fully recorded; the unsent records are saved in {saved[0].parent}; send them "
        f"with `sweeplab sync {setup.name}`"
    )
    if say is not None:
        say(StatusMessage(message))
    else:
        print(f"sweeplab: {message}", file=sys.stderr)


# -- runs a stopped process left RUNNING ---------------------------------------------------------------
def _running_children(setup: SweepSetup, where: Mapping[str, str]) -> list[Any]:
    """The sweep's child runs still RUNNING whose tags match ``where``; none when the store
    does not answer (the next resume ends them)."""
    wanted = {TAG["parent"]: setup.sweep_run.run_id, **where}
    tags = " and ".join(f"tags.`{k}` = '{v}'" for k, v in wanted.items())
    try:
        return setup.sweep_run.client.search_runs(
            [setup.sweep_run.experiment_id],
            filter_string=f"{tags} and attributes.status = 'RUNNING'",
            max_results=1000,
        )
    except Exception:  # noqa: BLE001 - the store went away
        return []


def end_orphan_runs(setup: SweepSetup, *, reason: str = KILLED_REASON) -> int:
    """Child runs a killed sweep process left RUNNING. A run whose end (the status tag) was
    stored is whole: it is ended as recorded. The others are KILLED with ``reason``: their
    trials run again."""
    client = setup.sweep_run.client
    runs = _running_children(setup, {})
    for r in runs:
        recorded = TrialStatus.of_run(r.data.tags.get(TAG["status"]), r.info.status)
        if recorded.final:
            try:
                client.set_terminated(r.info.run_id, recorded.run_status)
            except Exception:  # noqa: BLE001 - the next resume tries again
                pass
            continue
        _ended_run(setup, r.info.run_id).finish(TrialStatus.KILLED, reason=reason)
    return len(runs)


def end_running_runs(
    setup: SweepSetup, status: TrialStatus, reason: str | None, *, where: Mapping[str, str]
) -> None:
    """End the child runs matching ``where`` that are still RUNNING as ``status`` (the Ray
    driver, for a trial whose worker could not: stopped by ASHA, crashed)."""
    for r in _running_children(setup, where):
        _ended_run(setup, r.info.run_id).finish(status, reason=reason)


def end_interrupted_run(
    setup: SweepSetup,
    run_id: str | None,
    key: str | None,
    *,
    reason: str = KILLED_REASON,
    params: Mapping[str, Any] | None = None,
) -> None:
    """KILLED: the run of a trial the sweep process was running when it stopped (found by its
    run id, else by the outbox key recorded before the run was created). ``params``: what the
    run logs (``tasks.run_params``), logged when the run holds none — a process killed between
    creating the run and sending its params (another machine's unsent writes are on its disk)
    leaves a run that would not say which configuration it was."""
    run_id = run_id or _run_by_key(setup, key)
    if not run_id:
        return
    run = _ended_run(setup, run_id)
    if params and not _has_params(setup, run_id):
        run.log_params(params)
    run.finish(TrialStatus.KILLED, reason=reason)


def _has_params(setup: SweepSetup, run_id: str) -> bool:
    try:
        return bool(setup.sweep_run.client.get_run(run_id).data.params)
    except Exception:  # noqa: BLE001 - the store is away: the params go through the outbox
        return False


def _ended_run(setup: SweepSetup, run_id: str) -> TrialRun:
    """A run the sweep ends on a trial's behalf, written through the sweep's outbox: what the
    store does not take now is retried, and kept for ``sweeplab sync`` if it never does."""
    return TrialRun(setup.sweep_run.client, run_id, outbox=setup.sweep_run.outbox)


def _run_by_key(setup: SweepSetup, key: str | None) -> str | None:
    if not key:
        return None
    try:
        found = setup.sweep_run.client.search_runs(
            [setup.sweep_run.experiment_id],
            filter_string=f"tags.`{RUN_KEY_TAG}` = '{key}'",
            max_results=1,
        )
    except Exception:  # noqa: BLE001 - the store went away; orphan runs are swept up later
        return None
    return found[0].info.run_id if found else None
