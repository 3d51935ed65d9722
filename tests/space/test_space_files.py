"""The search-space file format: parsing, one clear error per mistake, YAML round trip."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

from sweeplab.errors import UserError
from sweeplab.space import (
    Categorical,
    Constant,
    IntLogUniform,
    LogUniform,
    OneMinusLogUniform,
    SearchSpace,
    load_space,
)

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted((REPO / "search_spaces").glob("*.yaml"))


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "space.yaml"
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def test_parses_the_design_sketch(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
        description: the sketch of DESIGN.md
        parameters:
          learning_rate: {distribution: log_uniform, min: 1.0e-4, max: 1.0}
          optimizer:     {values: [momentum, adam]}
          beta:          {distribution: one_minus_log_uniform, min: 0.9, max: 0.999, when: {optimizer: momentum}}
          hidden_units:  {distribution: int_log_uniform, min: 16, max: 512}
          epochs:        {value: 30}
        """,
    )
    space = load_space(path)
    assert space.description == "the sketch of DESIGN.md"
    assert space["learning_rate"].distribution == LogUniform(1e-4, 1.0)
    assert space["optimizer"].distribution == Categorical(["momentum", "adam"])
    assert space["beta"].distribution == OneMinusLogUniform(0.9, 0.999)
    assert space["beta"].when == {"optimizer": ("momentum",)}
    assert space["hidden_units"].distribution == IntLogUniform(16, 512)
    assert space["epochs"].distribution == Constant(30)
    assert space.doc is not None and space.doc.line_of(("parameters", "beta")) == 5


# (file text, the message's expected "line: key: ..." part after the file name, suggestion)
BAD = {
    "unknown distribution": (
        "parameters:\n  lr: {distribution: log_unifrom, min: 1.0e-4, max: 1}\n",
        "2: parameters.lr.distribution: ",
        "Did you mean 'log_uniform'",
    ),
    "min > max": (
        "parameters:\n  keep_prob: {distribution: uniform, min: 1.0, max: 0.5}\n",
        "2: parameters.keep_prob.min: `min <= max` must hold, but got (min=1.0, max=0.5)",
        None,
    ),
    "int min > max": (
        "parameters:\n  n:\n    distribution: int_uniform\n    min: 3\n    max: 1\n",
        "4: parameters.n.min: `min <= max` must hold, but got (min=3, max=1)",
        None,
    ),
    "log scale with min <= 0": (
        "parameters:\n  lr: {distribution: log_uniform, min: 0, max: 1}\n",
        "2: parameters.lr.min: `0 < min <= max` must hold, but got (min=0.0, max=1.0)",
        None,
    ),
    "int log scale with min 0": (
        "parameters:\n  units: {distribution: int_log_uniform, min: 0, max: 64}\n",
        "2: parameters.units.min: `1 <= min <= max` must hold, but got (min=0, max=64)",
        None,
    ),
    "beta reaching 1": (
        "parameters:\n  beta: {distribution: one_minus_log_uniform, min: 0.9, max: 1.0}\n",
        "2: parameters.beta.min: `0 < min <= max < 1` must hold, but got (min=0.9, max=1.0)",
        None,
    ),
    "not a number": (
        "parameters:\n  lr: {distribution: log_uniform, min: small, max: 1}\n",
        "2: parameters.lr.min: `min` must be a finite number, but got (min='small')",
        None,
    ),
    "when names an unknown parameter": (
        "parameters:\n  optimizer: {values: [momentum, adam]}\n"
        "  beta:\n    distribution: one_minus_log_uniform\n    min: 0.9\n    max: 0.99\n"
        "    when: {optimiser: momentum}\n",
        "7: parameters.beta.when.optimiser: `when` names the unknown parameter 'optimiser'",
        "Did you mean 'optimizer'",
    ),
    "when value never taken": (
        "parameters:\n  optimizer: {values: [momentum, adam]}\n"
        "  beta: {values: [0.9, 0.99], when: {optimizer: [momentum, sgd]}}\n",
        "3: parameters.beta.when.optimizer: `optimizer` can never be 'sgd', so `beta` would "
        "never be active; its values are: 'momentum', 'adam'",
        None,
    ),
    "when on a float range": (
        "parameters:\n  lr: {distribution: uniform, min: 0, max: 1}\n"
        "  x: {values: [1, 2], when: {lr: 0.5}}\n",
        "3: parameters.x.when.lr: `when` can only test a parameter with `values:`",
        None,
    ),
    "cyclic whens": (
        "parameters:\n  a: {values: [1, 2], when: {b: 1}}\n  b: {values: [1, 2], when: {a: 1}}\n",
        "2: parameters.a.when: the `when` conditions form a cycle: a -> b -> a",
        None,
    ),
    "self condition": (
        "parameters:\n  a: {values: [1, 2], when: {a: 1}}\n",
        "2: parameters.a.when.a: a parameter cannot be conditional on itself",
        None,
    ),
    "min/max with values": (
        "parameters:\n  bs: {values: [32, 64], min: 16, max: 128}\n",
        "2: parameters.bs.values: `values` cannot be combined with `max`/`min`",
        None,
    ),
    "value with values": (
        "parameters:\n  bs: {values: [32, 64], value: 32}\n",
        "2: parameters.bs.value: `values` and `value` cannot be combined",
        None,
    ),
    "min/max without a distribution": (
        "parameters:\n  lr: {min: 0.001, max: 0.1}\n",
        "2: parameters.lr: `min`/`max` need a `distribution:`",
        None,
    ),
    "missing max": (
        "parameters:\n  lr: {distribution: log_uniform, min: 0.001}\n",
        "2: parameters.lr: `distribution: log_uniform` needs `max`",
        None,
    ),
    "no form at all": (
        "parameters:\n  lr: {when: {a: 1}}\n",
        "2: parameters.lr: a parameter needs one of: {distribution: log_uniform",
        None,
    ),
    "a bare value": (
        "parameters:\n  epochs: 30\n",
        "2: parameters.epochs: expected a mapping such as",
        None,
    ),
    "unknown key in a parameter": (
        "parameters:\n  lr: {distrbution: log_uniform, min: 0.001, max: 0.1}\n",
        "2: parameters.lr.distrbution: unknown key 'distrbution'",
        "Did you mean 'distribution'",
    ),
    "unknown top-level key": (
        "paramters:\n  lr: {value: 1}\n",
        "1: paramters: unknown key 'paramters'",
        "Did you mean 'parameters'",
    ),
    "empty values": (
        "parameters:\n  opt: {values: []}\n",
        "2: parameters.opt.values: `values` must be a non-empty list, but got (values=[])",
        None,
    ),
    "repeated values": (
        "parameters:\n  opt: {values: [adam, sgd, adam]}\n",
        "2: parameters.opt.values: `values` must not repeat a value",
        None,
    ),
    "reserved suffix": (
        "parameters:\n  beta__1m: {value: 0.1}\n",
        "2: parameters.beta__1m: parameter names must not end with '__1m'",
        None,
    ),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_each_mistake_is_one_user_error_with_file_line_and_key(tmp_path: Path, case: str) -> None:
    text, expected, suggestion = BAD[case]
    path = _write(tmp_path, text)
    with pytest.raises(UserError) as info:
        load_space(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{expected}"), message
    assert "\n" not in message
    if suggestion:
        assert suggestion in message


def test_from_dict_names_the_given_file() -> None:
    with pytest.raises(UserError) as info:
        SearchSpace.from_dict(
            {"parameters": {"lr": {"distribution": "uniform", "min": 2, "max": 1}}},
            file="sweep settings",
        )
    assert str(info.value).startswith("sweep settings: parameters.lr.min: `min <= max` must hold")


def test_missing_file_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="file not found"):
        load_space(tmp_path / "nope.yaml")


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_spaces_round_trip_through_yaml(path: Path) -> None:
    space = load_space(path)
    text = space.to_yaml()
    again = SearchSpace.from_yaml(text)
    assert again == space and again.fingerprint() == space.fingerprint()
    assert again.to_yaml() == text
    assert SearchSpace.from_dict(space.to_dict()) == space


def test_round_trip_keeps_conditions_types_and_constants() -> None:
    space = SearchSpace.from_dict(
        {
            "description": "all the forms",
            "parameters": {
                "a": {"values": [True, None, "yes", 1, 0.5]},
                "b": {"distribution": "int_uniform", "min": -2, "max": 2, "when": {"a": [True, 1]}},
                "c": {"value": {"sizes": [64, 32], "name": "null"}},
                "d": {"distribution": "one_minus_log_uniform", "min": 0.5, "max": 0.9999},
                "e": {"value": "1e-3", "when": {"b": 0}},
            },
        }
    )
    again = SearchSpace.from_yaml(space.to_yaml())
    assert again == space
    assert again["a"].distribution.values == (True, None, "yes", 1, 0.5)
    assert again["e"].distribution.value == "1e-3"


def test_shipped_spaces_name_training_and_model_fields() -> None:
    from sweeplab.models._mlp import MLPArgs
    from sweeplab.training import TrainConfig

    fields = set(TrainConfig.model_fields) | set(MLPArgs.model_fields)
    mlp = load_space(REPO / "search_spaces" / "mlp.yaml")
    logreg = load_space(REPO / "search_spaces" / "logreg.yaml")
    assert set(mlp.names) <= fields and set(logreg.names) <= set(TrainConfig.model_fields)
    assert {"learning_rate", "optimizer", "beta", "hidden_units", "batch_size"} <= set(mlp.names)
    assert mlp["beta"].when == {"optimizer": ("momentum",)}
    rng = np.random.default_rng(0)
    for _ in range(200):  # every sample is a valid training configuration
        config = mlp.sample(rng)
        TrainConfig(**{k: v for k, v in config.items() if k in TrainConfig.model_fields})
        MLPArgs(**{k: v for k, v in config.items() if k in MLPArgs.model_fields})
