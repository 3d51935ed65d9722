"""The Ray backend's bookkeeping, without a Ray cluster: trial numbers that survive a resume,
and a Tune trial's last result read back as the shared TrialOutcome."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

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
    return SimpleNamespace(space=SPACE, objective="dev_error", goal="minimize")


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
