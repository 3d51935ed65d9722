"""The Ray Tune backend: the same space, the same ``run_trial``, the same MLflow layout.

``run_ray`` starts a local Ray (or joins ``--ray-address``), translates the search space
(``space.to_tune()``; the trainable calls ``space.resolve``), picks Tune's searcher for the
sampler (random and grid: BasicVariantGenerator, seeded, grid points first; tpe:
OptunaSearch with the space's define-by-run ``suggest``; both in the ``Resumable*`` forms of
_ray_driver that a resume squares with Tune's restored trials), optionally ASHA, and runs a
``Tuner`` whose run folder is ``workspace/sweeps/<name>/ray``. Trials run in
:mod:`sweeplab.tuning._ray_worker`; the outcomes are summed up by the shared
:func:`~sweeplab.tuning._lifecycle.finish_sweep`.
"""

from __future__ import annotations

import itertools
import logging
import signal
import time
from pathlib import Path
from typing import Any

from sweeplab.errors import UserError
from sweeplab.tracking import sweep_trials
from sweeplab.training import threads_for_cpus
from sweeplab.tuning._interrupt import (
    SweepInterrupted,
    killed_reason,
    received_signal,
    reclaim_signals,
    route_library_handler,
    signal_of,
)
from sweeplab.tuning._lifecycle import (
    ProgressFn,
    RayFitDone,
    StatusMessage,
    SweepOutcome,
    SweepStarted,
    TrialOutcome,
    TrialStatus,
    end_orphan_runs,
    finish_sweep,
    interrupt_sweep,
    no_progress,
)
from sweeplab.tuning._optuna import make_sampler
from sweeplab.tuning._ray_cluster import (
    check_cluster,
    check_ray_settings,
    connect,
    is_local_ray_address,
)
from sweeplab.tuning._ray_driver import (
    LIVE,
    Driver,
    Numbering,
    ResumableOptuna,
    ResumableSearch,
    ResumableVariants,
    SweepCallback,
    TrialNames,
    trial_dirname,
)
from sweeplab.tuning._ray_worker import WorkerSpec, sweep_trainable
from sweeplab.tuning._settings import SweepSetup

__all__ = ["run_ray", "check_ray_settings", "is_local_ray_address"]

RUN_DIR = "ray"  # workspace/sweeps/<name>/ray: Tune's experiment folder (what --resume reads)


# -- the Tuner ------------------------------------------------------------------------------------
def _search_alg(setup: SweepSetup):
    if setup.sampler == "tpe":
        import warnings

        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "A new study created" line
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

        # define-by-run: inactive conditional parameters never reach the sampler's model
        searcher = ResumableOptuna(
            space=_SuggestFn(setup.space),
            metric=setup.objective.name,
            mode=_mode(setup),
            sampler=make_sampler("tpe", seed=setup.seed, constrained=False),
            points_to_evaluate=[setup.space.to_internal(c) for c in setup.settings.warm_start]
            or None,
        )
        if setup.settings.max_concurrent:
            from ray.tune.search import ConcurrencyLimiter

            searcher = ConcurrencyLimiter(searcher, max_concurrent=setup.settings.max_concurrent)
        # Our own SearchGenerator (Tune would wrap the searcher in one): a resume squares it
        # with Tune's restored trials (see _ray_driver).
        return ResumableSearch(searcher, setup.name)

    points = [setup.space.to_internal(c) for c in setup.settings.warm_start] or None
    if setup.sampler == "grid":
        # Every grid point once, first; a longer sweep samples the rest at random (as Optuna).
        grid = list(itertools.islice(setup.space.grid(), setup.trials))
        points = ((points or []) + grid)[: setup.trials]
    # The limit lives in the searcher (not TuneConfig), so a restored run keeps it.
    return ResumableVariants(
        setup.name,
        points_to_evaluate=points,
        random_state=setup.seed,
        max_concurrent=setup.settings.max_concurrent or 0,
    )


def _param_space(setup: SweepSetup) -> dict[str, Any]:
    # OptunaSearch asks the define-by-run function; Tune must not sample a space of its own.
    return {} if setup.sampler == "tpe" else setup.space.to_tune()


class _SuggestFn:
    """``space.suggest`` as OptunaSearch's define-by-run function (picklable)."""

    def __init__(self, space: Any) -> None:
        self.space = space

    def __call__(self, trial: Any) -> dict[str, Any]:
        return self.space.suggest(trial)


def _scheduler(setup: SweepSetup):
    s = setup.settings
    if s.scheduler != "asha":
        return None
    from ray.tune.schedulers import ASHAScheduler

    max_t = int(setup.context.project.train.epochs)
    if s.grace_period > max_t:
        raise UserError(
            f"--grace-period {s.grace_period} is longer than a trial ({max_t} epochs): ASHA "
            "could never stop a trial; use a smaller --grace-period"
        )
    return ASHAScheduler(
        time_attr="epoch",
        max_t=max_t,
        grace_period=s.grace_period,
        reduction_factor=s.reduction_factor,
    )


def _trainable(setup: SweepSetup, *, resumed: bool):
    from ray import tune

    s = setup.settings
    spec = WorkerSpec(
        tracking_uri=setup.tracking_uri,
        experiment_id=setup.sweep_run.experiment_id,
        parent_run_id=setup.sweep_run.run_id,
        sweep_name=setup.name,
        space=setup.space,
        objective=setup.objective.name,
        goal=setup.objective.goal.value,
        constraints=tuple(setup.constraints),
        flush_each_epoch=s.scheduler == "asha",
        last_epoch=int(setup.context.project.train.epochs) if s.scheduler == "asha" else None,
        resumed=resumed,
        outbox_dir=str(setup.workspace.outbox_dir(setup.name)),
        torch_threads=threads_for_cpus(s.cpus_per_trial),
        report_every_s=0.0 if s.scheduler == "asha" else 1.0,
    )
    fn = tune.with_parameters(sweep_trainable, ctx=setup.context, spec=spec)
    resources = {"cpu": s.cpus_per_trial, "gpu": s.gpus_per_trial}
    return tune.with_resources(fn, resources)


def _new_tuner(setup: SweepSetup, run_dir: Path, trials: int):
    from ray import tune

    tune_config = tune.TuneConfig(
        metric=setup.objective.name,
        mode=_mode(setup),
        search_alg=_search_alg(setup),
        scheduler=_scheduler(setup),
        num_samples=trials,
        reuse_actors=True,
        trial_name_creator=TrialNames(setup.name),
        trial_dirname_creator=trial_dirname,
    )
    run_config = tune.RunConfig(
        name=run_dir.name,
        storage_path=str(run_dir.parent),
        callbacks=[SweepCallback(setup.name)],
        failure_config=tune.FailureConfig(max_failures=setup.max_failures or 0),
        checkpoint_config=tune.CheckpointConfig(checkpoint_at_end=False),
        verbose=0,
    )
    return tune.Tuner(
        _trainable(setup, resumed=False),
        param_space=_param_space(setup),
        tune_config=tune_config,
        run_config=run_config,
    )


def _mode(setup: SweepSetup) -> str:
    return "min" if setup.objective.goal == "minimize" else "max"


def _children(setup: SweepSetup) -> list[dict[str, Any]]:

    return sweep_trials(
        setup.sweep_run.client, setup.sweep_run.experiment_id, setup.sweep_run.run_id
    )


def run_ray(setup: SweepSetup, *, progress: ProgressFn | None = None) -> SweepOutcome:
    """Run the sweep's trials under Tune. Ctrl-C or SIGTERM stops Tune gracefully (it saves
    its state; its trials stop): the sweep ends "interrupted" and raises
    :class:`SweepInterrupted`."""
    say = progress or no_progress
    info = setup.workspace.read_sweep(setup.name)
    if setup.resumed and info.get("backend", "ray") != "ray":
        raise UserError(
            f"sweep {setup.name!r} ran with --backend {info.get('backend')}; resume it with that backend"
        )
    if setup.resumed and setup.trials != info.get("trials", setup.trials):
        raise UserError(
            f"a Ray sweep resumes with the number of trials it started with ({info['trials']}), "
            f"but got --trials {setup.trials}; resume without --trials, then start a new sweep "
            "for more trials"
        )
    outcomes: dict[str, TrialOutcome] = {}
    try:
        _fit(setup, outcomes, say)
    except KeyboardInterrupt as exc:  # a signal before or after Tune's run
        raise _interrupted(setup, outcomes, signal_of(exc), say) from None
    if len(outcomes) < setup.trials:
        # Tune stopped on a signal (saving its state); without our handler, on its own Ctrl-C
        raise _interrupted(setup, outcomes, received_signal() or signal.SIGINT, say)
    # "best" by the same rule as the Optuna backend (finished, feasible, finite): finish_sweep.
    return finish_sweep(setup, sorted(outcomes.values(), key=lambda o: o.number), None, say)


def _fit(setup: SweepSetup, outcomes: dict[str, TrialOutcome], say: ProgressFn) -> None:
    """Start or restore the Tune run and fit it; the outcomes by child run go to ``outcomes``."""
    from ray import tune

    run_dir = setup.sweep_dir / RUN_DIR
    owned = connect(setup.settings, say)
    reclaim_signals()  # ray.init installed SIGTERM handlers of its own
    try:
        check_cluster(setup.settings, setup.tracking_uri)
        # Child runs left RUNNING by a killed driver: KILLED (their trials run again).
        end_orphan_runs(setup)
        finished_before = [c for c in _children(setup) if c["status"].final]
        start = 1 + max((c["number"] for c in _children(setup)), default=-1)
        numbering = Numbering(setup.sweep_dir / "ray_trials.json", start)
        before = {c["run_id"]: _outcome_from_child(setup, c) for c in finished_before}
        outcomes.update(before)
        driver = Driver(setup, numbering, say, outcomes)
        LIVE[setup.name] = driver
        if setup.resumed and tune.Tuner.can_restore(str(run_dir)):
            say(StatusMessage(f"resuming the Ray Tune run in {run_dir}"))
            tuner = tune.Tuner.restore(
                str(run_dir),
                trainable=_trainable(setup, resumed=True),
                resume_unfinished=True,
                resume_errored=False,
                restart_errored=False,
            )
        else:
            remaining = max(setup.trials - len(finished_before), 0)
            tuner = _new_tuner(setup, run_dir, remaining) if remaining else None
        say(SweepStarted(setup.trials, len(finished_before), None, setup.objective))
        if tuner is not None:
            t0 = time.monotonic()
            # Tune stops gracefully on SIGINT (its handler, from its first step on, reached
            # through ours: SIGTERM too, and a second signal exits at once).
            # Tune's "Resume experiment with: Tuner.restore(...)" is not our users' command:
            # the sweep command prints the one that resumes the sweep.
            logging.getLogger("ray.tune.tune").setLevel(logging.ERROR)
            with route_library_handler() as route:
                driver.on_step = route
                tuner.fit()
            fit_s = time.monotonic() - t0
            # Per-trial overhead of Ray (scheduling, actors, results): benchmarks/ray_overhead.py
            say(RayFitDone(fit_s, driver.train_s, driver.ran))
        # The outcomes: those in MLflow before this run (a resumed sweep) and those that this
        # run saw end (Tune's callbacks), by child run: a trial that finished before the kill
        # and that Tune restarts reports its recorded run instead of training again.
    finally:
        LIVE.pop(setup.name, None)
        if owned:
            import ray

            ray.shutdown()


def _interrupted(
    setup: SweepSetup, outcomes: dict[str, TrialOutcome], signum: int, say: ProgressFn
) -> SweepInterrupted:
    """Tune has stopped its trials: their runs, still RUNNING, are KILLED with the reason;
    the sweep says "interrupted"; ``--resume`` restores the Tune run."""
    end_orphan_runs(setup, reason=killed_reason(signum))
    interrupt_sweep(setup, sorted(outcomes.values(), key=lambda o: o.number), say)
    return SweepInterrupted(signum, sweep=setup.name, workspace=setup.workspace.root)


def _outcome_from_child(setup: SweepSetup, c: dict[str, Any]) -> TrialOutcome:
    return TrialOutcome(
        number=c["number"],
        status=TrialStatus(c["status"]),
        params=setup.space.resolve({k: _parse(v) for k, v in c["params"].items()})
        if c["params"]
        else {},
        metrics=dict(c["metrics"]),
        reason=c["reason"],
        run_id=c["run_id"],
        duration_s=c["duration_s"],
        feasible=c["feasible"],
    )


def _parse(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text
