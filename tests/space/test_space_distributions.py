"""Distributions: bounds, scales, seeds, JSON round trip, validation messages."""

from __future__ import annotations

import copy
import json
import math
import pickle

import numpy as np
import optuna
import pytest

from sweeplab.space import (
    DISTRIBUTIONS,
    Categorical,
    Constant,
    Distribution,
    IntLogUniform,
    IntUniform,
    LogUniform,
    OneMinusLogUniform,
    Uniform,
    distribution_from_dict,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)

# One or more examples of every registered distribution; a new distribution must join here
# (test_every_distribution_has_examples fails otherwise), and then every test below runs on it.
EXAMPLES: list[Distribution] = [
    Uniform(-1.5, 2.0),
    Uniform(0.5, 0.5),
    LogUniform(1e-4, 1.0),
    LogUniform(3e-3, 3e-3),
    OneMinusLogUniform(0.9, 0.999),
    IntUniform(-3, 4),
    IntUniform(7, 7),
    IntLogUniform(1, 1000),
    IntLogUniform(16, 512),
    Categorical(["momentum", "adam", "rmsprop"]),
    Categorical([32, 64, 128]),
    Categorical([True, None, 1, "1", 0.5]),
    Constant(30),
    Constant([64, 32]),
    Constant({"a": 1, "b": [None, "x"]}),
]
IDS = [repr(d) for d in EXAMPLES]
N = 10_000


def test_every_distribution_has_examples() -> None:
    assert {type(d) for d in EXAMPLES} == set(DISTRIBUTIONS.values())
    assert all(DISTRIBUTIONS[c.type_name] is c for c in DISTRIBUTIONS.values())


def _in_bounds(d: Distribution, v: object) -> bool:
    if isinstance(d, Uniform | LogUniform | OneMinusLogUniform):
        return isinstance(v, float) and d.low <= v <= d.high
    if isinstance(d, IntUniform | IntLogUniform):
        return type(v) is int and d.low <= v <= d.high
    if isinstance(d, Categorical):
        return any(type(v) is type(c) and v == c for c in d.values)
    assert isinstance(d, Constant)
    return v == d.value


@pytest.mark.parametrize("dist", EXAMPLES, ids=IDS)
def test_samples_are_within_bounds_and_contained(dist: Distribution) -> None:
    rng = np.random.default_rng(0)
    values = [dist.sample(rng) for _ in range(2000)]
    assert all(_in_bounds(dist, v) for v in values)
    assert all(dist.contains(v) for v in values)


@pytest.mark.parametrize("dist", EXAMPLES, ids=IDS)
def test_suggested_values_are_within_bounds(dist: Distribution) -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(200):
        trial = study.ask()
        v = dist.suggest(trial, "x")
        assert _in_bounds(dist, v) and dist.contains(v)
        study.tell(trial, 0.0)


@pytest.mark.parametrize("dist", EXAMPLES, ids=IDS)
def test_same_seed_same_samples(dist: Distribution) -> None:
    a = [dist.sample(np.random.default_rng(42)) for _ in range(3)]
    r1, r2 = np.random.default_rng(7), np.random.default_rng(7)
    assert [dist.sample(r1) for _ in range(50)] == [dist.sample(r2) for _ in range(50)]
    assert a[0] == a[1] == a[2]


@pytest.mark.parametrize("dist", EXAMPLES, ids=IDS)
def test_json_round_trip_and_value_semantics(dist: Distribution) -> None:
    data = json.loads(json.dumps(dist.to_dict()))
    again = distribution_from_dict(data)
    assert again == dist and hash(again) == hash(dist) and repr(again) == repr(dist)
    assert data["type"] == dist.type_name
    assert pickle.loads(pickle.dumps(dist)) == dist
    assert copy.deepcopy(dist) == dist
    with pytest.raises(AttributeError, match="immutable"):
        dist.low = 0  # type: ignore[attr-defined]


@pytest.mark.parametrize("dist", EXAMPLES, ids=IDS)
def test_contains_rejects_what_it_cannot_produce(dist: Distribution) -> None:
    assert not dist.contains("not-a-value" if not isinstance(dist, Categorical) else "nope")
    assert not dist.contains(float("nan"))
    if isinstance(dist, Uniform | LogUniform | OneMinusLogUniform | IntUniform | IntLogUniform):
        assert not dist.contains(dist.low - 1) and not dist.contains(dist.high + 1)
        assert not dist.contains(True)


def test_grid_values_only_for_finite_distributions() -> None:
    for d in EXAMPLES:
        if isinstance(d, Categorical):
            assert d.grid_values() == list(d.values)
        elif isinstance(d, Constant):
            assert d.grid_values() == [d.value]
        else:
            assert d.grid_values() is None


def test_categorical_keeps_types_apart() -> None:
    d = Categorical([1, True, "1"])
    assert d.contains(1) and d.contains(True) and d.contains("1") and d.contains(1.0)
    assert not Categorical([1]).contains(True)
    assert Categorical([1, 2]) != Categorical([2, 1])
    assert Constant([1, 2]) == Constant([1, 2]) and Constant([1, 2]) != Constant([2, 1])


def test_constant_value_cannot_be_mutated_through_the_getter() -> None:
    c = Constant({"sizes": [64, 32]})
    c.value["sizes"].append(1)
    assert c.value == {"sizes": [64, 32]}


# -- scales -----------------------------------------------------------------------------------


def _decade_shares(values: np.ndarray) -> np.ndarray:
    counts = np.histogram(np.log10(values), bins=[-4, -3, -2, -1, 0])[0]
    return counts / len(values)


SCALED = {
    "lr": LogUniform(1e-4, 1.0),
    "beta": OneMinusLogUniform(0.9, 0.999),
    "units": IntLogUniform(1, 1000),
}


@pytest.fixture(scope="module")
def optuna_values() -> dict[str, np.ndarray]:
    """N trials of Optuna's RandomSampler, each suggesting every distribution of SCALED."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    out: dict[str, list] = {name: [] for name in SCALED}
    for _ in range(N):
        trial = study.ask()
        for name, dist in SCALED.items():
            out[name].append(dist.suggest(trial, name))
        study.tell(trial, 0.0)
    return {name: np.asarray(v) for name, v in out.items()}


def test_log_uniform_spends_equal_effort_per_decade(optuna_values) -> None:
    d = SCALED["lr"]
    rng = np.random.default_rng(0)
    sampled = np.array([d.sample(rng) for _ in range(N)])
    np.testing.assert_allclose(_decade_shares(sampled), 0.25, atol=0.02)
    np.testing.assert_allclose(_decade_shares(optuna_values["lr"]), 0.25, atol=0.02)


def test_log_uniform_suggests_a_log_float_distribution() -> None:
    study = optuna.create_study()
    trial = study.ask()
    LogUniform(1e-4, 1.0).suggest(trial, "lr")
    assert trial.distributions["lr"] == optuna.distributions.FloatDistribution(1e-4, 1.0, log=True)


def test_one_minus_log_uniform_puts_half_below_0_99(optuna_values) -> None:
    d = SCALED["beta"]
    rng = np.random.default_rng(0)
    sampled = np.array([d.sample(rng) for _ in range(N)])
    # binomial(10_000, 0.5): sd 0.005, so ±0.02 is four standard deviations
    assert abs(np.mean(sampled < 0.99) - 0.5) < 0.02
    assert abs(np.mean(sampled < 0.9 + 0.099 / 2) - 0.5) > 0.2  # not uniform in β
    suggested = optuna_values["beta"]
    assert abs(np.mean(suggested < 0.99) - 0.5) < 0.02
    assert suggested.min() >= 0.9 and suggested.max() <= 0.999


def test_one_minus_log_uniform_asks_optuna_for_one_minus_beta_on_a_log_scale() -> None:
    d = OneMinusLogUniform(0.9, 0.999)
    trial = optuna.create_study().ask()
    beta = d.suggest(trial, "beta")
    assert set(trial.params) == {"beta__1m"} and d.internal_name("beta") == "beta__1m"
    dist = trial.distributions["beta__1m"]
    assert dist.log and dist.low == pytest.approx(0.001) and dist.high == pytest.approx(0.1)
    assert beta == pytest.approx(1 - trial.params["beta__1m"])
    assert d.from_internal(trial.params["beta__1m"]) == beta


def test_int_log_uniform_favours_small_values(optuna_values) -> None:
    d = SCALED["units"]
    rng = np.random.default_rng(0)
    v = np.array([d.sample(rng) for _ in range(N)])
    # log-uniform on [0.5, 1000.5]: P(v <= 31) = log(31.5/0.5) / log(1000.5/0.5) ≈ 0.545
    expected = math.log(31.5 / 0.5) / math.log(1000.5 / 0.5)
    assert abs(np.mean(v <= 31) - expected) < 0.02
    assert abs(np.mean(optuna_values["units"] <= 31) - expected) < 0.02


def test_int_uniform_covers_both_ends_evenly() -> None:
    d = IntUniform(1, 3)
    rng = np.random.default_rng(0)
    v = [d.sample(rng) for _ in range(3000)]
    shares = [v.count(k) / len(v) for k in (1, 2, 3)]
    np.testing.assert_allclose(shares, 1 / 3, atol=0.03)


# -- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "low", "high", "message"),
    [
        (Uniform, 3.0, 1.0, "`low <= high` must hold, but got (low=3.0, high=1.0)"),
        (IntUniform, 3, 1, "`low <= high` must hold, but got (low=3, high=1)"),
        (LogUniform, 0.0, 1.0, "`0 < low <= high` must hold, but got (low=0.0, high=1.0)"),
        (LogUniform, -1.0, 1.0, "`0 < low <= high` must hold, but got (low=-1.0, high=1.0)"),
        (LogUniform, 1.0, 0.1, "`0 < low <= high` must hold, but got (low=1.0, high=0.1)"),
        (
            OneMinusLogUniform,
            0.9,
            1.0,
            "`0 < low <= high < 1` must hold, but got (low=0.9, high=1.0)",
        ),
        (
            OneMinusLogUniform,
            0.0,
            0.9,
            "`0 < low <= high < 1` must hold, but got (low=0.0, high=0.9)",
        ),
        (
            OneMinusLogUniform,
            0.99,
            0.9,
            "`0 < low <= high < 1` must hold, but got (low=0.99, high=0.9)",
        ),
        (IntLogUniform, 0, 10, "`1 <= low <= high` must hold, but got (low=0, high=10)"),
        (IntLogUniform, 10, 2, "`1 <= low <= high` must hold, but got (low=10, high=2)"),
        (Uniform, float("nan"), 1.0, "`low` must be a finite number, but got (low=nan)"),
        (Uniform, 0.0, float("inf"), "`high` must be a finite number, but got (high=inf)"),
        (Uniform, "0", 1.0, "`low` must be a finite number, but got (low='0')"),
        (Uniform, True, 1.0, "`low` must be a finite number, but got (low=True)"),
        (IntUniform, 1.5, 3, "`low` must be an integer, but got (low=1.5)"),
    ],
)
def test_invalid_ranges_are_rejected_with_the_rule_and_the_values(cls, low, high, message) -> None:
    with pytest.raises(ValueError) as info:
        cls(low, high)
    assert str(info.value).startswith(message)


@pytest.mark.parametrize(
    ("cls", "low", "high", "says"),
    [
        (LogUniform, 0.1, 0.01, "; low is above high: swap them"),
        (IntLogUniform, 64, 8, "; low is above high: swap them"),
        (OneMinusLogUniform, 0.99, 0.9, "; low is above high: swap them"),
        (Uniform, 3.0, 1.0, "; low is above high: swap them"),
        (LogUniform, 0.0, 1.0, "; a log scale needs positive bounds"),
        (IntLogUniform, 0, 8, "; a log scale needs positive bounds"),
        (OneMinusLogUniform, 0.9, 1.0, "; β = 1 − 10^r needs bounds strictly between 0 and 1"),
    ],
)
def test_the_hint_names_the_broken_part_of_the_rule(cls, low, high, says) -> None:
    """Positive bounds in the wrong order are not told they must be positive."""
    with pytest.raises(ValueError) as info:
        cls(low, high)
    assert says in str(info.value)
    other = "positive bounds" if "swap" in says else "swap them"
    assert other not in str(info.value)


def test_integral_floats_are_accepted_for_int_ranges() -> None:
    d = IntUniform(1.0, 3.0)
    assert d == IntUniform(1, 3) and type(d.low) is int


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([], "`values` must be a non-empty list, but got (values=[])"),
        ("adam", "`values` must be a non-empty list, but got (values='adam')"),
        (["adam", "sgd", "adam"], "`values` must not repeat a value"),
        ([1, 1.0], "`values` must not repeat a value"),
        ([[1, 2]], "`values` must hold strings, numbers, booleans or null"),
        ([float("nan")], "`values` must hold strings, numbers, booleans or null"),
    ],
)
def test_invalid_categoricals_are_rejected(values, message) -> None:
    with pytest.raises(ValueError) as info:
        Categorical(values)
    assert str(info.value).startswith(message)


def test_constant_must_be_plain_data() -> None:
    with pytest.raises(ValueError, match="must be plain data"):
        Constant(object())
    with pytest.raises(ValueError, match="keys must be strings"):
        Constant({1: 2})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"type": "log_unifrom", "low": 1, "high": 2}, "Did you mean 'log_uniform'"),
        ({"low": 1}, "mapping with a `type`"),
        ({"type": "uniform", "low": 1}, "needs exactly the keys ['high', 'low']"),
        ({"type": "uniform", "low": 2, "high": 1}, "`low <= high` must hold"),
    ],
)
def test_distribution_from_dict_rejects_bad_data(data, message) -> None:
    with pytest.raises(ValueError) as info:
        distribution_from_dict(data)
    assert message in str(info.value)
