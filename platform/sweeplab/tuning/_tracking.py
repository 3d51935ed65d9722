"""What a sweep's runs record beside params and metrics, for both backends: the trained
model (``log_models``), the dataset inputs and the system metrics.

- :func:`prepare_tracking`, once per sweep before its trials: the settings (command line over
  the project's ``tracking:``) go on the sweep's context as a :class:`TrialTracking` (Ray
  ships it to its workers with the context), and the parent run records its dataset inputs.
- :func:`track_trial`, when a trial's run starts (in the sweep process or a Ray worker): its
  dataset inputs (one ``log_inputs`` call) and, with ``system_metrics``, MLflow's monitor.
- :func:`end_trial_tracking`, from :func:`~sweeplab.tuning._lifecycle.record_trial`: the
  monitor's last sample, and the weights: ``all`` logs every finished trial's MLflow model;
  ``best`` logs the CPU ``state_dict`` (``weights/state_dict.pt``) of a trial only when it beats
  every trial this process recorded before (so the sweep's best trial always has its weights,
  whatever the backend, and after ``--resume``; measured in benchmarks/bench_models.py).
- :func:`log_best_model`, from :func:`~sweeplab.tuning._lifecycle.finish_sweep`: the best
  trial's MLflow model, built from its logged ``state_dict``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sweeplab.data import SplitManifest
from sweeplab.models import CHECKPOINT_ARTIFACT
from sweeplab.tasks import TASKS, SweepContext, TrialResult, trial_setup
from sweeplab.tracking import (
    SystemMetrics,
    TrialStatus,
    TrialTracking,
    log_datasets,
    log_torch_model,
    run_weights,
    split_datasets,
)
from sweeplab.tuning._record import TrialRecorder
from sweeplab.tuning._settings import SweepSetup

__all__ = [
    "BEST_MODEL_TAG",
    "MODEL_URI_TAG",
    "end_trial_tracking",
    "keeps_models",
    "log_best_model",
    "prepare_tracking",
    "track_trial",
]

MODEL_URI_TAG = "sweeplab.model_uri"  # on a trial run with an MLflow model: models:/m-…
BEST_MODEL_TAG = "sweeplab.best_model_uri"  # on the parent run: the best trial's model

_log = logging.getLogger(__name__)


@dataclass
class _Tracked:
    """A running trial of this process: its sweep's context and its monitor."""

    ctx: SweepContext
    monitor: SystemMetrics | None = None


# This process's running trials, by their run's outbox key (track_trial → record_trial).
_TRIALS: dict[str, _Tracked] = {}


def prepare_tracking(setup: SweepSetup) -> TrialTracking:
    """The sweep's :class:`TrialTracking` (on ``setup.context.tracking``); the parent run's
    dataset inputs."""
    settings, project = setup.settings, setup.project_file.project
    manifest = SplitManifest.from_json(setup.sweep_dir / "splits.json")
    tracking = TrialTracking(
        log_models=settings.log_models or project.tracking.log_models.value,
        system_metrics=(
            settings.system_metrics
            if settings.system_metrics is not None
            else project.tracking.system_metrics
        ),
        datasets=tuple(split_datasets(manifest, project.data.source)),
        objective=setup.objective.name,
        goal=setup.objective.goal.value,
    )
    setup.context.tracking = tracking
    log_datasets(setup.sweep_run.client, setup.sweep_run.run_id, tracking.datasets)
    return tracking


def track_trial(recorder: TrialRecorder, ctx: SweepContext) -> None:
    """A trial's run has started: its dataset inputs, and its system-metrics monitor."""
    tracking = ctx.tracking
    if tracking is None:
        return
    run = recorder.run
    log_datasets(run.client, recorder.run_id, tracking.datasets)
    monitor = None
    if tracking.system_metrics:
        monitor = SystemMetrics.start(run.client.tracking_uri, recorder.run_id)
    _TRIALS[run.key] = _Tracked(ctx, monitor)


def end_trial_tracking(
    recorder: TrialRecorder, status: TrialStatus, result: TrialResult | None, *, feasible: bool
) -> Callable[[], None] | None:
    """Before the trial's run ends: the monitor's last sample and the weights (see the module).
    Returns what is left to do once the run's final metrics are logged (the MLflow model of
    ``log_models: all``), or None."""
    tracked = _TRIALS.pop(recorder.run.key, None)
    if tracked is not None and tracked.monitor is not None:
        tracked.monitor.stop()
    if status is not TrialStatus.FINISHED or result is None or result.state_dict is None:
        return None
    tracking = tracked.ctx.tracking if tracked is not None else None
    keep = bool(result.train_args.get("save_checkpoint"))  # train.save_checkpoint: every trial
    if tracking is not None and tracking.log_models == "all":
        keep = True
    elif tracking is not None and tracking.log_models == "best":
        keep = tracking.improves(result.metrics.get(tracking.objective), feasible=feasible) or keep
    if keep:
        recorder.log_checkpoint(result.state_dict)
    if tracking is None or tracking.log_models != "all" or result.model is None:
        return None
    model, example = result.model, _example(tracked.ctx)
    return lambda: _log_model(recorder, model, example)


def _log_model(recorder: TrialRecorder, model: Any, example: Any) -> None:
    run_id = recorder.run_id
    if run_id is None:  # the tracking store is away; the run's records are queued
        _log.warning("sweeplab: model not logged: the tracking store did not answer")
        return
    try:
        uri = log_torch_model(recorder.run.client, run_id, model, example, step=recorder.last_epoch)
    except Exception as exc:  # noqa: BLE001 - a model must not cost the trial its record
        _log.warning("sweeplab: model of run %s not logged: %s", run_id, exc)
        return
    recorder.run.set_tags({MODEL_URI_TAG: uri})


def keeps_models(ctx: SweepContext) -> bool:
    """Whether the sweep's trials keep their trained networks (``log_models`` best or all,
    and a task whose trials train one)."""
    tracking = ctx.tracking
    return tracking is not None and tracking.keeps_weights and TASKS.get(ctx.task).trains_network


def log_best_model(setup: SweepSetup, run_id: str, params: dict[str, Any]) -> str | None:
    """The best trial's MLflow model, from its ``weights/state_dict.pt``; its model URI, or
    None (a message says why) when the run has no weights or the model could not be logged."""
    ctx = setup.context
    client = setup.sweep_run.client
    try:
        run = client.get_run(run_id)
        if MODEL_URI_TAG in run.data.tags:  # log_models: all (or an earlier finish of the sweep)
            return run.data.tags[MODEL_URI_TAG]
        state = run_weights(client, run_id)
        if state is None:
            raise FileNotFoundError(f"the run has no {CHECKPOINT_ARTIFACT}")
        model = TASKS.get(ctx.task).build_model(ctx, trial_setup(ctx, params))
        model.load_state_dict(state)
        history = client.get_metric_history(run_id, setup.objective.name)
        step = max((m.step for m in history), default=0)  # the final values' step
        uri = log_torch_model(client, run_id, model, _example(ctx), step=step)
        client.set_tag(run_id, MODEL_URI_TAG, uri)
    except Exception as exc:  # noqa: BLE001 - the sweep's records stand without it
        _log.warning("sweeplab: the best trial's model (run %s) was not logged: %s", run_id, exc)
        return None
    return uri


def _example(ctx: SweepContext) -> Any:
    return TASKS.get(ctx.task).input_example(ctx)
