"""Tuning backends (Optuna in-process, Ray Tune): they ask for parameters, call the task's
``run_trial`` (``sweeplab.tasks``) and record the outcome."""

import contextlib
from dataclasses import replace

from sweeplab.errors import UserError
from sweeplab.tuning._interrupt import SweepInterrupted, stop_on_signals
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
    fail_sweep,
)
from sweeplab.tuning._owner import own_sweep, sweep_owner
from sweeplab.tuning._settings import SweepSettings
from sweeplab.tuning._study import load_sweep_study, redact
from sweeplab.tuning._sweep import default_sweep_name, setup_sweep
from sweeplab.tuning._tracking import prepare_tracking
from sweeplab.tuning._workers import Workers
from sweeplab.workspace import Workspace

__all__ = [
    "EpochDone",
    "ProgressEvent",
    "ProgressFn",
    "RayFitDone",
    "StatusMessage",
    "SweepOutcome",
    "SweepSettings",
    "SweepInterrupted",
    "SweepStarted",
    "TrialDone",
    "TrialOutcome",
    "TrialStarted",
    "TrialStatus",
    "load_sweep_study",
    "redact",
    "run_sweep",
    "setup_sweep",
    "stop_on_signals",
    "sweep_owner",
]


def run_sweep(settings: SweepSettings, *, progress: ProgressFn | None = None) -> SweepOutcome:
    """Set the sweep up once, then hand it to the backend."""
    if settings.backend == "ray" and (settings.jobs > 1 or settings.join):
        raise UserError(
            "--jobs and --join are for --backend optuna; Ray Tune runs trials at once "
            "by itself (--max-concurrent, --cpus-per-trial, --gpus-per-trial)"
        )
    with contextlib.ExitStack() as held:  # the sweep's locks, for as long as it runs
        if settings.jobs > 1:
            # --jobs: the workers start now, so that their start-up overlaps the setup
            settings = replace(settings, name=settings.name or default_sweep_name(settings))
            sweep_dir = Workspace.at(settings.workspace).sweep_dir(settings.name)
            # the driver owns the sweep before its workers start; they join through it
            held.enter_context(own_sweep(sweep_dir))
            workers = Workers(settings, settings.name, sweep_dir)
            held.callback(workers.stop_if_running)
            workers.start()
        setup = setup_sweep(
            settings, progress=progress, held=held, owned=settings.jobs > 1 and not settings.join
        )
        if settings.jobs > 1:
            setup.workers = workers
        try:
            prepare_tracking(setup)  # models, dataset inputs, system metrics: either backend
            # Each backend is imported when it runs: Ray's import alone takes seconds.
            if settings.backend == "ray":
                from sweeplab.tuning._ray import run_ray

                return run_ray(setup, progress=progress)
            from sweeplab.tuning._optuna import run_optuna

            return run_optuna(setup, progress=progress)
        except Exception as exc:  # a signal (KeyboardInterrupt) is the backends' to record
            if not setup.worker:  # the driver owns the parent run
                fail_sweep(setup, exc)
            raise
