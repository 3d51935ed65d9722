"""The driver's side of a Ray sweep: trial numbers and names, progress, the outcome of each
Tune trial in the shared form, the MLflow end state of trials whose worker could not
write it (stopped by ASHA, crashed), and searchers that a resume squares with Tune's trials."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ray.tune import Callback
from ray.tune.experiment import Trial
from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter, SearchGenerator
from ray.tune.search.optuna import OptunaSearch
from ray.tune.utils import flatten_dict

from sweeplab._atomic import write_atomic
from sweeplab.files import last_line, read_json
from sweeplab.tuning._lifecycle import (
    EpochDone,
    ProgressFn,
    StatusMessage,
    TrialDone,
    TrialOutcome,
    TrialStarted,
    TrialStatus,
    best_trial,
    end_running_runs,
)
from sweeplab.tuning._ray_internals import (
    concurrency_limiter_batches,
    optuna_search_asked,
    optuna_search_asked_ids,
    optuna_search_completed,
    set_concurrency_limiter_live_trials,
    set_search_generator_count,
    set_variant_generator_live_trials,
    trial_iterator_made,
    trial_iterator_sample_more,
    variant_generator_iterator,
    variant_generator_live_trials,
    variant_generator_unfinish,
)
from sweeplab.tuning._ray_worker import RAY_TRIAL_TAG, RESULT_KEY, trial_number
from sweeplab.tuning._settings import SweepSetup

__all__ = [
    "LIVE",
    "Numbering",
    "TrialNames",
    "SweepCallback",
    "Driver",
    "ResumableVariants",
    "ResumableSearch",
    "ResumableOptuna",
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
        self.numbers: dict[str, int] = read_json(path) if path.is_file() else {}
        self.next = max([start - 1, *self.numbers.values()]) + 1

    def number(self, trial_id: str) -> int:
        with self.lock:
            if trial_id not in self.numbers:
                self.numbers[trial_id] = self.next
                self.next += 1
                write_atomic(self.path, json.dumps(self.numbers))
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

    def on_step_begin(self, iteration, trials, **info):
        LIVE[self.key].step_begins(trials)

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
        text = last_line(Path(path))
    return f"the trial's Ray worker crashed: {text or 'see ' + str(path)}"[:1000]


class Driver:
    """Live state of a running sweep on the driver: numbering, outcomes, progress."""

    def __init__(
        self,
        setup: SweepSetup,
        numbering: Numbering,
        say: ProgressFn,
        done: dict[str, TrialOutcome],
    ) -> None:
        self.setup, self.numbering, self.say = setup, numbering, say
        self.outcomes = done  # trial id -> outcome (those finished before a resume included)
        self.lock = threading.Lock()
        self.ran, self.train_s = 0, 0.0  # trials this run saw end; their time inside run_trial
        self.restored_search: Any = None  # a searcher Tune restored, until the first step
        self.on_step: Callable[[], None] | None = None  # called in the main thread, each step

    def step_begins(self, trials: list[Any]) -> None:
        if self.on_step is not None:  # Tune's SIGINT handler is installed by now
            self.on_step()
        # Tune has restored its trials and the searcher (resume) before its first step, and
        # asks the searcher for trials only after this: the one moment to square the two.
        search, self.restored_search = self.restored_search, None
        if search is None:
            return
        try:
            search.sync_with(trials)
        except (AttributeError, KeyError, TypeError) as exc:  # a Ray whose searchers differ
            self.say(
                StatusMessage(f"could not check the restored searcher against the trials: {exc!r}")
            )

    def started(self, trial: Any) -> None:
        self.say(TrialStarted(trial_number(trial.custom_trial_name), {}))

    def result(self, trial: Any, result: dict[str, Any]) -> None:
        if result.get(RESULT_KEY, {}).get("status") == TrialStatus.RUNNING and "epoch" in result:
            metrics = {k: v for k, v in result.items() if isinstance(v, float)}
            self.say(EpochDone(result["epoch"], metrics))

    def crashed(self, trial: Any, *, retrying: bool) -> None:
        why = "the trial's Ray worker crashed" + ("; Tune retries the trial" if retrying else "")
        self._end_runs(trial, TrialStatus.KILLED, why)

    def ended(self, trial: Any, *, error: str | None) -> None:
        outcome = outcome_of(
            self.setup,
            trial.trial_id,
            trial.custom_trial_name,
            trial.config,
            trial.last_result,
            error,
        )
        if outcome.status == TrialStatus.PRUNED:
            self._end_runs(trial, TrialStatus.PRUNED, outcome.reason)
        elif error is not None:
            self._end_runs(trial, TrialStatus.FAILED, error)
        with self.lock:
            self.outcomes[outcome.run_id or trial.trial_id] = outcome
            self.ran += 1
            self.train_s += float(
                ((trial.last_result or {}).get(RESULT_KEY) or {}).get("train_s", 0.0)
            )
            done = list(self.outcomes.values())
        best = best_trial(done, self.setup.objective)
        self.say(TrialDone(outcome, len(done), self.setup.trials, best))

    def _end_runs(self, trial: Any, status: TrialStatus, reason: str | None) -> None:
        """End the trial's runs still RUNNING: its worker could not (stopped, crashed)."""
        end_running_runs(self.setup, status, reason, where={RAY_TRIAL_TAG: trial.trial_id})


# -- searchers that a resume squares with Tune's trials ----------------------------------------
# Tune saves its state every step (TUNE_GLOBAL_CHECKPOINT_S=0, _ray_cluster.connect) into a
# staging folder, as separate files (the trial list; the searcher's state, one or two files),
# and a background thread copies the folder, file by file, to the run folder that --resume
# reads (TuneController.save_to_dir and _ExperimentCheckpointManager.sync_up_experiment_state,
# ray/tune/execution/). A driver killed while it copies leaves the trial list of one step next
# to the searcher's state of another, either way round: a searcher whose live trials hold one
# that the trial list has already ended (or that it never got), so that with --max-concurrent
# it waits forever for that trial to end (the resumed sweep hangs); or a searcher whose count
# lags the trial list, so that it hands out again a variant (trial id) that Tune has. At the
# first step after a resume, ``sync_with`` takes Tune's restored trials as the truth. When the
# files agree it changes nothing. What it touches of Ray's searchers is not public API: it goes
# through _ray_internals, which names each internal and the Ray versions it was checked with.


def _restored_ids(trials: list[Any]) -> tuple[set[str], set[str]]:
    """The ids of Tune's restored trials: all of them, and the live ones (not ended)."""
    ids = {t.trial_id for t in trials}
    return ids, {t.trial_id for t in trials if not t.is_finished()}


def _hand_to_driver(search: Any) -> None:
    driver = LIVE.get(getattr(search, "sweep_key", None) or "")
    if driver is not None:
        driver.restored_search = search


class ResumableVariants(BasicVariantGenerator):
    """Tune's BasicVariantGenerator (random and grid) that a resume squares with the trials."""

    def __init__(self, key: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sweep_key = key
        self._known: frozenset[str] = frozenset()  # restored trial ids (after a resume)

    def restore_from_dir(self, dirpath: str) -> None:
        super().restore_from_dir(dirpath)
        _hand_to_driver(self)

    def get_state(self):
        state = super().get_state()
        if isinstance(state, dict):  # Ray's state is the generator's __dict__ (_ray_internals)
            state.pop("_known", None)
        return state

    def sync_with(self, trials: list[Any]) -> None:
        ids, live = _restored_ids(trials)
        set_variant_generator_live_trials(self, live)
        self._known = frozenset(ids)
        # Variants handed out for trials that the trial list lacks (the searcher's state is the
        # newer one) are lost: sample as many again, so the sweep still gets all its trials.
        iterator = variant_generator_iterator(self)
        if iterator is not None:
            lost = trial_iterator_made(iterator) - len(ids)
            if lost > 0:
                trial_iterator_sample_more(iterator, lost)
                variant_generator_unfinish(self)

    def next_trial(self):
        while True:
            live = variant_generator_live_trials(self)
            trial = super().next_trial()
            if trial is None or trial.trial_id not in self._known:
                return trial
            # The searcher's state is the older one: Tune has this trial already. Its variant
            # is used; skip it (the next has the next id).
            set_variant_generator_live_trials(self, live)


class ResumableSearch(SearchGenerator):
    """Tune's SearchGenerator (what it wraps a Searcher in) that a resume squares with the
    trials: its trial count, a ConcurrencyLimiter's live trials, ``ResumableOptuna``."""

    def __init__(self, searcher: Any, key: str) -> None:
        super().__init__(searcher)
        self.sweep_key = key

    def restore_from_dir(self, dirpath: str) -> None:
        super().restore_from_dir(dirpath)
        _hand_to_driver(self)

    def sync_with(self, trials: list[Any]) -> None:
        ids, live = _restored_ids(trials)
        # every restored trial came from here; none is made twice
        set_search_generator_count(self, len(ids))
        searcher = self.searcher
        while searcher is not None:
            limiter = isinstance(searcher, ConcurrencyLimiter)
            if limiter and not concurrency_limiter_batches(searcher):
                set_concurrency_limiter_live_trials(searcher, live)
            if isinstance(searcher, ResumableOptuna):
                searcher.sync_with(trials)
            searcher = getattr(searcher, "searcher", None)


class ResumableOptuna(OptunaSearch):
    """OptunaSearch that a resume squares with the trials: Optuna learns how the trials that
    ended (in Tune's list) ended, fails the ones it asked for and Tune never got, and ignores
    the results of a trial it has no record of (asked for after its state was saved)."""

    def sync_with(self, trials: list[Any]) -> None:
        ids, _ = _restored_ids(trials)
        for t in trials:
            if (
                t.is_finished()
                and optuna_search_asked(self, t.trial_id)
                and not optuna_search_completed(self, t.trial_id)
            ):
                error = t.status == Trial.ERROR  # as Tune tells the searcher (stop_trial)
                result = None if error or not t.last_result else flatten_dict(t.last_result)
                super().on_trial_complete(t.trial_id, result=result, error=error)
        for trial_id in optuna_search_asked_ids(self):
            if trial_id not in ids and not optuna_search_completed(self, trial_id):
                super().on_trial_complete(trial_id, error=True)

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if optuna_search_asked(self, trial_id):
            super().on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result=None, error: bool = False) -> None:
        if optuna_search_asked(self, trial_id):
            super().on_trial_complete(trial_id, result=result, error=error)


def outcome_of(
    setup: SweepSetup,
    trial_id: str,
    name: str | None,
    config: dict[str, Any],
    last: dict[str, Any] | None,
    error: str | None,
) -> TrialOutcome:
    """A Tune trial's outcome in the shared form (what ``finish_sweep`` and the CLI show)."""
    last = last or {}
    book = last.get(RESULT_KEY) or {}
    number = book.get("number", trial_number(name))
    try:
        params = setup.space.resolve(config)
    except ValueError:
        params = {}
    status = TrialStatus(book.get("status") or TrialStatus.RUNNING)
    reason = book.get("reason")
    if error is not None:
        status, reason = TrialStatus.FAILED, error
    elif status == TrialStatus.RUNNING:
        epoch = last.get("epoch")
        status = TrialStatus.PRUNED
        reason = (
            f"stopped early by ASHA after epoch {epoch}"
            if epoch
            else "stopped by Tune before its first epoch"
        )
    metrics: dict[str, float] = {}
    if status == TrialStatus.FINISHED:
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
