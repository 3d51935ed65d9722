"""`sweeplab next`'s space derivation: each diagnosis changes exactly its knobs, on their scale,
within their bounds; the written YAML explains every change and loads back."""

from __future__ import annotations

import math

import pytest

from sweeplab.analysis import diagnose
from sweeplab.space import SearchSpace, derive_space
from sweeplab.space._derive import CAPACITY, KNOBS
from sweeplab.space._distributions import Categorical, Constant, _Range

SPACE = SearchSpace.from_yaml(
    """
parameters:
  learning_rate: {distribution: log_uniform, min: 1.0e-4, max: 1.0e-1}
  optimizer: {values: [momentum, gd]}
  beta: {distribution: one_minus_log_uniform, min: 0.9, max: 0.999, when: {optimizer: momentum}}
  hidden_units: {distribution: int_log_uniform, min: 8, max: 32}
  num_layers: {distribution: int_uniform, min: 1, max: 2}
  keep_prob: {distribution: uniform, min: 0.6, max: 1.0}
  l2: {distribution: log_uniform, min: 1.0e-5, max: 1.0e-3}
  augment_rotate: {distribution: uniform, min: 0.0, max: 10.0}
  batch_size: {values: [32, 64]}
"""
)
# the project's values of what the space does not search (as `project_knobs` gives them)
CURRENT = {"epochs": 5, "early_stopping_patience": None, "batch_norm": False, "seed": 0}
LIMITS = {
    "keep_prob": (0.0, 1.0),
    "num_layers": (1, 3),
    "hidden_units": (1, None),
    "epochs": (1, None),
    "l2": (0.0, None),
    "augment_rotate": (0.0, 15.0),
    "early_stopping_patience": (1, None),
}

# hand-made ladders, one per diagnosis (human, train, train_dev, dev)
LADDERS = {
    "avoidable_bias": (0.01, 0.20, 0.21, 0.22),
    "variance": (0.01, 0.011, 0.15, 0.16),
    "data_mismatch": (0.01, 0.011, 0.015, 0.20),
}


def _derive(problem):
    human, train, train_dev, dev = LADDERS[problem]
    d = diagnose(human=human, train=train, train_dev=train_dev, dev=dev)
    assert d.problem == problem
    return derive_space(SPACE, d.problem, current=CURRENT, limits=LIMITS)


def _changed(derived) -> set[str]:
    names = set(SPACE.names) | set(derived.space.names)
    return {
        n for n in names if n not in SPACE or n not in derived.space or SPACE[n] != derived.space[n]
    }


@pytest.mark.parametrize("problem", list(LADDERS))
def test_each_diagnosis_changes_only_its_own_knobs_within_bounds_and_scale(problem):
    derived = _derive(problem)
    changed = _changed(derived)
    assert changed == {c.name for c in derived.changes}  # every change is reported
    assert changed <= KNOBS[problem]
    for name in changed:
        new = derived.space[name].distribution
        if name in SPACE and isinstance(SPACE[name].distribution, _Range):
            assert type(new) is type(SPACE[name].distribution)  # same scale
        lo, hi = LIMITS.get(name, (None, None))
        values = [new.low, new.high] if isinstance(new, _Range) else None
        values = values or (list(new.values) if isinstance(new, Categorical) else [new.value])
        for v in values:
            if isinstance(v, int | float) and not isinstance(v, bool):
                assert lo is None or v >= lo, (name, v)
                assert hi is None or v <= hi, (name, v)


def test_avoidable_bias_grows_capacity_and_training_and_loosens_regularization():
    derived = _derive("avoidable_bias")
    s = derived.space
    assert _changed(derived) == {
        "hidden_units",
        "num_layers",
        "epochs",
        "optimizer",
        "keep_prob",
        "l2",
        "augment_rotate",
    }
    hu, old_hu = s["hidden_units"].distribution, SPACE["hidden_units"].distribution
    assert hu.low > old_hu.low and hu.high > old_hu.high
    assert (s["num_layers"].distribution.low, s["num_layers"].distribution.high) == (1, 3)
    assert s["epochs"].distribution.low == 5 and s["epochs"].distribution.high > 5  # was fixed
    assert {"adam", "rmsprop"} <= set(s["optimizer"].distribution.values)
    assert s["keep_prob"].distribution.low > 0.6 and s["keep_prob"].distribution.high == 1.0
    l2, old_l2 = s["l2"].distribution, SPACE["l2"].distribution
    assert math.log10(l2.high) == pytest.approx(math.log10(old_l2.high) - 1)  # a decade down
    assert s["augment_rotate"].distribution.high < 10.0
    # conditions survive: beta is still searched only for momentum
    assert s["beta"].when == SPACE["beta"].when


def test_variance_regularizes_and_searches_early_stopping():
    derived = _derive("variance")
    s = derived.space
    assert _changed(derived) == {"l2", "keep_prob", "augment_rotate", "early_stopping_patience"}
    l2, old_l2 = s["l2"].distribution, SPACE["l2"].distribution
    assert math.log10(l2.low) == pytest.approx(math.log10(old_l2.low) + 1)  # a decade up
    assert s["keep_prob"].distribution.low < 0.6
    assert s["augment_rotate"].distribution.high == 15.0  # widened up to its bound
    assert s["early_stopping_patience"].distribution.low >= 1
    # the project trains on all of its train split: more data is a data setting, named
    assert "train_share" not in derived.space
    assert any("data.splits.train" in n for n in derived.notes)


@pytest.mark.parametrize(
    ("given", "searched", "expected"),
    [
        (0.2, None, (0.2, 1.0)),  # the project held data back: search up to all of it
        (1.0, "{distribution: uniform, min: 0.1, max: 0.4}", (0.4, 1.0)),
        (1.0, "{distribution: uniform, min: 0.2, max: 1.0}", (0.6, 1.0)),
        (1.0, "{distribution: log_uniform, min: 0.05, max: 0.3}", (0.3, 1.0)),
    ],
)
def test_variance_searches_more_of_the_train_split(given, searched, expected):
    text = SPACE.to_yaml() + (f"  train_share: {searched}\n" if searched else "")
    space = SearchSpace.from_yaml(text)
    limits = {**LIMITS, "train_share": (0.0, 1.0)}
    current = {**CURRENT, "train_share": given}
    derived = derive_space(space, "variance", current=current, limits=limits)
    new = derived.space["train_share"].distribution
    assert (new.low, new.high) == pytest.approx(expected)
    if searched:
        assert type(new) is type(space["train_share"].distribution)  # same scale
    assert any("train_share" in n and "data.splits.train" in n for n in derived.notes)
    why = next(c.why for c in derived.changes if c.name == "train_share")
    assert "variance" in why
    # no other diagnosis touches it
    for problem in ("avoidable_bias", "data_mismatch", "dev_overfit"):
        other = derive_space(space, problem, current=current, limits=limits)
        assert "train_share" not in {c.name for c in other.changes}


def test_data_mismatch_keeps_the_space_and_names_the_data_settings():
    derived = derive_space(SPACE, "data_mismatch", current=CURRENT, has_target=True)
    assert derived.space == SPACE and derived.changes == ()
    assert "data.target.splits.train" in derived.notes[0]


def test_knobs_the_model_does_not_have_are_never_added():
    space = SearchSpace.from_yaml(
        "parameters:\n  learning_rate: {distribution: log_uniform, min: 1.0e-4, max: 1.0e-1}\n"
    )
    # a model without width or dropout (logistic regression): only training knobs move
    derived = derive_space(space, "avoidable_bias", current={"epochs": 10, "optimizer": "gd"})
    assert set(derived.space.names) == {"learning_rate", "epochs", "optimizer"}
    derived = derive_space(space, "variance", current={"l2": 0.0})
    assert set(derived.space.names) == {"learning_rate", "l2"}


def test_a_regularizer_fixed_by_the_project_is_switched_off_for_bias():
    space = SearchSpace.from_yaml(
        "parameters:\n  hidden_units: {distribution: int_log_uniform, min: 8, max: 16}\n"
    )
    derived = derive_space(space, "avoidable_bias", current={"l2": 0.01, "keep_prob": 0.5})
    assert derived.space["l2"].distribution == Constant(0.0)
    assert derived.space["keep_prob"].distribution == Constant(1.0)


def test_the_yaml_explains_every_change_and_loads_back():
    derived = _derive("avoidable_bias")
    text = derived.to_yaml("# header\n")
    assert SearchSpace.from_yaml(text) == derived.space
    lines = {line.strip().split(":", 1)[0]: line for line in text.splitlines()}
    for c in derived.changes:
        assert "  # " in lines[c.name] and c.why.split(":")[0] in lines[c.name]
    assert "  # " not in lines["learning_rate"]  # untouched knobs carry no comment


def test_an_unknown_problem_is_refused():
    with pytest.raises(ValueError, match="problem"):
        derive_space(SPACE, "overfitting")


def test_capacity_names_are_model_arguments():
    from sweeplab.models import MODELS

    fields = set()
    for name in MODELS.names():
        fields |= set(MODELS.get(name).args.model_fields)
    assert set(CAPACITY) <= fields


@pytest.mark.parametrize("problem", ["avoidable_bias", "variance"])
def test_with_the_best_trials_the_other_parameters_narrow_around_them(problem):
    """Coarse to fine: what the diagnosis leaves alone narrows around the best trials (as
    refine does); the diagnosis's own knobs move exactly as without them."""
    from sweeplab.space import refine

    top = [
        {"learning_rate": 0.003, "optimizer": "gd", "hidden_units": 16, "num_layers": 1,
         "keep_prob": 0.9, "l2": 1e-4, "augment_rotate": 2.0, "batch_size": 32},
        {"learning_rate": 0.01, "optimizer": "momentum", "beta": 0.95, "hidden_units": 20,
         "num_layers": 1, "keep_prob": 0.8, "l2": 3e-4, "augment_rotate": 4.0, "batch_size": 32},
    ]  # fmt: skip
    human, train, train_dev, dev = LADDERS[problem]
    d = diagnose(human=human, train=train, train_dev=train_dev, dev=dev)
    plain = _derive(problem)
    derived = derive_space(SPACE, d.problem, current=CURRENT, limits=LIMITS, top=top)
    narrowed = refine(SPACE, top)
    moved = {c.name for c in plain.changes}
    for name in derived.space.names:
        if name in moved:  # the diagnosis's knob: as without the best trials
            assert derived.space[name] == plain.space[name]
        else:  # another: refine's range around the best trials
            assert derived.space[name] == narrowed[name], name
    lr = derived.space["learning_rate"].distribution
    assert 1e-4 < lr.low <= 0.003 and 0.01 <= lr.high < 0.1
    assert derived.space["batch_size"].distribution.values == (32,)
    notes = {c.name: c.why for c in derived.changes}
    assert "narrowed around the best 2 trials" in notes["learning_rate"]
    assert moved <= set(notes)
