"""Tuning backends (Optuna in-process, Ray Tune): they ask for parameters, call the task's
``run_trial`` (``sweeplab.tasks``) and record the outcome."""

from sweeplab.tuning._sweep import SweepOutcome, SweepSettings, TrialOutcome, setup_sweep

__all__ = [
    "SweepOutcome",
    "SweepSettings",
    "TrialOutcome",
    "run_sweep",
    "setup_sweep",
]


def run_sweep(settings: SweepSettings, *, progress=None) -> SweepOutcome:
    """Set the sweep up once, then hand it to the backend."""
    setup = setup_sweep(settings, progress=progress)
    if settings.backend == "ray":
        from sweeplab.tuning._ray import run_ray

        return run_ray(setup, progress=progress)
    from sweeplab.tuning._optuna import run_optuna

    return run_optuna(setup, progress=progress)
