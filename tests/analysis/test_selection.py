"""Optimizing and satisficing metrics: parse constraints, pick the best feasible trial."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sweeplab.analysis import Constraint, Goal, Objective, select_best, violation
from sweeplab.errors import UserError

DEV = Objective("dev_error", "minimize")


@pytest.mark.parametrize(
    ("text", "metric", "op", "bound"),
    [
        ("latency_ms <= 5", "latency_ms", "<=", 5.0),
        ("params_count < 200000", "params_count", "<", 200000.0),
        ("dev_error<=0.05", "dev_error", "<=", 0.05),
        ("  accuracy >= 0.9 ", "accuracy", ">=", 0.9),
        ("throughput > 1e3", "throughput", ">", 1000.0),
    ],
)
def test_parse_and_round_trip(text, metric, op, bound):
    c = Constraint.parse(text)
    assert (c.metric, c.op, c.bound) == (metric, op, bound)
    assert Constraint.parse(str(c)) == c


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("latency_ms == 5", "unknown operator '=='"),
        ("latency_ms = 5", "unknown operator '='"),
        ("latency_ms <= five", "must be a number"),
        ("latency_ms <= inf", "finite"),
        ("latency_ms", "cannot parse"),
        ("5 >= latency_ms", "cannot parse"),
        ("", "cannot parse"),
    ],
)
def test_bad_constraint_strings(text, fragment):
    with pytest.raises(UserError, match=fragment):
        Constraint.parse(text)


def test_reversed_operator_and_percent_get_a_suggestion():
    with pytest.raises(UserError) as info:
        Constraint.parse("latency_ms => 5")
    assert info.value.suggestions == ["latency_ms >= 5"]
    with pytest.raises(UserError) as info:
        Constraint.parse("dev_error <= 5%")
    assert info.value.suggestions == ["dev_error <= 0.05"]


def test_unknown_metric_gets_close_matches_when_names_are_known():
    with pytest.raises(UserError) as info:
        Constraint.parse("latncy_ms <= 5", known=["latency_ms", "params_count", "dev_error"])
    assert info.value.suggestions == ["latency_ms"]
    assert "unknown metric 'latncy_ms'" in str(info.value)


def test_violation_sign_convention():
    le, lt, ge = (Constraint.parse(t) for t in ("x <= 5", "x < 5", "x >= 5"))
    assert le.violation(4) == -1 and le.violation(6) == 1 and le.violation(5) == 0
    assert lt.violation(5) > 0 and lt.violation(4.999) <= 0  # strict: equality violates
    assert ge.violation(6) == -1 and ge.violation(4) == 1
    assert le.violation(math.nan) == math.inf and le.violation(None) == math.inf


def test_violation_list_for_optuna():
    v = violation({"latency_ms": 7, "params_count": 100}, ["latency_ms <= 5", "params_count < 200"])
    assert v == [2.0, pytest.approx(-100.0)]
    assert violation({}, ["latency_ms <= 5"]) == [math.inf]  # missing metric violates


def test_objective_goal_validation():
    assert Objective("acc", "MAXIMIZE").goal is Goal.MAXIMIZE
    with pytest.raises(UserError) as info:
        Objective("acc", "maximise")
    assert info.value.suggestions[0] == "maximize"


TRIALS = [
    {"dev_error": 0.030, "latency_ms": 9.0},  # most accurate, too slow
    {"dev_error": 0.050, "latency_ms": 3.0},
    {"dev_error": 0.040, "latency_ms": 4.0},  # best feasible
    {"dev_error": 0.035, "latency_ms": 6.0},  # too slow
]


def test_most_accurate_breaks_a_constraint_so_the_next_feasible_is_picked():
    sel = select_best(TRIALS, DEV, ["latency_ms <= 5"])
    assert sel and sel.index == 2
    assert sel.row["dev_error"] == 0.040
    assert sel.feasible.tolist() == [False, True, True, False]
    assert select_best(TRIALS, DEV).index == 0  # without the constraint


def test_nan_and_inf_are_never_best():
    trials = [{"dev_error": math.nan}, {"dev_error": 0.2}, {"dev_error": -math.inf}]
    assert select_best(trials, DEV).index == 1
    assert select_best(trials, Objective("dev_error", "maximize")).index == 1


def test_none_feasible_gives_the_reason():
    sel = select_best(TRIALS, DEV, ["latency_ms <= 1"])
    assert not sel and sel.index is None and sel.row is None
    assert "'latency_ms <= 1' fails for 4 of 4" in sel.reason
    only_nan = select_best([{"dev_error": math.nan}], DEV)
    assert only_nan.index is None and "non-finite dev_error" in only_nan.reason


def test_dataframe_keeps_its_index_and_maximize():
    df = pd.DataFrame(
        {"accuracy": [0.9, 0.95, 0.97], "params_count": [1e5, 1.5e5, 3e5]},
        index=["t1", "t2", "t3"],
    )
    sel = select_best(df, Objective("accuracy", "maximize"), ["params_count < 200000"])
    assert sel.index == "t2"


def test_missing_metric_in_some_trials_makes_them_infeasible():
    trials = [{"dev_error": 0.01}, {"dev_error": 0.02, "latency_ms": 1.0}]
    assert select_best(trials, DEV, ["latency_ms <= 5"]).index == 1


def test_metric_no_trial_reports_is_a_user_error_with_close_matches():
    with pytest.raises(UserError) as info:
        select_best(TRIALS, DEV, ["latency <= 5"])
    assert info.value.suggestions == ["latency_ms"]
    with pytest.raises(UserError):
        select_best(TRIALS, Objective("dev_eror"))


def test_ties_go_to_the_earliest_trial():
    trials = [{"dev_error": 0.1}, {"dev_error": 0.05}, {"dev_error": 0.05}]
    assert select_best(trials, DEV).index == 1


def test_no_trials():
    sel = select_best([], DEV, ["latency_ms <= 5"])
    assert sel.index is None and "no trials" in sel.reason


metric = st.one_of(st.floats(0, 1), st.just(math.nan), st.just(math.inf))


@given(
    st.lists(
        st.fixed_dictionaries({"dev_error": metric, "latency_ms": st.floats(0, 10)}), max_size=12
    )
)
def test_selected_trial_is_feasible_and_no_feasible_trial_is_better(trials):
    cons = [Constraint.parse("latency_ms <= 5")]
    sel = select_best(trials, DEV, cons) if trials else None
    feasible = [
        i for i, t in enumerate(trials) if math.isfinite(t["dev_error"]) and t["latency_ms"] <= 5
    ]
    if not feasible:
        assert sel is None or sel.index is None
        return
    assert sel.index in feasible
    assert all(trials[sel.index]["dev_error"] <= trials[i]["dev_error"] for i in feasible)
    assert all(v <= 0 for v in violation(trials[sel.index], cons))
