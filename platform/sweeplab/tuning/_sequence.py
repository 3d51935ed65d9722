"""A sweep's sequence of configurations, so that a resumed sweep runs what the uninterrupted
sweep would have run.

Configuration ``i`` of a sweep is the one its ``i``-th trial uses: its *index* in the
sequence, which counts the trials that consumed a configuration (finished, pruned, failed),
not Optuna's trial numbers — a trial the sweep process was running when it stopped consumed
nothing, and its index runs again, with its own configuration, under a new trial number.

- random: parameter ``p`` of configuration ``i`` is drawn by Optuna's ``RandomSampler``
  seeded from ``(seed, i, p)`` (:class:`IndexedSampler`): it depends on nothing else, so a
  resumed sweep draws what the uninterrupted one drew, whatever ran before;
- grid: configuration ``i`` is the ``i``-th grid point; a longer sweep draws the rest by the
  random rule, from index ``len(grid)`` on;
- tpe: TPE's start-up trials follow the random rule; after them TPE proposes, and a proposal
  that already ran is replaced by the random rule for that index (then ``(seed, i, attempt)``).

Every trial carries its index (the user attribute ``sweeplab.index``, set when it is enqueued,
before anything is sampled); :func:`plan` reads the study back and says which indices are
still to run, and with which fixed parameters.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from optuna.samplers import BaseSampler, RandomSampler
from optuna.trial import FrozenTrial, TrialState

__all__ = [
    "INDEX_ATTR",
    "RULE_ATTR",
    "REPLACED_ATTR",
    "IndexedSampler",
    "Slot",
    "ask_slot",
    "config_key",
    "index_of",
    "interrupted_trials",
    "mark_interrupted",
    "plan",
    "uncounted_trials",
]

INDEX_ATTR = "sweeplab.index"  # the trial's index in the sweep's sequence of configurations
# The random rule even after TPE's start-up trials: the k-th replacement (k >= 1) of a
# proposal that had already run; k = 1 draws the index's own random configuration, k > 1 one
# from (seed, index, name, k - 1).
RULE_ATTR = "sweeplab.random_attempt"
FIXED_ATTR = "sweeplab.fixed"  # the Optuna parameters a trial was enqueued with
REPLACED_ATTR = "sweeplab.replaced"  # a TPE proposal that had already run: never trained
_COUNTED = (TrialState.COMPLETE, TrialState.PRUNED)


def index_of(trial: FrozenTrial) -> int:
    """The trial's index in the sequence (sweeps of older versions: its number)."""
    return int(trial.user_attrs.get(INDEX_ATTR, trial.number))


def config_key(params: Mapping[str, Any]) -> tuple:
    """A configuration as something to compare and hash (values by their ``repr``)."""
    return tuple(sorted((k, repr(v)) for k, v in params.items()))


class IndexedSampler(BaseSampler):
    """Draws each parameter from ``(seed, index, name)``, or asks ``model`` (TPE) once it has
    ``n_startup_trials`` finished or pruned trials (TPE's own rule for its start-up trials).

    Public Optuna API only: a draw is ``RandomSampler(seed=s).sample_independent`` with ``s``
    derived from ``(seed, index, name[, attempt])`` by NumPy's ``SeedSequence``."""

    def __init__(
        self, seed: int, model: BaseSampler | None = None, *, n_startup_trials: int = 0
    ) -> None:
        self.seed = int(seed)
        self.model = model
        self.n_startup_trials = n_startup_trials

    def _random(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        if self.model is None or RULE_ATTR in trial.user_attrs:
            return True
        return len(study.get_trials(deepcopy=False, states=_COUNTED)) < self.n_startup_trials

    def infer_relative_search_space(self, study, trial):
        if self._random(study, trial):
            return {}
        return self.model.infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):
        if not search_space:
            return {}
        return self.model.sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        if not self._random(study, trial):
            return self.model.sample_independent(study, trial, param_name, param_distribution)
        entropy = [self.seed, index_of(trial), zlib.crc32(param_name.encode())]
        attempt = int(trial.user_attrs.get(RULE_ATTR, 0))
        if attempt > 1:
            entropy.append(attempt - 1)
        seed = int(np.random.SeedSequence(entropy).generate_state(1)[0])
        return RandomSampler(seed=seed).sample_independent(
            study, trial, param_name, param_distribution
        )

    def before_trial(self, study, trial) -> None:
        if self.model is not None:
            self.model.before_trial(study, trial)

    def after_trial(self, study, trial, state, values) -> None:
        if self.model is not None:  # TPE records the constraints of the trial here
            self.model.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        if self.model is not None:
            self.model.reseed_rng()


@dataclass(frozen=True)
class Slot:
    """The next configuration to run: its index, and the parameters fixed for it (Optuna's
    names and values: a grid point, or the configuration of an interrupted trial)."""

    index: int
    fixed: dict[str, Any] | None = None
    attempt: int = 0  # k > 0: the k-th replacement of a TPE proposal that had already run

    def user_attrs(self) -> dict[str, Any]:
        attrs: dict[str, Any] = {INDEX_ATTR: self.index}
        if self.fixed:
            attrs[FIXED_ATTR] = self.fixed
        if self.attempt:
            attrs[RULE_ATTR] = self.attempt
        return attrs


def plan(
    trials: list[FrozenTrial],
    uncounted: set[int],
    *,
    grid: list[dict[str, Any]] | None = None,
    first: list[dict[str, Any]] | None = None,
) -> Iterator[Slot]:
    """The slots still to run, in order, given the study's ended trials; ``uncounted``: the
    numbers of the trials that consumed no configuration (interrupted, replaced).

    An interrupted trial's index runs again with the parameters it had (those it was
    enqueued with, and those it had drawn); ``first`` (warm-start configurations) run first,
    then the grid points not yet run."""
    counted = [t for t in trials if t.state.is_finished() and t.number not in uncounted]
    done = {index_of(t) for t in counted}
    reruns: dict[int, dict[str, Any]] = {}
    for t in sorted(trials, key=lambda t: t.number):
        if t.number not in uncounted or t.user_attrs.get(REPLACED_ATTR):
            continue
        fixed = {**t.user_attrs.get(FIXED_ATTR, {}), **t.params}
        if index_of(t) not in done and len(fixed) >= len(reruns.get(index_of(t), {})):
            reruns[index_of(t)] = fixed
    # warm-start configurations (Optuna's names) take the first indices, then grid points
    for i, point in enumerate(first or ()):
        if i not in done:
            yield Slot(i, reruns.get(i) or dict(point))
    start = len(first or ())
    if grid is not None:
        ran = {config_key(t.user_attrs.get("params", {})) for t in counted}
        for i, point in enumerate(grid):
            if config_key(point) not in ran:
                yield Slot(start + i, dict(point))
        start += len(grid)
    for i in itertools.count(start):
        if i not in done:
            yield Slot(i, reruns.get(i))


# -- trials that consumed no configuration -------------------------------------------------------
# A trial the sweep process was running when it stopped is marked on the study (a trial that
# has ended takes no attributes through Optuna's API): it failed, and its index runs again.
_INTERRUPTED = "interrupted:"


def mark_interrupted(study: optuna.Study, number: int) -> None:
    study.set_user_attr(f"{_INTERRUPTED}{number}", True)


def interrupted_trials(study: optuna.Study) -> set[int]:
    """The numbers of the trials a stopped sweep process was running (failed; run again)."""
    marked = {int(k[len(_INTERRUPTED) :]) for k in study.user_attrs if k.startswith(_INTERRUPTED)}
    # sweeps of older versions marked the trial itself
    old = {t.number for t in study.get_trials(deepcopy=False) if t.user_attrs.get("interrupted")}
    return marked | old


def uncounted_trials(study: optuna.Study, trials: list[FrozenTrial]) -> set[int]:
    """Of ``trials``, those that consumed no configuration: interrupted, or a TPE proposal
    replaced because it had already run."""
    return interrupted_trials(study) | {t.number for t in trials if t.user_attrs.get(REPLACED_ATTR)}


# -- asking for a slot's trial ----------------------------------------------------------------------
# A TPE proposal that already ran is replaced by the random rule for its index, then by the
# rule's next attempts; a space with nothing new left ends the sweep.
_MAX_ATTEMPTS = 200


def ask_slot(
    study: optuna.Study, slot: Slot, space: Any, ran: set[tuple] | None = None
) -> tuple[optuna.Trial, dict[str, Any]] | None:
    """The Optuna trial for ``slot`` and its parameters (user names, ``space.suggest``).
    ``ran``: the configurations that already ran, which must not run again (TPE); None when
    proposals and the random rule only find those."""
    for attempt in range(1, _MAX_ATTEMPTS + 1):
        # enqueued with its index, so that the sampler knows it before anything is drawn
        study.enqueue_trial(slot.fixed or {}, user_attrs=slot.user_attrs())
        trial = study.ask()
        params = space.suggest(trial)
        if ran is None or config_key(params) not in ran:
            return trial, params
        trial.set_user_attr(REPLACED_ATTR, True)  # never trained; its index is drawn again
        study.tell(trial, state=TrialState.FAIL)
        slot = Slot(slot.index, attempt=attempt)
    return None
