"""Normalizer (train statistics only) and prepare_tensors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sweeplab.data import Normalizer, build_splits, prepare_tensors


def test_normalizer_uses_train_statistics_only(digits, make_cfg):
    m = build_splits(digits, make_cfg())
    st = prepare_tensors(digits, m)
    train = digits.X[m.splits["train"]].astype(np.float64)
    mean = train.mean(axis=0)
    std = np.sqrt(((train - mean) ** 2).mean(axis=0))  # after subtracting the mean, 1/m
    std[std == 0] = 1.0
    np.testing.assert_array_equal(st.normalizer.mean, mean)
    np.testing.assert_array_equal(st.normalizer.std, std)
    assert not np.allclose(st.normalizer.mean, digits.X.mean(axis=0))
    X_train = st.splits["train"][0].numpy()
    np.testing.assert_allclose(X_train.mean(axis=0), 0.0, atol=1e-5)
    moving = std != 1.0
    np.testing.assert_allclose(X_train.std(axis=0)[moving], 1.0, rtol=1e-4)


def test_constant_columns_get_std_one():
    X = np.array([[1.0, 5.0], [3.0, 5.0]])
    norm = Normalizer.fit(X)
    assert norm.std.tolist() == [1.0, 1.0] and norm.transform(X).tolist() == [
        [-1.0, 0.0],
        [1.0, 0.0],
    ]


def test_normalizer_dict_round_trip():
    norm = Normalizer.fit(np.random.default_rng(0).normal(size=(20, 3)))
    back = Normalizer.from_dict(norm.to_dict())
    np.testing.assert_array_equal(back.mean, norm.mean)
    np.testing.assert_array_equal(back.std, norm.std)


def test_tensors_match_the_manifest(digits, make_cfg):
    m = build_splits(digits, make_cfg())
    st = prepare_tensors(digits, m, normalize=False)
    for name, idx in m.splits.items():
        X, y = st.splits[name]
        assert X.dtype == torch.float32 and y.dtype == torch.int64
        assert torch.equal(X, torch.from_numpy(digits.X[idx])) and torch.equal(
            y, torch.from_numpy(digits.y[idx])
        )
    assert (st.input_shape, st.num_classes, st.sizes()) == ((64,), 10, m.sizes())


def test_image_tensors(digits, make_cfg):
    m = build_splits(digits, make_cfg())
    st = prepare_tensors(digits, m, image=True)
    assert st.input_shape == (1, 8, 8) and st.splits["dev"][0].shape == (135, 1, 8, 8)
    flat = prepare_tensors(digits, m)
    assert torch.equal(st.splits["dev"][0].reshape(135, 64), flat.splits["dev"][0])


def test_image_tensors_of_a_table_are_refused(iris, make_cfg):
    m = build_splits(iris, make_cfg("sklearn:iris"))
    with pytest.raises(ValueError, match="is a table"):
        prepare_tensors(iris, m, image=True)


def test_tensors_refuse_a_manifest_of_other_data(digits, iris, make_cfg):
    from sweeplab.errors import UserError

    with pytest.raises(UserError, match="fingerprint"):
        prepare_tensors(iris, build_splits(digits, make_cfg()))
