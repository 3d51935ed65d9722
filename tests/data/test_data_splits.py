"""build_splits: disjoint, covering, seeded, stratified, sizes as asked."""

from __future__ import annotations

import numpy as np
import pytest

from sweeplab.data import build_splits
from sweeplab.errors import UserError


def _all(manifest):
    return np.concatenate(list(manifest.splits.values()))


@pytest.mark.parametrize("stratify", [True, False])
def test_splits_are_disjoint_and_cover_everything(digits, make_cfg, stratify):
    m = build_splits(digits, make_cfg(stratify=stratify))
    idx = _all(m)
    assert len(idx) == len(np.unique(idx)) == len(digits)
    assert all((np.diff(v) > 0).all() for v in m.splits.values())  # sorted
    assert m.check_disjoint(digits) == []


def test_same_seed_same_indices(digits, make_cfg):
    a, b = build_splits(digits, make_cfg(seed=7)), build_splits(digits, make_cfg(seed=7))
    assert a == b


def test_different_seed_different_split(digits, make_cfg):
    a, b = build_splits(digits, make_cfg(seed=0)), build_splits(digits, make_cfg(seed=1))
    assert a.sizes() == b.sizes()
    assert not np.array_equal(a.splits["dev"], b.splits["dev"])


def test_fraction_sizes_use_largest_remainder(digits, make_cfg):
    m = build_splits(digits, make_cfg())
    # 1797 x (0.8, 0.05, 0.075, 0.075) = 1437.6, 89.85, 134.775, 134.775 -> 1437 + 90 + 135 + 135
    assert m.sizes() == {"train": 1437, "train_dev": 90, "dev": 135, "test": 135}


@pytest.mark.parametrize("name", ["digits", "iris"])
def test_stratification_keeps_class_proportions_within_one(name, request, make_cfg):
    ds = request.getfixturevalue(name)
    m = build_splits(ds, make_cfg(f"sklearn:{name}", seed=3))
    per_class = np.bincount(ds.y) / len(ds)
    for split, idx in m.splits.items():
        got = np.bincount(ds.y[idx], minlength=ds.num_classes)
        assert np.all(np.abs(got - per_class * len(idx)) < 1.0 + 1e-9), (split, got)


def test_counts_are_exact_and_leftovers_unused(digits, make_cfg):
    m = build_splits(digits, make_cfg(splits={"train": 500, "dev": 100, "test": 100}))
    assert m.sizes() == {"train": 500, "dev": 100, "test": 100}
    assert len(np.unique(_all(m))) == 700


def test_counts_first_then_fractions_share_the_rest(digits, make_cfg):
    m = build_splits(
        digits, make_cfg(splits={"train": 0.9, "train_dev": 0.1, "dev": 300, "test": 297})
    )
    assert m.sizes() == {"train": 1080, "train_dev": 120, "dev": 300, "test": 297}


def test_train_one_point_zero_takes_the_rest(digits, make_cfg):
    m = build_splits(digits, make_cfg(splits={"train": 1.0, "dev": 200, "test": 200}))
    assert m.sizes() == {"train": 1397, "dev": 200, "test": 200}


def test_absent_and_zero_splits_are_omitted(digits, make_cfg):
    m = build_splits(digits, make_cfg(splits={"train": 0.9, "train_dev": 0, "dev": 0.1}))
    assert list(m.splits) == ["train", "dev"]


def test_counts_over_n_are_a_user_error(iris, make_cfg):
    with pytest.raises(
        UserError, match=r"splits ask for 160 examples \(train=100 \+ dev=60\), but iris has 150"
    ):
        build_splits(iris, make_cfg("sklearn:iris", splits={"train": 100, "dev": 60}))


def test_empty_split_is_a_user_error_with_a_suggestion(iris, make_cfg):
    with pytest.raises(
        UserError, match=r"split 'test' would be empty.*at least 0\.007 or a count \(test: 1\)"
    ):
        build_splits(
            iris, make_cfg("sklearn:iris", splits={"train": 0.897, "dev": 0.1, "test": 0.003})
        )


def test_identical_examples_stay_in_one_split(iris, make_cfg):
    # iris has one pair of identical rows; whatever the seed, both land in the same split
    for seed in range(20):
        m = build_splits(iris, make_cfg("sklearn:iris", seed=seed))
        assert m.check_disjoint(iris) == []
