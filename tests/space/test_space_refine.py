"""Coarse to fine: refine() narrows each range around the top trials, on the parameter's scale."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sweeplab.space import (
    Categorical,
    IntLogUniform,
    IntUniform,
    LogUniform,
    OneMinusLogUniform,
    SearchSpace,
    Uniform,
    refine,
)

SPACE = SearchSpace.from_dict(
    {
        "description": "coarse",
        "parameters": {
            "learning_rate": {"distribution": "log_uniform", "min": 1e-5, "max": 1.0},
            "optimizer": {"values": ["gd", "momentum", "adam"]},
            "beta": {
                "distribution": "one_minus_log_uniform",
                "min": 0.9,
                "max": 0.9999,
                "when": {"optimizer": "momentum"},
            },
            "nesterov": {"values": [False, True], "when": {"optimizer": "momentum"}},
            "keep_prob": {"distribution": "uniform", "min": 0.5, "max": 1.0},
            "units": {"distribution": "int_log_uniform", "min": 16, "max": 1024},
            "layers": {"distribution": "int_uniform", "min": 1, "max": 8},
            "epochs": {"value": 30},
        },
    }
)


def _top(**overrides) -> list[dict]:
    base = [
        {"learning_rate": 1e-3, "optimizer": "momentum", "beta": 0.9, "nesterov": True,
         "keep_prob": 0.7, "units": 64, "layers": 3, "epochs": 30},
        {"learning_rate": 1e-2, "optimizer": "adam", "keep_prob": 0.9, "units": 128,
         "layers": 4, "epochs": 30},
    ]  # fmt: skip
    return [{**t, **overrides} for t in base]


def test_log_uniform_is_refined_in_log_space() -> None:
    new = refine(SPACE, _top())["learning_rate"].distribution
    assert isinstance(new, LogUniform)
    assert math.log10(new.low) == pytest.approx(-3 - 0.25)
    assert math.log10(new.high) == pytest.approx(-2 + 0.25)


def test_uniform_is_refined_linearly() -> None:
    new = refine(SPACE, _top())["keep_prob"].distribution
    assert isinstance(new, Uniform)
    assert (new.low, new.high) == pytest.approx((0.7 - 0.05, 0.9 + 0.05))


def test_one_minus_log_uniform_is_refined_in_log_one_minus_beta() -> None:
    top = [{"optimizer": "momentum", "beta": 0.99, "nesterov": True},
           {"optimizer": "momentum", "beta": 0.999, "nesterov": False}]  # fmt: skip
    new = refine(SPACE, top)["beta"].distribution
    assert isinstance(new, OneMinusLogUniform)
    # log10(1 - β): -2 and -3, widened by 0.25 decades each side: [-3.25, -1.75]
    assert math.log10(1 - new.low) == pytest.approx(-1.75)
    assert math.log10(1 - new.high) == pytest.approx(-3.25)


def test_integers_are_rounded_outward_on_their_scale() -> None:
    refined = refine(SPACE, _top())
    units = refined["units"].distribution
    layers = refined["layers"].distribution
    assert isinstance(units, IntLogUniform) and isinstance(layers, IntUniform)
    lo, hi = (
        10 ** (math.log10(64) - 0.25 * math.log10(2)),
        10 ** (math.log10(128) + 0.25 * math.log10(2)),
    )
    assert (units.low, units.high) == (math.floor(lo), math.ceil(hi))
    assert (layers.low, layers.high) == (2, 5)  # 3..4 widened by 0.25 each side, outward


def test_categorical_narrowed_to_used_values_and_conditionals_counted_when_active() -> None:
    refined = refine(SPACE, _top())
    assert refined["optimizer"].distribution == Categorical(["momentum", "adam"])
    # beta was active in one trial only (β = 0.9 at the lower bound): a minimum-width range
    beta = refined["beta"].distribution
    assert beta.low == 0.9 and beta.contains(0.9) and beta.high < 0.9999
    assert refined["nesterov"].distribution == Categorical([True])
    assert refined["epochs"] == SPACE["epochs"] and refined.description == "coarse"


def test_conditional_parameter_never_active_is_kept_or_dropped_with_its_condition() -> None:
    both = _top(optimizer="adam")
    refined = refine(
        SPACE, [{k: v for k, v in t.items() if k not in ("beta", "nesterov")} for t in both]
    )
    # momentum is gone, so beta and nesterov could never be active again
    assert "beta" not in refined and "nesterov" not in refined
    assert refined["optimizer"].distribution == Categorical(["adam"])
    # with momentum still possible but no trial where beta was active, beta is kept as it is
    top = [{"optimizer": "momentum", "nesterov": True}, {"optimizer": "gd"}]
    kept = refine(SPACE, top)
    assert kept["beta"] == SPACE["beta"]


def test_all_top_values_equal_gives_a_minimum_width_range() -> None:
    new = refine(SPACE, _top(learning_rate=1e-3))["learning_rate"].distribution
    # 10% of the old 5 decades, centred on 1e-3
    assert math.log10(new.low) == pytest.approx(-3.25) and math.log10(new.high) == pytest.approx(
        -2.75
    )


@pytest.mark.parametrize("seed", range(5))
def test_refined_ranges_contain_every_top_value_and_never_grow(seed: int) -> None:
    rng = np.random.default_rng(seed)
    top = [SPACE.sample(rng) for _ in range(int(rng.integers(1, 6)))]
    refined = refine(SPACE, top, margin=float(rng.uniform(0, 1)))
    for config in top:
        for name, value in config.items():
            if name in refined:
                assert refined[name].distribution.contains(value), (name, value)
    for p in refined:
        old, new = SPACE[p.name].distribution, p.distribution
        if hasattr(old, "low"):
            assert old.low <= new.low <= new.high <= old.high
        elif isinstance(old, Categorical):
            assert set(new.values) <= set(old.values)
    # refining again around the same trials is stable or narrower, never wider
    again = refine(refined, top)
    for p in again:
        if hasattr(p.distribution, "low"):
            prev = refined[p.name].distribution
            assert prev.low <= p.distribution.low and p.distribution.high <= prev.high


def test_refine_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="at least one configuration"):
        refine(SPACE, [])
    with pytest.raises(ValueError, match="outside LogUniform"):
        refine(SPACE, [{"learning_rate": 5.0}])
    with pytest.raises(ValueError, match="`margin >= 0` must hold"):
        refine(SPACE, _top(), margin=-1)
