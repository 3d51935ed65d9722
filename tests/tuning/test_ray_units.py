"""The Ray backend's bookkeeping, without a Ray cluster: trial numbers that survive a resume,
a Tune trial's last result read back as the shared TrialOutcome, and searchers that a resume
squares with Tune's restored trials."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import pytest

from sweeplab.analysis import Objective
from sweeplab.space import SearchSpace
from sweeplab.tuning._ray_driver import Numbering, outcome_of
from sweeplab.tuning._ray_worker import RESULT_KEY, trial_number

SPACE = SearchSpace.from_dict(
    {
        "parameters": {
            "optimizer": {"values": ["adam", "momentum"]},
            "beta": {
                "distribution": "one_minus_log_uniform",
                "min": 0.9,
                "max": 0.999,
                "when": {"optimizer": "momentum"},
            },
        }
    }
)


def _setup():
    return SimpleNamespace(space=SPACE, objective=Objective("dev_error", "minimize"))


def test_numbers_are_dense_stable_and_continue_after_a_restart(tmp_path):
    path = tmp_path / "ray_trials.json"
    first = Numbering(path, start=0)
    assert [first.number(t) for t in ("a", "b", "a", "c")] == [0, 1, 0, 2]
    again = Numbering(path, start=0)  # a resumed driver reads the file
    assert again.number("b") == 1 and again.number("d") == 3
    assert Numbering(tmp_path / "other.json", start=5).number("x") == 5


@pytest.mark.parametrize(
    ("name", "number"), [("trial_00007", 7), ("trial_12", 12), ("x", -1), (None, -1)]
)
def test_trial_number_from_the_name(name, number):
    assert trial_number(name) == number


def test_a_finished_trial_keeps_its_metrics_and_the_users_parameters():
    config = {"optimizer": "momentum", "beta__1m": 0.01, "beta": 0.99}
    last = {
        "dev_error": 0.05,
        "train_error": 0.01,
        "epoch": 3,
        "time_total_s": 2.5,
        "training_iteration": 4,
        RESULT_KEY: {"status": "finished", "number": 4, "run_id": "r1", "feasible": False},
    }
    o = outcome_of(_setup(), "t1", "trial_00004", config, last, None)
    assert (o.number, o.status, o.run_id, o.feasible) == (4, "finished", "r1", False)
    assert o.params == {"optimizer": "momentum", "beta": 0.99}
    assert o.metrics == {"dev_error": 0.05, "train_error": 0.01}
    assert o.duration_s == 2.5


def test_a_trial_stopped_between_epochs_is_pruned_and_a_crash_is_failed():
    running = {"dev_error": 0.4, "epoch": 2, RESULT_KEY: {"status": "running", "run_id": "r2"}}
    o = outcome_of(_setup(), "t2", "trial_00001", {"optimizer": "adam"}, running, None)
    assert o.status == "pruned" and "epoch 2" in o.reason and o.metrics == {}
    assert o.params == {"optimizer": "adam"}
    crashed = outcome_of(_setup(), "t3", "trial_00002", {"optimizer": "adam"}, {}, "worker died")
    assert (crashed.number, crashed.status, crashed.reason) == (2, "failed", "worker died")


def test_a_failed_trial_reports_its_reason_and_no_metrics():
    last = {
        "dev_error": math.nan,
        RESULT_KEY: {"status": "failed", "reason": "loss diverged", "number": 0},
    }
    o = outcome_of(_setup(), "t", "trial_00000", {"optimizer": "adam"}, last, None)
    assert (o.status, o.reason, o.metrics) == ("failed", "loss diverged", {})


# -- a resume squares the searcher with Tune's restored trials ----------------------------------
# Tune restores the trial list and the searcher's state from files that a killed driver may
# have left from different steps (see _ray_driver). These tests save the searcher at one step,
# restore it next to the trials of another, and check that the sweep goes on as if nothing
# happened: no trial waited for forever, no variant or Optuna trial used twice, none lost.
KEY = "resume-units"


def _search_setup(sampler: str, *, trials: int = 4, max_concurrent: int = 1):
    return SimpleNamespace(
        name=KEY,
        sampler=sampler,
        space=SPACE,
        objective=Objective("dev_error", "minimize"),
        seed=0,
        trials=trials,
        settings=SimpleNamespace(max_concurrent=max_concurrent, warm_start=()),
    )


def _searcher(setup, tmp_path):
    from sweeplab.tuning._ray import _param_space, _search_alg

    search = _search_alg(setup)
    spec = {
        "run": lambda config: None,
        "config": _param_space(setup),
        "num_samples": setup.trials,
        "storage_path": str(tmp_path / "store"),
    }
    search.add_configurations({"exp": spec})
    return search


def _restored(setup, tmp_path, saved: Path):
    """A searcher as Tune restores it: built as by the sweep (tuner.pkl), then its state."""
    from sweeplab.tuning._ray import _search_alg

    search = _search_alg(setup)
    search.restore_from_dir(str(saved))
    return search


@pytest.fixture
def driver():
    from sweeplab.tuning._ray_driver import LIVE, Driver

    d = Driver(_setup(), None, lambda event: None, {})
    LIVE[KEY] = d
    yield d
    LIVE.pop(KEY, None)


def _save(search, path: Path) -> Path:
    path.mkdir()
    search.save_to_dir(str(path), "2026-01-01_00-00-00")
    return path


def _ended(trial, result=None):
    from ray.tune.experiment import Trial

    if result is not None:
        trial.update_last_result(result)
    trial.set_status(Trial.TERMINATED)
    return trial


def _drain(search, live):
    """Run the sweep to its end as Tune does with one trial at a time; the trials it made."""
    made = []
    for _ in range(20):
        trial = search.next_trial()
        if trial is None:
            if not live or search.is_finished():
                break
            search.on_trial_complete(live.pop(), result={"dev_error": 0.5})
            continue
        made.append(trial)
        live.append(trial.trial_id)
    return made


@pytest.mark.parametrize("sampler", ["random", "grid"])
def test_a_searcher_a_step_behind_the_trials_neither_waits_forever_nor_repeats_a_variant(
    sampler, tmp_path, driver
):
    setup = _search_setup(sampler)
    if sampler == "grid":
        setup.space = SearchSpace.from_dict(
            {
                "parameters": {
                    "optimizer": {"values": ["adam", "momentum"]},
                    "lr": {"values": [1, 2]},
                }
            }
        )
    search = _searcher(setup, tmp_path)
    a = search.next_trial()
    saved = _save(search, tmp_path / "a-live")  # the searcher's file: trial a live
    search.on_trial_complete(a.trial_id)
    b = search.next_trial()  # the trial list's file, a step later: a ended, b pending
    trials = [_ended(a), b]

    restored = _restored(setup, tmp_path, saved)
    assert driver.restored_search is restored
    driver.step_begins(trials)  # Tune's first step after the resume
    assert driver.restored_search is None
    assert restored.next_trial() is None  # b is live (--max-concurrent 1) ...
    restored.on_trial_complete(b.trial_id)
    rest = _drain(restored, [])
    # ... then the trials the uninterrupted searcher would have made, with b's variant skipped
    search.on_trial_complete(b.trial_id)
    expected = _drain(search, [])
    assert [(t.trial_id, t.config) for t in rest] == [(t.trial_id, t.config) for t in expected]
    assert len({a.trial_id, b.trial_id, *(t.trial_id for t in rest)}) == setup.trials


def test_without_squaring_a_searcher_a_step_behind_waits_forever(tmp_path):
    """What the resumed sweep hung on: the restored searcher waits for a trial that ended."""
    setup = _search_setup("random")
    search = _searcher(setup, tmp_path)
    a = search.next_trial()
    saved = _save(search, tmp_path / "a-live")
    restored = _restored(setup, tmp_path, saved)
    _ended(a)  # Tune restores it as TERMINATED and never reports it complete again
    assert all(restored.next_trial() is None for _ in range(5))
    assert not restored.is_finished()


def test_a_searcher_a_step_ahead_of_the_trials_samples_a_lost_variant_again(tmp_path, driver):
    setup = _search_setup("random")
    search = _searcher(setup, tmp_path)
    a = search.next_trial()  # the trial list's file: a running
    search.on_trial_complete(a.trial_id)
    b = search.next_trial()
    saved = _save(search, tmp_path / "b-live")  # the searcher's file: a ended, b live
    restored = _restored(setup, tmp_path, saved)
    driver.step_begins([a])  # Tune resumes a (PENDING); b is unknown to it
    assert restored.next_trial() is None  # a is live
    rest = _drain(restored, [a.trial_id])
    ids = [a.trial_id, *(t.trial_id for t in rest)]
    assert len(ids) == len(set(ids)) == setup.trials and b.trial_id not in ids


def test_a_consistent_state_is_left_as_it_is(tmp_path, driver):
    setup = _search_setup("random")
    search = _searcher(setup, tmp_path)
    a = search.next_trial()
    saved = _save(search, tmp_path / "a-live")
    restored = _restored(setup, tmp_path, saved)
    before = restored.get_state()
    driver.step_begins([a])
    after = restored.get_state()
    assert after["_live_trials"] == before["_live_trials"] == {a.trial_id}
    assert [it.__dict__ for it in after["_iterators"]] == [
        it.__dict__ for it in before["_iterators"]
    ]
    assert after["_finished"] == before["_finished"]
    search.on_trial_complete(a.trial_id)
    restored.on_trial_complete(a.trial_id)
    assert [t.config for t in _drain(restored, [])] == [t.config for t in _drain(search, [])]


def test_tpe_behind_the_trials_tells_optuna_and_neither_waits_nor_asks_twice(tmp_path, driver):
    from optuna.trial import TrialState

    setup = _search_setup("tpe", trials=3)
    search = _searcher(setup, tmp_path)
    a = search.next_trial()
    saved = _save(search, tmp_path / "a-live")  # limiter: a live; Optuna: a running
    search.on_trial_complete(a.trial_id, result={"dev_error": 0.25})
    b = search.next_trial()
    trials = [_ended(a, {"dev_error": 0.25, "training_iteration": 1}), b]

    restored = _restored(setup, tmp_path, saved)
    driver.step_begins(trials)
    optuna = restored.searcher.searcher
    assert restored.searcher.live_trials == {b.trial_id}
    assert restored.next_trial() is None  # b is live
    # Optuna learnt how a ended; b, asked for after its state was saved, is not an error
    study = optuna._ot_study
    assert [(t.state, t.value) for t in study.trials] == [(TrialState.COMPLETE, 0.25)]
    restored.on_trial_result(b.trial_id, {"dev_error": 0.3, "training_iteration": 1})
    restored.on_trial_complete(b.trial_id, result={"dev_error": 0.3})
    c = restored.next_trial()
    assert c is not None and c.trial_id not in (a.trial_id, b.trial_id)
    assert restored.next_trial() is None and restored.is_finished()  # 3 trials, not 4
    assert len(study.trials) == 2  # a and c: nothing asked twice


def test_tpe_ahead_of_the_trials_fails_the_trial_tune_never_got(tmp_path, driver):
    from optuna.trial import TrialState

    setup = _search_setup("tpe", trials=3)
    search = _searcher(setup, tmp_path)
    a = search.next_trial()
    search.on_trial_complete(a.trial_id, result={"dev_error": 0.25})
    b = search.next_trial()
    saved = _save(search, tmp_path / "b-live")
    restored = _restored(setup, tmp_path, saved)
    driver.step_begins([a])  # the trial list's file: a running, b not made yet
    study = restored.searcher.searcher._ot_study
    assert restored.searcher.live_trials == {a.trial_id}
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.FAIL]
    assert not restored.is_finished()
    rest = _drain(restored, [a.trial_id])
    assert len(rest) == 2 and b.trial_id not in {t.trial_id for t in rest}
