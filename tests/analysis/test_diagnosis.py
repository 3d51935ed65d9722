"""The curriculum's diagnosis cases, the edge-case rules, and invariants of the ladder."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sweeplab.analysis import GAPS, REMEDIES, Diagnosis, diagnose
from sweeplab.errors import UserError


def test_high_avoidable_bias_curriculum_case():
    d = diagnose(human=0.01, train=0.08, train_dev=None, dev=0.10)
    assert d.avoidable_bias == pytest.approx(0.07)
    assert d.variance == pytest.approx(0.02)
    assert d.problem == "avoidable_bias"
    assert d.verdict == "Avoidable bias (7.0%) is the largest gap: focus on reducing bias."
    assert "Train a bigger model." in d.remedies
    assert any("Adam" in r for r in d.remedies)


def test_same_errors_with_human_near_train_is_variance():
    d = diagnose(human=0.075, train=0.08, train_dev=None, dev=0.10)
    assert d.avoidable_bias == pytest.approx(0.005)
    assert d.variance == pytest.approx(0.02)
    assert d.problem == "variance"
    assert d.verdict == "Variance (2.0%) is the largest gap: focus on reducing variance."
    assert any("regularization" in r for r in d.remedies)
    assert any("more" in r and "data" in r for r in d.remedies)


@pytest.mark.parametrize("human", [0.005, 0.0075, 0.01])
def test_train_1_5_dev_3_is_variance_for_any_human_between_half_and_one_percent(human):
    d = diagnose(human=human, train=0.015, train_dev=None, dev=0.03)
    assert d.variance == pytest.approx(0.015)
    assert d.problem == "variance"


def test_data_mismatch_case():
    d = diagnose(human=0.0, train=0.01, train_dev=0.015, dev=0.10)
    assert d.avoidable_bias == pytest.approx(0.01)
    assert d.variance == pytest.approx(0.005)
    assert d.data_mismatch == pytest.approx(0.085)
    assert d.dev_overfit is None
    assert d.problem == "data_mismatch"
    assert d.verdict.startswith("Data mismatch (8.5%) is the largest gap")
    assert any("error analysis" in r for r in d.remedies)
    assert any("synthesis" in r for r in d.remedies)


def test_dev_overfit_case():
    d = diagnose(human=0.01, train=0.02, train_dev=0.025, dev=0.03, test=0.07)
    assert d.dev_overfit == pytest.approx(0.04)
    assert d.problem == "dev_overfit"
    assert d.remedies == list(REMEDIES["dev_overfit"])
    assert "bigger dev set" in d.remedies[0]


def test_variance_uses_train_dev_when_present():
    d = diagnose(human=0.01, train=0.02, train_dev=0.05, dev=0.06)
    assert d.variance == pytest.approx(0.03)
    assert d.data_mismatch == pytest.approx(0.01)
    assert not any("train-dev" in n.lower() for n in d.notes)


def test_as_metrics_has_only_measured_gaps_under_metric_names():
    d = diagnose(human=None, train=0.08, train_dev=None, dev=0.10)
    assert d.as_metrics() == pytest.approx({"variance": 0.02})
    full = diagnose(human=0.01, train=0.02, train_dev=0.03, dev=0.04, test=0.05)
    assert list(full.as_metrics()) == ["avoidable_bias", "variance", "data_mismatch", "dev_overfit"]


def test_unknown_human_is_noted_and_never_blamed():
    d = diagnose(human=None, train=0.30, train_dev=None, dev=0.31)
    assert d.avoidable_bias is None
    assert d.problem == "variance"
    assert any("Human-level error unknown" in n for n in d.notes)


def test_tie_goes_to_the_lower_gap_and_is_reported():
    # 0.03 - 0.01 and 0.05 - 0.03 differ in the last float bits; still a tie
    d = diagnose(human=0.01, train=0.03, train_dev=None, dev=0.05)
    assert d.largest == ("avoidable_bias", "variance")
    assert d.problem == "avoidable_bias"
    assert "tied" in d.verdict and d.verdict.endswith("first.")


def test_negative_gaps_are_kept_but_never_the_problem():
    d = diagnose(human=0.05, train=0.03, train_dev=None, dev=0.04)
    assert d.avoidable_bias == pytest.approx(-0.02)
    assert d.problem == "variance"
    assert any("below the human-level" in n for n in d.notes)
    assert d.as_metrics()["avoidable_bias"] < 0


def test_no_positive_gap_means_no_problem():
    d = diagnose(human=0.05, train=0.04, train_dev=None, dev=0.04, test=0.03)
    assert d.problem is None and d.largest == () and d.remedies == []
    assert d.verdict.startswith("No gap is positive")


def test_as_dict_is_json_ready_and_complete():
    d = diagnose(human=0.01, train=0.08, train_dev=0.09, dev=0.10)
    data = json.loads(json.dumps(d.as_dict()))
    assert data["ladder"] == {"human": 0.01, "train": 0.08, "train_dev": 0.09, "dev": 0.10}
    assert data["problem"] == "avoidable_bias"
    assert data["gaps"]["dev_overfit"] is None
    assert data["verdict"] == d.verdict


def test_diagnosis_is_frozen():
    d = diagnose(human=0.01, train=0.08, train_dev=None, dev=0.10)
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.train = 0.0  # type: ignore[misc]
    assert isinstance(hash(d), int)


@pytest.mark.parametrize(
    ("kwargs", "key", "fragment"),
    [
        ({"train": 8.0}, "train", "Did you mean '0.08'?"),
        ({"dev": -0.1}, "dev", "in [0, 1]"),
        ({"human": math.nan}, "human", "finite"),
        ({"test": math.inf}, "test", "finite"),
        ({"train_dev": "0.1"}, "train_dev", "number"),
        ({"train": True}, "train", "number"),
    ],
)
def test_invalid_errors_are_user_errors_naming_the_input(kwargs, key, fragment):
    args = {"human": 0.01, "train": 0.08, "train_dev": None, "dev": 0.10} | kwargs
    with pytest.raises(UserError) as info:
        diagnose(**args)
    assert info.value.key == key
    assert fragment in str(info.value)


def test_percent_above_100_gets_no_fraction_hint():
    with pytest.raises(UserError) as info:
        diagnose(human=None, train=250.0, train_dev=None, dev=0.1)
    assert info.value.suggestions == []


rate = st.floats(0, 1, allow_nan=False)


@given(rate, rate, rate, rate, rate)
def test_gaps_telescope_to_test_minus_human(human, train, train_dev, dev, test):
    d = diagnose(human=human, train=train, train_dev=train_dev, dev=dev, test=test)
    total = d.avoidable_bias + d.variance + d.data_mismatch + d.dev_overfit
    assert total == pytest.approx(test - human, abs=1e-9)


@given(
    st.one_of(st.none(), rate), rate, st.one_of(st.none(), rate), rate, st.one_of(st.none(), rate)
)
def test_problem_is_a_largest_positive_gap(human, train, train_dev, dev, test):
    d = diagnose(human=human, train=train, train_dev=train_dev, dev=dev, test=test)
    measured = {g: v for g, v in d.gaps().items() if v is not None}
    assert set(d.as_metrics()) == set(measured)
    if d.problem is None:
        assert all(v <= 1e-9 for v in measured.values())
    else:
        assert measured[d.problem] > 0
        assert all(measured[d.problem] >= v - 1e-9 for v in measured.values())
        assert d.problem == d.largest[0]
        assert list(d.largest) == [g for g in GAPS if g in d.largest]  # ladder order
        assert d.remedies == list(REMEDIES[d.problem])


def test_diagnosis_fields_match_design_metric_names():
    names = {f.name for f in dataclasses.fields(Diagnosis)}
    assert set(GAPS) <= names
