"""Ray Tune translation keeps each parameter's scale, for Tune's own sampling and OptunaSearch."""

from __future__ import annotations

import numpy as np
import optuna
import pytest

from sweeplab.space import (
    Categorical,
    IntLogUniform,
    IntUniform,
    LogUniform,
    OneMinusLogUniform,
    SearchSpace,
    Uniform,
)

pytest.importorskip("ray.tune")

N = 10_000
SPACE = SearchSpace.from_dict(
    {
        "parameters": {
            "learning_rate": {"distribution": "log_uniform", "min": 1e-4, "max": 1.0},
            "optimizer": {"values": ["gd", "momentum"]},
            "beta": {
                "distribution": "one_minus_log_uniform",
                "min": 0.9,
                "max": 0.999,
                "when": {"optimizer": "momentum"},
            },
            "units": {"distribution": "int_log_uniform", "min": 16, "max": 512},
            "layers": {"distribution": "int_uniform", "min": 1, "max": 3},
            "keep_prob": {"distribution": "uniform", "min": 0.5, "max": 1.0},
            "epochs": {"value": 30},
        }
    }
)


def _draw(dist, n: int = N) -> np.ndarray:
    return np.asarray(dist.to_tune().sample(size=n, random_state=np.random.default_rng(0)))


def test_log_uniform_domain_spends_equal_effort_per_decade() -> None:
    values = _draw(LogUniform(1e-4, 1.0))
    shares = np.histogram(np.log10(values), bins=[-4, -3, -2, -1, 0])[0] / N
    np.testing.assert_allclose(shares, 0.25, atol=0.02)


def test_one_minus_log_uniform_domain_puts_half_below_0_99() -> None:
    d = OneMinusLogUniform(0.9, 0.999)
    beta = np.array([d.from_internal(m) for m in _draw(d)])
    assert abs(np.mean(beta < 0.99) - 0.5) < 0.02
    assert beta.min() >= 0.9 and beta.max() <= 0.999


@pytest.mark.parametrize("dist", [IntUniform(1, 3), IntLogUniform(16, 512), IntLogUniform(1, 2)])
def test_integer_domains_include_both_ends(dist) -> None:
    values = _draw(dist, 3000)
    assert values.min() == dist.low and values.max() == dist.high


def test_to_tune_uses_internal_names_and_passes_constants() -> None:
    tune_space = SPACE.to_tune()
    assert list(tune_space) == [
        "learning_rate",
        "optimizer",
        "beta__1m",
        "units",
        "layers",
        "keep_prob",
        "epochs",
    ]
    assert tune_space["epochs"] == 30


def test_optuna_search_converts_every_domain_on_its_scale() -> None:
    from ray.tune.search.optuna import OptunaSearch

    converted = OptunaSearch.convert_search_space(SPACE.to_tune())
    fd, idist = optuna.distributions.FloatDistribution, optuna.distributions.IntDistribution
    assert converted["learning_rate"] == fd(1e-4, 1.0, log=True)
    beta = converted["beta__1m"]
    assert beta.log and beta.low == pytest.approx(1e-3) and beta.high == pytest.approx(0.1)
    assert converted["units"] == idist(16, 512, log=True)
    assert converted["layers"] == idist(1, 3)
    assert converted["keep_prob"] == fd(0.5, 1.0)
    assert converted["optimizer"] == optuna.distributions.CategoricalDistribution(
        ["gd", "momentum"]
    )


def test_basic_variant_generator_configs_resolve_to_valid_conditional_configs() -> None:
    from ray.tune.search.variant_generator import generate_variants

    rng = np.random.default_rng(0)
    configs = []
    for _ in range(2000):
        for _, spec in generate_variants(SPACE.to_tune(), random_state=rng):
            configs.append(SPACE.resolve(spec))
    for c in configs:
        assert ("beta" in c) == (c["optimizer"] == "momentum")
        assert "beta__1m" not in c
        assert all(SPACE[n].distribution.contains(v) for n, v in c.items())
    betas = np.array([c["beta"] for c in configs if "beta" in c])
    assert abs(np.mean(betas < 0.99) - 0.5) < 0.05  # ~1000 draws: sd 0.016
    same = [SPACE.resolve(s) for _, s in generate_variants(SPACE.to_tune(), random_state=1)]
    again = [SPACE.resolve(s) for _, s in generate_variants(SPACE.to_tune(), random_state=1)]
    assert same == again


def test_optuna_search_define_by_run_configs_resolve() -> None:
    """OptunaSearch(space=SPACE.suggest) reports the suggested internal names plus the
    returned configuration; resolve() gives the configuration either way."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(50):
        trial = study.ask()
        returned = SPACE.suggest(trial)
        reported = {**trial.params, **returned}
        assert SPACE.resolve(reported) == returned
        study.tell(trial, 0.0)


def test_uniform_and_categorical_domains() -> None:
    u = _draw(Uniform(0.5, 1.0), 2000)
    assert u.min() >= 0.5 and u.max() <= 1.0 and abs(u.mean() - 0.75) < 0.01
    c = Categorical(["a", "b", "c"]).to_tune().sample(size=3000, random_state=0)
    assert {x: c.count(x) for x in "abc"} == pytest.approx({x: 1000 for x in "abc"}, abs=100)
