"""SplitManifest: JSON round trip, fingerprint checks, disjointness checks, composition."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from sweeplab.data import SplitManifest, build_splits
from sweeplab.errors import UserError


def test_json_round_trip(tmp_path, digits, make_cfg):
    m = build_splits(digits, make_cfg(seed=5))
    m.to_json(tmp_path / "splits.json")
    back = SplitManifest.from_json(tmp_path / "splits.json")
    assert back == m and back.seed == 5 and back.fingerprint == digits.fingerprint()
    assert all(v.dtype == np.int64 for v in back.splits.values())


def test_fingerprint_mismatch_is_detected(digits, make_cfg):
    m = build_splits(digits, make_cfg())
    X = digits.X.copy()
    X[0, 0] += 1.0
    changed = dataclasses.replace(digits, X=X)
    with pytest.raises(UserError, match="the data changed: rebuild the splits"):
        m.check_disjoint(changed)
    relabeled = dataclasses.replace(digits, y=np.roll(digits.y, 1))
    with pytest.raises(UserError, match="fingerprint"):
        m.verify(relabeled)


def test_unreadable_manifest_is_a_user_error(tmp_path):
    (tmp_path / "bad.json").write_text(json.dumps({"splits": {}}))
    with pytest.raises(UserError, match="cannot read split manifest"):
        SplitManifest.from_json(tmp_path / "bad.json")


def test_index_overlap_is_a_hard_error(digits):
    m = SplitManifest(
        splits={"train": np.arange(0, 100), "dev": np.arange(99, 150)},
        dataset="digits",
        fingerprint=digits.fingerprint(),
        seed=0,
    )
    with pytest.raises(UserError, match="splits 'train' and 'dev' share 1 example"):
        m.check_disjoint(digits)


def test_duplicate_content_across_splits_is_a_warning(iris):
    a, b = (int(i) for i in _identical_pair(iris.X))
    m = SplitManifest(
        splits={"train": [a], "dev": [b]}, dataset="iris", fingerprint=iris.fingerprint(), seed=0
    )
    warnings = m.check_disjoint(iris)
    assert warnings == [f"iris:{a} (train) = iris:{b} (dev)"]


def _identical_pair(X):
    _, inv, counts = np.unique(X, axis=0, return_inverse=True, return_counts=True)
    return np.flatnonzero(inv.ravel() == np.flatnonzero(counts == 2)[0])


def test_composition_counts_by_split_and_class(digits, make_cfg):
    m = build_splits(digits, make_cfg())
    table = m.composition(digits)
    assert list(table.index) == ["train", "train_dev", "dev", "test"]
    assert list(table.columns) == [*digits.classes, "total"]
    assert table["total"].to_dict() == m.sizes()
    assert table.drop(columns="total").sum().tolist() == np.bincount(digits.y).tolist()


def test_manifest_rejects_out_of_range_indices():
    with pytest.raises(ValueError, match="outside 0..9"):
        SplitManifest(splits={"train": [3, 10]}, dataset="x", fingerprint="f", seed=0, n=10)
