"""SearchSpace: conditional parameters in sample / suggest / grid / resolve; value semantics."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import optuna
import pytest

from sweeplab.errors import UserError
from sweeplab.space import (
    Categorical,
    Constant,
    IntUniform,
    LogUniform,
    OneMinusLogUniform,
    Parameter,
    SearchSpace,
    SpaceError,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)

SPACE = {
    "parameters": {
        "learning_rate": {"distribution": "log_uniform", "min": 1e-4, "max": 1e-1},
        "optimizer": {"values": ["gd", "momentum", "adam"]},
        "beta": {
            "distribution": "one_minus_log_uniform",
            "min": 0.9,
            "max": 0.999,
            "when": {"optimizer": "momentum"},
        },
        "beta2": {
            "distribution": "one_minus_log_uniform",
            "min": 0.99,
            "max": 0.9999,
            "when": {"optimizer": ["adam"]},
        },
        # conditional on a conditional parameter: active only with momentum and nesterov
        "nesterov": {"values": [False, True], "when": {"optimizer": "momentum"}},
        "dampening": {
            "distribution": "uniform",
            "min": 0.0,
            "max": 0.5,
            "when": {"nesterov": False},
        },
        "epochs": {"value": 30},
    }
}


@pytest.fixture(scope="module")
def space() -> SearchSpace:
    return SearchSpace.from_dict(SPACE)


def _expected_keys(config: dict) -> set[str]:
    keys = {"learning_rate", "optimizer", "epochs"}
    if config["optimizer"] == "momentum":
        keys |= {"beta", "nesterov"}
        if config["nesterov"] is False:
            keys.add("dampening")
    if config["optimizer"] == "adam":
        keys.add("beta2")
    return keys


def test_sample_has_exactly_the_active_parameters(space: SearchSpace) -> None:
    rng = np.random.default_rng(0)
    configs = [space.sample(rng) for _ in range(600)]
    for c in configs:
        assert set(c) == _expected_keys(c)
        assert list(c) == [n for n in space.names if n in c]  # declaration order
        assert all(space[n].distribution.contains(v) for n, v in c.items())
    seen = {(c["optimizer"], c.get("nesterov")) for c in configs}
    assert seen == {("gd", None), ("adam", None), ("momentum", False), ("momentum", True)}


def test_same_seed_same_configurations(space: SearchSpace) -> None:
    a, b = np.random.default_rng(3), np.random.default_rng(3)
    assert [space.sample(a) for _ in range(20)] == [space.sample(b) for _ in range(20)]


def test_suggest_asks_only_for_active_parameters(space: SearchSpace) -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(300):
        trial = study.ask()
        config = space.suggest(trial)
        study.tell(trial, 0.0)
        assert set(config) == _expected_keys(config)
        expected_internal = {space[n].distribution.internal_name(n) for n in config} - {"epochs"}
        assert set(trial.params) == expected_internal  # constants are not suggested
        assert space.resolve(trial.params) == config
        seen.add(config["optimizer"])
    assert seen == {"gd", "momentum", "adam"}


def test_suggest_works_with_tpe(space: SearchSpace) -> None:
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0, n_startup_trials=5))
    study.optimize(lambda t: space.suggest(t)["learning_rate"], n_trials=15)
    assert len(study.trials) == 15


def test_grid_does_not_multiply_by_inactive_parameters() -> None:
    space = SearchSpace.from_dict(
        {
            "parameters": {
                "optimizer": {"values": ["gd", "momentum"]},
                "beta": {"values": [0.9, 0.99], "when": {"optimizer": "momentum"}},
            }
        }
    )
    assert list(space.grid()) == [
        {"optimizer": "gd"},
        {"optimizer": "momentum", "beta": 0.9},
        {"optimizer": "momentum", "beta": 0.99},
    ]


def test_grid_with_constants_and_nested_conditions() -> None:
    space = SearchSpace.from_dict(
        {
            "parameters": {
                "batch_size": {"values": [32, 64]},
                "optimizer": {"values": ["gd", "momentum"]},
                "nesterov": {"values": [False, True], "when": {"optimizer": "momentum"}},
                "damp": {"values": [0.0, 0.1], "when": {"nesterov": False}},
                "epochs": {"value": 5},
            }
        }
    )
    grid = space.grid()
    # per batch size: gd (1) + momentum/nesterov (1) + momentum/no nesterov × 2 damp (2) = 4
    assert len(grid) == 8 == len({tuple(sorted(g.items())) for g in grid})
    assert all(g["epochs"] == 5 for g in grid)
    assert all(list(g) == [n for n in space.names if n in g] for g in grid)


def test_grid_rejects_ranges_with_the_parameter_named(space: SearchSpace) -> None:
    with pytest.raises(UserError) as info:
        space.grid()
    assert str(info.value).endswith(
        "grid search needs `values:` for every parameter, but `learning_rate` has distribution "
        "log_uniform"
    )


def test_grid_error_names_the_file_and_line(tmp_path) -> None:
    path = tmp_path / "space.yaml"
    path.write_text(
        "parameters:\n  opt: {values: [a, b]}\n  lr: {distribution: uniform, min: 0, max: 1}\n"
    )
    from sweeplab.space import load_space

    with pytest.raises(UserError) as info:
        load_space(path).grid()
    assert str(info.value).startswith(f"{path}:3: parameters.lr: grid search needs")


def test_resolve_maps_internal_names_and_drops_inactive(space: SearchSpace) -> None:
    config = {
        "learning_rate": 0.01,
        "optimizer": "adam",
        "beta__1m": 0.01,
        "beta2__1m": 0.001,
        "nesterov": True,
        "dampening": 0.2,
        "epochs": 30,
        "unrelated": "kept",
    }
    assert space.resolve(config) == {
        "learning_rate": 0.01,
        "optimizer": "adam",
        "beta2": pytest.approx(0.999),
        "epochs": 30,
        "unrelated": "kept",
    }
    momentum = space.resolve({**config, "optimizer": "momentum", "nesterov": False})
    assert momentum["beta"] == pytest.approx(0.99) and momentum["dampening"] == 0.2
    assert "beta2" not in momentum
    # an already-resolved configuration resolves to itself
    assert space.resolve(momentum) == momentum


def test_resolve_needs_every_active_parameter(space: SearchSpace) -> None:
    with pytest.raises(ValueError, match="no value for the active parameter 'beta'"):
        space.resolve({"learning_rate": 0.1, "optimizer": "momentum", "nesterov": True})


def test_value_semantics_and_fingerprint(space: SearchSpace) -> None:
    again = SearchSpace.from_dict(SPACE)
    assert again == space and hash(again) == hash(space)
    assert again.fingerprint() == space.fingerprint() and len(space.fingerprint()) == 64
    assert pickle.loads(pickle.dumps(space)) == space and copy.deepcopy(space) == space
    other = dict(SPACE["parameters"], epochs={"value": 31})
    assert SearchSpace.from_dict({"parameters": other}).fingerprint() != space.fingerprint()
    described = SearchSpace.from_dict({"description": "x", **SPACE})
    assert described.fingerprint() == space.fingerprint()  # the description is not searched
    with pytest.raises(AttributeError):
        space.description = "y"  # type: ignore[misc]


def test_names_and_lookup(space: SearchSpace) -> None:
    assert space.names == tuple(SPACE["parameters"])
    assert space["beta"].when == {"optimizer": ("momentum",)}
    with pytest.raises(KeyError, match="Did you mean 'optimizer'"):
        space["optimiser"]


def test_empty_space_is_one_empty_configuration() -> None:
    space = SearchSpace.from_dict({"parameters": {}})
    assert list(space.grid()) == [{}] and space.sample(np.random.default_rng(0)) == {}
    assert space.to_tune() == {}


def test_programmatic_construction_validates_the_whole_space() -> None:
    opt = Parameter("optimizer", Categorical(["gd", "momentum"]))
    beta = Parameter("beta", OneMinusLogUniform(0.9, 0.99), when={"optimizer": "momentum"})
    space = SearchSpace([opt, beta, Parameter("epochs", Constant(3))])
    assert space.names == ("optimizer", "beta", "epochs")
    with pytest.raises(SpaceError, match="defined twice"):
        SearchSpace([opt, opt])
    with pytest.raises(SpaceError, match="can never be 'adam'"):
        SearchSpace([opt, Parameter("b", LogUniform(1e-3, 1), when={"optimizer": "adam"})])
    with pytest.raises(SpaceError, match="must not end with '__1m'"):
        Parameter("beta__1m", LogUniform(1e-3, 1))
    with pytest.raises(SpaceError, match="cycle: a -> b -> a"):
        SearchSpace(
            [
                Parameter("a", IntUniform(1, 2), when={"b": 1}),
                Parameter("b", IntUniform(1, 2), when={"a": 1}),
            ]
        )


def test_conditions_are_evaluated_in_dependency_order() -> None:
    # the child is declared first; it must still see its parent's value
    space = SearchSpace(
        [
            Parameter("beta", OneMinusLogUniform(0.9, 0.99), when={"optimizer": "momentum"}),
            Parameter("optimizer", Categorical(["momentum"])),
        ]
    )
    config = space.sample(np.random.default_rng(0))
    assert list(config) == ["beta", "optimizer"]
    grid_space = SearchSpace(
        [
            Parameter("beta", Categorical([0.9, 0.99]), when={"optimizer": "momentum"}),
            Parameter("optimizer", Categorical(["gd", "momentum"])),
        ]
    )
    assert list(grid_space.grid()) == [
        {"optimizer": "gd"},
        {"beta": 0.9, "optimizer": "momentum"},
        {"beta": 0.99, "optimizer": "momentum"},
    ]
