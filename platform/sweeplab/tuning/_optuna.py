"""The Optuna backend: the study lives in the sweep folder (an append-only journal file, so
a killed sweep loses nothing finished); trials are asked for, run by ``run_trial``, and told.
"""

from __future__ import annotations

import math
import os
import socket
import time
import warnings
from typing import Any

from sweeplab.errors import SweeplabError, UserError
from sweeplab.tasks import TrialPruned, run_params, run_trial
from sweeplab.tracking import new_run_key
from sweeplab.tuning._interrupt import (
    SweepInterrupted,
    interruptible,
    killed_reason,
    shielded,
    signal_of,
)
from sweeplab.tuning._lifecycle import (
    KILLED_REASON,
    EpochDone,
    ProgressFn,
    StatusMessage,
    SweepOutcome,
    SweepStarted,
    TrialDone,
    TrialOutcome,
    TrialStarted,
    TrialStatus,
    best_trial,
    close_outbox,
    end_interrupted_run,
    end_orphan_runs,
    finish_sweep,
    interrupt_sweep,
    no_progress,
    record_trial,
)
from sweeplab.tuning._record import TrialRecorder, failure_reason
from sweeplab.tuning._sequence import (
    IndexedSampler,
    ask_slot,
    config_key,
    index_of,
    interrupted_trials,
    mark_interrupted,
    plan,
    uncounted_trials,
)
from sweeplab.tuning._settings import SweepSetup, objective_value, trial_epochs
from sweeplab.tuning._study import JOURNAL, claim_lock, mark_driver, open_storage, share_sweep_info
from sweeplab.tuning._tracking import track_trial
from sweeplab.tuning._workers import Workers, wait_until_ready

__all__ = [
    "run_optuna",
    "make_sampler",
    "make_pruner",
    "open_study",
    "interrupted_trials",
    "repair_journal",
]


_TPE_STARTUP = 10  # TPE's start-up trials, drawn by the random rule


def make_sampler(name: str, *, seed: int, constrained: bool) -> IndexedSampler:
    """The sweep's sampler: configuration i drawn from (seed, i) (tuning/_sequence.py); for
    ``tpe`` once TPE has its start-up trials, TPE's proposal."""
    import optuna

    if name == "tpe":
        import warnings

        # `group` (conditional parameters) is marked experimental in Optuna; it is what makes
        # TPE model `when:` parameters correctly, so we use it knowingly.
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        tpe = optuna.samplers.TPESampler(
            seed=seed,
            multivariate=True,
            group=True,  # conditional parameters (`when:`) get their own groups
            n_startup_trials=_TPE_STARTUP,
            constraints_func=_constraints_func if constrained else None,
        )
        return IndexedSampler(seed, tpe, n_startup_trials=_TPE_STARTUP)
    # random, and grid (grid points are fixed per trial; a longer sweep draws the rest)
    return IndexedSampler(seed)


def _constraints_func(trial) -> list[float]:
    return list(trial.user_attrs.get("constraints", []))


def make_pruner(
    name: str,
    *,
    grace_period: int = 3,
    reduction_factor: int = 3,
    max_epochs: int | None = None,
):
    """Optuna's pruner for ``--pruner``. Successive halving and Hyperband take the same
    ``--grace-period`` / ``--reduction-factor`` as Ray's ASHA: no trial stops before
    ``grace_period`` epochs, and each rung (``grace_period × factor^k`` epochs) keeps the
    best 1/factor of the trials that reached it. ``max_epochs``: a trial's epochs when every
    trial trains the same number (Hyperband's largest budget; else Optuna's "auto")."""
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=2)
    if name in ("successive_halving", "hyperband"):
        if max_epochs is not None and grace_period >= max_epochs:
            raise UserError(
                f"--grace-period {grace_period} is "
                f"{'longer than' if grace_period > max_epochs else 'as long as'} a trial "
                f"({max_epochs} epochs): --pruner {name} could never stop a trial before its "
                "last epoch; use a smaller --grace-period"
            )
        if name == "successive_halving":
            return optuna.pruners.SuccessiveHalvingPruner(
                min_resource=grace_period, reduction_factor=reduction_factor
            )
        return optuna.pruners.HyperbandPruner(
            min_resource=grace_period,
            max_resource=max_epochs if max_epochs is not None else "auto",
            reduction_factor=reduction_factor,
        )
    return optuna.pruners.NopPruner()


def open_study(setup: SweepSetup):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_storage(setup.sweep_dir, setup.study_storage)
    study = optuna.create_study(
        storage=storage,
        study_name=setup.name,
        sampler=make_sampler(setup.sampler, seed=setup.seed, constrained=bool(setup.constraints)),
        # setup.settings holds the sweep's own values on --resume (see setup_sweep)
        pruner=make_pruner(
            setup.pruner,
            grace_period=setup.settings.grace_period,
            reduction_factor=setup.settings.reduction_factor,
            max_epochs=trial_epochs(setup.project_file.project, setup.space),
        ),
        direction=setup.objective.goal.value,
        load_if_exists=True,
    )
    with warnings.catch_warnings():  # experimental since Optuna 3.2; we only name the axis
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names([setup.objective.name])  # optuna-dashboard: not "Objective 0"
    return study


class _Reporter:
    """Per-epoch hook: MLflow metrics (buffered) and Optuna pruning."""

    def __init__(
        self,
        trial,
        recorder: TrialRecorder,
        objective: str,
        prune: bool,
        on_epoch,
        *,
        last_epoch: int | None = None,
    ) -> None:
        self.trial, self.recorder, self.objective, self.prune, self.on_epoch = (
            trial,
            recorder,
            objective,
            prune,
            on_epoch,
        )
        # A trial is never pruned at its last epoch: it has spent its whole budget, so
        # stopping it saves nothing and would only drop a finished result (a rung of
        # successive halving can fall on the last epoch: grace 3, factor 3, 9 epochs).
        self.last_epoch = last_epoch

    def epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        with shielded():  # writes to the study and the outbox: a signal waits for their end
            self.recorder.epoch(epoch, metrics)
            self.on_epoch(epoch, metrics)
            value = metrics.get(self.objective)
            if self.prune and value is not None and math.isfinite(value):
                self.trial.report(value, epoch)
                # asked even at the last epoch: successive halving records the trial's rung
                # value then, and later trials (a sampled `epochs`) are compared with it
                prune = self.trial.should_prune()
                final = self.last_epoch is not None and epoch >= self.last_epoch
                if prune and not final:
                    raise TrialPruned(epoch)


def _recover_interrupted(
    study, setup: SweepSetup, *, reason: str = KILLED_REASON, only: set[int] | None = None
) -> int:
    """Trials a stopped sweep process left RUNNING (or enqueued and never asked for): FAIL in
    Optuna, marked interrupted, KILLED in MLflow with ``reason``; their indices run again.
    ``only``: just these trials (a worker stops its own; the others' are theirs)."""
    from optuna.trial import TrialState

    if only is None:
        for _ in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            # Enqueued, never asked for (a slot's ask() pops the oldest waiting trial, so none
            # may be left): failed unrun, its index runs again with what it was enqueued with.
            waiting = study.ask()
            mark_interrupted(study, waiting.number)
            study.tell(waiting, state=TrialState.FAIL)
    n = 0
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if only is not None and t.number not in only:
            continue  # another worker's trial
        mark_interrupted(study, t.number)
        study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
        end_interrupted_run(
            setup,
            t.user_attrs.get("mlflow_run_id"),
            t.user_attrs.get("mlflow_run_key"),
            reason=reason,
            params=_logged_params(setup, t.user_attrs.get("params")),
        )
        n += 1
    if only is not None:
        return n
    # Child runs created but never linked to the study (killed between create and set_user_attr)
    end_orphan_runs(setup, reason=reason)
    return n


def _logged_params(setup: SweepSetup, params: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the run of a trial that samples ``params`` logs (None if it cannot be said)."""
    if not params:
        return None
    try:
        return run_params(setup.context, params).values
    except Exception:  # noqa: BLE001 - a study of an older sweep: the run is ended without them
        return None


def repair_journal(path) -> bool:
    """Drop a torn last line (a kill in the middle of a write): Optuna would glue the next
    record onto it and then fail to read the study. True when something was dropped."""
    from pathlib import Path

    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        return False
    with open(path, "r+b") as f:  # read from the end: a journal may be large
        end = f.seek(0, 2)
        f.seek(end - 1)
        if f.read(1) == b"\n":
            return False
        cut = 0  # no newline at all: the only record is torn
        while end > 0:
            start = max(0, end - 65536)
            f.seek(start)
            block = f.read(end - start)
            if b"\n" in block:
                cut = start + block.rfind(b"\n") + 1
                break
            end = start
        f.truncate(cut)
    return True


def _outcome_from_frozen(t) -> TrialOutcome:
    """A trial an earlier run of the sweep ended (not an interrupted one: it runs again)."""
    from optuna.trial import TrialState

    status = {TrialState.COMPLETE: TrialStatus.FINISHED, TrialState.PRUNED: TrialStatus.PRUNED}
    return TrialOutcome(
        number=t.number,
        status=status.get(t.state, TrialStatus.FAILED),
        params=dict(t.user_attrs.get("params", {})),
        metrics=dict(t.user_attrs.get("metrics", {})),
        reason=t.user_attrs.get("failure"),
        run_id=t.user_attrs.get("mlflow_run_id"),
        duration_s=(t.duration.total_seconds() if t.duration else 0.0),
        feasible=all(v <= 0 for v in t.user_attrs.get("constraints", [])),
    )


def run_optuna(setup: SweepSetup, *, progress: ProgressFn | None = None) -> SweepOutcome:
    """Run the trials the sweep still lacks in this process — and in ``--jobs`` workers —
    one at a time per process. A signal (Ctrl-C, SIGTERM) ends the sweep "interrupted" and
    raises :class:`SweepInterrupted`."""
    say = progress or no_progress
    outcomes: list[TrialOutcome] = []
    study = None
    workers = setup.workers or Workers(setup.settings, setup.name, setup.sweep_dir)
    own: set[int] = set()  # the trials this process asked for
    try:
        if setup.worker:
            wait_until_ready()  # the driver's study, once what a stopped run left is repaired
        with shielded():  # repairs what a stopped process left: a signal waits for their end
            study = _open_for_run(setup, say)
        workers.ready()
        stopped_reason = _run_trials(study, setup, outcomes, say, own)
        if setup.worker:
            return _worker_done(setup, outcomes, stopped_reason, say)
        problems = workers.wait()
        if setup.study_storage is not None:
            _wait_for_others(study, setup, say)
        _collect_others(study, setup, outcomes, say)
    except KeyboardInterrupt as exc:
        if setup.worker:
            raise _worker_interrupted(study, setup, own, signal_of(exc)) from None
        workers.stop(signal_of(exc))
        raise _interrupted(study, setup, outcomes, signal_of(exc), say) from None
    if problems and not stopped_reason:
        say(StatusMessage("; ".join(problems)))
    return finish_sweep(setup, outcomes, stopped_reason, say)


def _open_for_run(setup: SweepSetup, say: ProgressFn):
    """The sweep's study, after what a stopped process left behind is repaired (by the
    driver; a worker joins the study as it is)."""
    if setup.worker:
        return open_study(setup)
    if setup.resumed and setup.study_storage is None:
        repair_journal(setup.sweep_dir / JOURNAL)
    if setup.resumed:
        # writes a killed process left unsent (runs it created), before the study is repaired
        setup.sweep_run.outbox.drain(_OUTBOX_DRAIN_S)
    study = open_study(setup)
    if setup.study_storage is not None:
        mark_driver(study, command=f"sweeplab sweep {setup.settings.project_path}")
        if not setup.resumed:  # what another machine needs to take the sweep up
            info = setup.workspace.read_sweep(setup.name)
            share_sweep_info(study, {**info, "space_yaml": setup.space.to_yaml()})
    if setup.resumed:
        n = _recover_interrupted(study, setup)
        if n:
            say(StatusMessage(f"{n} interrupted trial(s) marked failed; they will run again"))
    elif setup.workers is None:  # (--jobs workers wait for the study: none has run yet)
        end_orphan_runs(setup)
    return study


_ENDED = ("COMPLETE", "PRUNED", "FAIL")


def _ended(study) -> list:
    from optuna.trial import TrialState

    return study.get_trials(
        deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    )


def _run_trials(
    study, setup: SweepSetup, outcomes: list[TrialOutcome], say: ProgressFn, own: set[int]
) -> str | None:
    """Run slots of the sweep's sequence (tuning/_sequence.py) until it has its trials; the
    outcomes go to ``outcomes`` as they come. Returns why the sweep stopped early, if it did."""
    ended = _ended(study)
    uncounted = uncounted_trials(study, ended)
    outcomes.extend(_outcome_from_frozen(t) for t in ended if t.number not in uncounted)
    grid = setup.space.grid() if setup.sampler == "grid" else None
    first = [setup.space.to_internal(c) for c in setup.settings.warm_start]
    failures_here = 0
    say(
        SweepStarted(
            setup.trials, len(outcomes), best_trial(outcomes, setup.objective), setup.objective
        )
    )
    while True:
        # A signal stops the training at once (_one_trial); anywhere else in a trial's
        # bookkeeping it waits for the writes in flight and stops the sweep before the next.
        with shielded():
            stop = _next_trial(study, setup, grid, first, outcomes, say, own)
        if stop is not None:
            return stop or None
        if outcomes[-1].status == TrialStatus.FAILED:
            failures_here += 1
            if setup.max_failures and failures_here >= setup.max_failures:
                return (
                    f"stopped after {failures_here} failed trials (--max-failures {setup.max_failures}); "
                    f"last failure: {outcomes[-1].reason}"
                )


def _next_trial(
    study, setup: SweepSetup, grid, first, outcomes: list[TrialOutcome], say, own: set[int]
) -> str | None:
    """Claim and run the sweep's next trial; None when one ran, else why none did ("" when
    the sweep has all its trials)."""
    claimed = _claim(study, setup, grid, first)
    if claimed is None:
        return ""
    if isinstance(claimed, str):
        return claimed
    trial, params = claimed
    own.add(trial.number)
    outcome = _one_trial(study, trial, params, setup, say)
    outcomes.append(outcome)
    if setup.settings.jobs > 1 or setup.worker or setup.study_storage:
        _collect_others(study, setup, outcomes, say)
    say(TrialDone(outcome, len(outcomes), setup.trials, best_trial(outcomes, setup.objective)))
    return None


def _claim(study, setup: SweepSetup, grid, first=None) -> tuple | str | None:
    """The next slot of the sweep's sequence and its trial, picked under the sweep's claim
    lock so that processes running the same sweep never pick the same one; None when every
    trial the sweep asks for has ended or is running; a reason when TPE has nothing new."""
    from optuna.trial import TrialState

    with claim_lock(setup.sweep_dir, setup.name, setup.study_storage):
        trials = study.get_trials(deepcopy=False)
        ended = [t for t in trials if t.state.name in _ENDED]
        running = [t for t in trials if t.state == TrialState.RUNNING]
        uncounted = uncounted_trials(study, ended)
        counted = [t for t in ended if t.number not in uncounted]
        if len(counted) + len(running) >= setup.trials:
            return None
        busy = {index_of(t) for t in running}
        slot = next(
            s for s in plan(ended, uncounted, grid=grid, first=first) if s.index not in busy
        )
        # TPE never runs a configuration twice: a proposal that already ran (or runs) is replaced
        ran = None
        if setup.sampler == "tpe":
            ran = {config_key(t.user_attrs.get("params", {})) for t in counted + running}
        asked = ask_slot(study, slot, setup.space, ran)
        if asked is None:
            return (
                f"TPE has no configuration left that has not run ({len(ran or ())} ran); the "
                "search space has no more: ask for fewer trials or widen the space"
            )
        trial, params = asked
        trial.set_user_attr("params", params)  # seen by the next claim, in any process
        return trial, params


def _collect_others(
    study, setup: SweepSetup, outcomes: list[TrialOutcome], say: ProgressFn
) -> None:
    """Trials other processes of the sweep ended (``--jobs`` workers, other machines)."""
    ended = _ended(study)
    uncounted = uncounted_trials(study, ended)
    seen = {o.number for o in outcomes}
    for t in ended:
        if t.number not in seen and t.number not in uncounted:
            outcomes.append(_outcome_from_frozen(t))


def _wait_for_others(study, setup: SweepSetup, say: ProgressFn) -> None:
    """The sweep ends when the trials other machines run have ended too (at most
    ``SWEEPLAB_WORKER_WAIT_S`` s, default 600: a machine that went away leaves its trial to
    the next ``--resume``)."""
    from optuna.trial import TrialState

    deadline = time.monotonic() + float(os.environ.get("SWEEPLAB_WORKER_WAIT_S", "600"))
    told = False
    while time.monotonic() < deadline:
        running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if not running:
            return
        if not told:
            say(StatusMessage(f"waiting for {len(running)} trial(s) that other workers run"))
            told = True
        time.sleep(1.0)


def _worker_done(
    setup: SweepSetup, outcomes: list[TrialOutcome], stopped_reason: str | None, say: ProgressFn
) -> SweepOutcome:
    """A worker has no trial left to run: it sends its records; the driver ends the sweep."""
    close_outbox(setup, say)
    return SweepOutcome(
        name=setup.name,
        workspace=setup.workspace.root,
        tracking_uri=setup.tracking_uri,
        experiment_id=setup.sweep_run.experiment_id,
        parent_run_id=setup.sweep_run.run_id,
        objective=setup.objective,
        trials=outcomes,
        best=best_trial(outcomes, setup.objective),
        elapsed_s=time.monotonic() - setup.started,
        stopped_reason=stopped_reason,
    )


def _worker_interrupted(study, setup: SweepSetup, own: set[int], signum: int) -> SweepInterrupted:
    """A worker stopped by a signal records its own trial killed; the sweep goes on (its
    driver, or a --resume, runs that configuration again)."""
    reason = killed_reason(signum)
    if study is not None:
        _recover_interrupted(study, setup, reason=reason, only=own)
    close_outbox(setup, no_progress)
    return SweepInterrupted(signum, sweep=setup.name, workspace=setup.workspace.root)


def _interrupted(
    study, setup: SweepSetup, outcomes: list[TrialOutcome], signum: int, say: ProgressFn
) -> SweepInterrupted:
    """A signal stopped the sweep: what ran is kept, the trial it stopped is KILLED with the
    reason, nothing stays RUNNING, and the sweep says "interrupted"."""
    reason = killed_reason(signum)
    setup.sweep_run.outbox.drain(_OUTBOX_DRAIN_S)  # the rest stays in the outbox folder
    if study is not None:
        _recover_interrupted(study, setup, reason=reason)
    else:
        end_orphan_runs(setup, reason=reason)
    interrupt_sweep(setup, outcomes, say)
    return SweepInterrupted(signum, sweep=setup.name, workspace=setup.workspace.root)


def _one_trial(
    study, trial, params: dict[str, Any], setup: SweepSetup, say: ProgressFn
) -> TrialOutcome:
    from optuna.trial import TrialState

    t0 = time.monotonic()
    trial.set_user_attr("params", params)
    # The key goes to the study before the run exists: a sweep killed in between finds the run.
    run_key = new_run_key()
    trial.set_user_attr("mlflow_run_key", run_key)
    recorder = TrialRecorder.start(
        setup.sweep_run,
        number=trial.number,
        params=params,
        # One trial at a time in this process: torch keeps its default threads (OMP_NUM_THREADS,
        # else one per core), i.e. the whole machine; recorded so runs can be compared.
        tags={
            "sweeplab.optuna_trial": trial.number,
            "sweeplab.threads": _torch_threads(),
            # which process ran it (--jobs workers, other machines): host:pid
            "sweeplab.worker": f"{socket.gethostname()}:{os.getpid()}",
        },
        key=run_key,
        settings=run_params(setup.context, params),
    )
    if recorder.run_id:  # None while the tracking store is away (the outbox creates it later)
        trial.set_user_attr("mlflow_run_id", recorder.run_id)
    track_trial(recorder, setup.context)  # dataset inputs, system metrics
    say(TrialStarted(trial.number, params))
    reporter = _Reporter(
        trial,
        recorder,
        setup.objective.name,
        setup.pruner != "none",
        lambda e, m: say(EpochDone(e, m)),
        last_epoch=_trial_epochs(setup, params),
    )
    try:
        with interruptible():  # the training: a signal stops it at once
            result = run_trial(setup.context, params, reporter)
        _wait_for_run(recorder)
        value = objective_value(result.metrics, setup.objective.name)
    except TrialPruned as exc:
        end = record_trial(recorder, TrialStatus.PRUNED, epoch=exc.epoch, reason=str(exc))
        _link_run(trial, recorder)
        study.tell(trial, state=TrialState.PRUNED)
    except KeyboardInterrupt as exc:
        mark_interrupted(study, trial.number)
        study.tell(trial, state=TrialState.FAIL)
        record_trial(recorder, TrialStatus.KILLED, reason=killed_reason(signal_of(exc)))
        raise
    except Exception as exc:  # noqa: BLE001 - a failing trial is recorded and the sweep goes on
        reason = failure_reason(exc)
        trial.set_user_attr("failure", reason)
        end = record_trial(recorder, TrialStatus.FAILED, reason=reason)
        _link_run(trial, recorder)
        study.tell(trial, state=TrialState.FAIL)
        if isinstance(exc, SweeplabError) and getattr(exc, "fatal", False):
            raise
    else:
        end = record_trial(
            recorder, TrialStatus.FINISHED, result=result, constraints=setup.constraints
        )
        # before `tell`: TPE's constraints_func reads the violations from the trial
        trial.set_user_attr("metrics", end.metrics)
        trial.set_user_attr("constraints", end.violations)
        trial.set_user_attr("device", end.device)
        _link_run(trial, recorder)
        study.tell(trial, value)
    return TrialOutcome(
        number=trial.number,
        status=end.status,
        params=params,
        metrics=end.metrics,
        reason=end.reason,
        run_id=recorder.run_id,
        duration_s=time.monotonic() - t0,
        feasible=end.feasible,
    )


# How long a trial's end waits for the sender thread to create its MLflow run (it was queued
# when the trial started, so it is normally long done), and how long Ctrl-C or a resume waits
# for queued writes before leaving them in the outbox folder.
_OUTBOX_DRAIN_S = 10.0


def _wait_for_run(recorder: TrialRecorder) -> None:
    run = recorder.run
    run.run_id = run.outbox.wait_created(run.key, _OUTBOX_DRAIN_S) or run.run_id


def _trial_epochs(setup: SweepSetup, params: dict[str, Any]) -> int | None:
    """The epochs this trial trains: sampled, else the project's."""
    try:
        return int(params.get("epochs", setup.context.project.train.epochs))
    except (AttributeError, TypeError, ValueError):
        return None


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def _link_run(trial, recorder: TrialRecorder) -> None:
    """The run id, once the store has answered (it may have been away when the trial began)."""
    _wait_for_run(recorder)
    if recorder.run_id and trial.user_attrs.get("mlflow_run_id") != recorder.run_id:
        trial.set_user_attr("mlflow_run_id", recorder.run_id)
