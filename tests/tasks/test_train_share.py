"""``train.train_share``: a trial trains on a stratified, nested subset of the train split, and
nothing else changes (train_dev, dev and test are the project's)."""

from __future__ import annotations

import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from sweeplab.data import nested_order
from sweeplab.errors import UserError
from sweeplab.tasks import load_project, prepare_context, run_trial
from sweeplab.training import TrainConfig
from sweeplab.training._tasks._loop import check_task_config


def test_every_prefix_of_the_order_is_stratified_and_seeded():
    strata = np.repeat([0, 1, 2, 3], [50, 30, 15, 5])
    np.random.default_rng(1).shuffle(strata)
    order = nested_order(strata, seed=7)
    assert sorted(order) == list(range(len(strata)))  # a permutation
    n_c = np.bincount(strata)
    for k in range(1, len(strata) + 1):
        counts = np.bincount(strata[order[:k]], minlength=4)
        assert np.all(np.abs(counts - k * n_c / len(strata)) <= 1), (k, counts)
    assert np.array_equal(order, nested_order(strata, seed=7))
    assert not np.array_equal(order, nested_order(strata, seed=8))


def _project(tmp_path: Path, train: str) -> Path:
    path = tmp_path / "share.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            name: share
            data:
              source: sklearn:digits
              splits: {{train: 0.6, train_dev: 0.1, dev: 0.3}}
              seed: 3
            model: {{name: mlp, hidden_units: 16, num_layers: 1}}
            train: {train}
            """
        )
    )
    return path


def test_a_trial_trains_on_exactly_its_share_of_the_train_split(tmp_path):
    ctx, _, manifest = prepare_context(load_project(_project(tmp_path, "{epochs: 3}")))
    X, y = ctx.tensors.splits["train"]
    order = nested_order(y.numpy().astype(np.int64), seed=3)
    k = round(0.25 * len(y))
    expected = torch.from_numpy(np.sort(order[:k]))
    shared = run_trial(ctx, {"train_share": 0.25}).metrics

    # the same configuration on a context whose train split is that subset: the same trial
    subset = {**ctx.tensors.splits, "train": (X[expected], y[expected])}
    alone = replace(ctx, tensors=replace(ctx.tensors, splits=subset), _device_cache={})
    by_hand = run_trial(alone, {}).metrics
    for name in ("train_error", "train_dev_error", "dev_error", "train_loss"):
        assert shared[name] == by_hand[name], name
    # and not the whole split's trial (the subset matters)
    whole = run_trial(ctx, {}).metrics
    assert whole["train_loss"] != shared["train_loss"]

    # stratified: each class's share of the subset is within 1 of its share of the split
    n_c = np.bincount(y.numpy(), minlength=10)
    got = np.bincount(y[expected].numpy(), minlength=10)
    assert np.all(np.abs(got - k * n_c / len(y)) <= 1)
    # nested: a larger share holds every example of a smaller one
    assert set(order[:k].tolist()) <= set(order[: round(0.5 * len(y))].tolist())


def test_the_project_can_set_it_and_a_task_without_it_refuses_it(tmp_path):
    pf = load_project(_project(tmp_path, "{epochs: 1, train_share: 0.1}"))
    assert pf.project.train.train_share == 0.1
    ctx, _, _ = prepare_context(pf)
    assert run_trial(ctx, {}).metrics["dev_error"] < 1.0
    with pytest.raises(UserError, match="train_share"):
        check_task_config(TrainConfig(train_share=0.5), task="detection")
    with pytest.raises(ValidationError, match="train_share"):
        TrainConfig(train_share=1.5)
