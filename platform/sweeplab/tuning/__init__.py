"""Tuning backends (Optuna in-process, Ray Tune) and the trial function both call."""

from sweeplab.tuning._context import SweepContext, prepare_context, route_params
from sweeplab.tuning._lifecycle import (
    EpochDone,
    ProgressEvent,
    ProgressFn,
    RayFitDone,
    StatusMessage,
    SweepOutcome,
    SweepStarted,
    TrialDone,
    TrialOutcome,
    TrialStarted,
    TrialStatus,
)
from sweeplab.tuning._sweep import SweepSettings, setup_sweep
from sweeplab.tuning._trial import Reporter, TrialPruned, TrialResult, run_trial

__all__ = [
    "EpochDone",
    "ProgressEvent",
    "ProgressFn",
    "RayFitDone",
    "Reporter",
    "StatusMessage",
    "SweepContext",
    "SweepOutcome",
    "SweepSettings",
    "SweepStarted",
    "TrialDone",
    "TrialOutcome",
    "TrialPruned",
    "TrialResult",
    "TrialStarted",
    "TrialStatus",
    "prepare_context",
    "route_params",
    "run_sweep",
    "run_trial",
    "setup_sweep",
]


def run_sweep(settings: SweepSettings, *, progress: ProgressFn | None = None) -> SweepOutcome:
    """Set the sweep up once, then hand it to the backend."""
    setup = setup_sweep(settings, progress=progress)
    if settings.backend == "ray":
        from sweeplab.tuning._ray import run_ray

        return run_ray(setup, progress=progress)
    from sweeplab.tuning._optuna import run_optuna

    return run_optuna(setup, progress=progress)
