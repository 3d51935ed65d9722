"""Every Ray internal sweeplab uses, in one place (the ``Resumable*`` searchers of _ray_driver).

A resume squares Tune's restored searcher with its restored trials (see _ray_driver: the two
are saved to separate files, which a killed driver can leave from different steps). Ray has
no public API to tell a searcher which trials are live or how many it has made, so these
functions reach into the searchers' state; nothing else in sweeplab may
(tests/test_library_internals.py walks the package and fails on any other use):

- ``BasicVariantGenerator._live_trials`` (the trial ids it counts against ``max_concurrent``),
  ``._iterators`` (one ``_TrialIterator`` per experiment) with the iterator's ``counter``
  (variants made) and ``num_samples_left``, and ``._finished`` (``SearchAlgorithm.set_finished``
  only sets it); ``BasicVariantGenerator.get_state`` returns a copy of its ``__dict__``, so
  an attribute of our own on a subclass would be saved with it (ResumableVariants drops it);
- ``SearchGenerator``'s trial count, through its public ``get_state`` / ``set_state`` and the
  ``"counter"`` key of that state (Ray's checkpoint format; the attribute is ``_counter``);
- ``ConcurrencyLimiter.batch``, ``.live_trials`` and ``.num_unfinished_live_trials``
  (attributes without a leading underscore, but not documented API);
- ``OptunaSearch._ot_trials`` (Tune trial id -> the Optuna trial it asked for) and
  ``._completed_trials`` (the ids it has told Optuna about).

Checked with the Ray versions in ``CHECKED``. :func:`check_version` compares major.minor:
Tune's searchers change in minor releases, a patch release (2.60.x) keeps them, and
pyproject.toml bounds ray below the next minor (``<2.61``) to match.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sweeplab._versions import unchecked_version

__all__ = [
    "CHECKED",
    "check_version",
    "variant_generator_live_trials",
    "set_variant_generator_live_trials",
    "variant_generator_iterator",
    "trial_iterator_made",
    "trial_iterator_sample_more",
    "variant_generator_unfinish",
    "set_search_generator_count",
    "concurrency_limiter_batches",
    "set_concurrency_limiter_live_trials",
    "optuna_search_asked",
    "optuna_search_asked_ids",
    "optuna_search_completed",
]

#: The library and the exact versions this module was checked with (tests/test_library_internals.py).
CHECKED: dict[str, tuple[str, ...]] = {"ray": ("2.60.0",)}

_USES = (
    "BasicVariantGenerator._live_trials / ._iterators / ._finished (and _TrialIterator.counter "
    "/ .num_samples_left), SearchGenerator's state key 'counter', ConcurrencyLimiter.batch / "
    ".live_trials / .num_unfinished_live_trials, OptunaSearch._ot_trials / ._completed_trials"
)


def check_version() -> str | None:
    """None when the installed ray's major.minor is one in ``CHECKED``, else why not."""
    return unchecked_version(
        "ray",
        CHECKED["ray"],
        "the Resumable searchers (sweeplab/tuning/_ray_driver.py) reach into Ray's private "
        f"attributes {_USES}",
    )


# -- BasicVariantGenerator (random and grid) -------------------------------------------------
def variant_generator_live_trials(gen: Any) -> set[str]:
    return set(gen._live_trials)  # BasicVariantGenerator._live_trials


def set_variant_generator_live_trials(gen: Any, ids: Iterable[str]) -> None:
    gen._live_trials = set(ids)  # BasicVariantGenerator._live_trials


def variant_generator_iterator(gen: Any) -> Any | None:
    """The generator's ``_TrialIterator`` when it has exactly one experiment, else None."""
    iterators = gen._iterators  # BasicVariantGenerator._iterators
    return iterators[0] if len(iterators) == 1 else None


def trial_iterator_made(iterator: Any) -> int:
    """How many variants the iterator has handed out."""
    return int(getattr(iterator, "counter", 0))  # _TrialIterator.counter


def trial_iterator_sample_more(iterator: Any, n: int) -> None:
    iterator.num_samples_left += n  # _TrialIterator.num_samples_left


def variant_generator_unfinish(gen: Any) -> None:
    gen._finished = False  # SearchAlgorithm._finished (set_finished() only sets it)


# -- SearchGenerator (what Tune wraps a Searcher in) -----------------------------------------
def set_search_generator_count(gen: Any, n: int) -> None:
    """The number of trials the generator has made (its ``_counter``)."""
    state = gen.get_state()
    state["counter"] = n  # SearchGenerator.get_state()/set_state(): the "counter" key
    gen.set_state(state)


# -- ConcurrencyLimiter ----------------------------------------------------------------------
def concurrency_limiter_batches(limiter: Any) -> bool:
    return bool(limiter.batch)  # ConcurrencyLimiter.batch


def set_concurrency_limiter_live_trials(limiter: Any, ids: Iterable[str]) -> None:
    live = set(ids)
    limiter.live_trials = live  # ConcurrencyLimiter.live_trials
    limiter.num_unfinished_live_trials = len(live)  # ConcurrencyLimiter.num_unfinished_live_trials


# -- OptunaSearch ----------------------------------------------------------------------------
def optuna_search_asked(search: Any, trial_id: str) -> bool:
    """Whether the searcher asked Optuna for a trial for ``trial_id``."""
    return trial_id in search._ot_trials  # OptunaSearch._ot_trials


def optuna_search_asked_ids(search: Any) -> list[str]:
    """The trial ids the searcher asked Optuna for, in the order it asked."""
    return list(search._ot_trials)  # OptunaSearch._ot_trials


def optuna_search_completed(search: Any, trial_id: str) -> bool:
    """Whether the searcher has told Optuna how ``trial_id`` ended."""
    return trial_id in search._completed_trials  # OptunaSearch._completed_trials
