"""Built-in data sets load offline with the documented shapes, labels and ids."""

from __future__ import annotations

import numpy as np
import pytest

from sweeplab.data import DATASETS, load_dataset


@pytest.mark.parametrize("name", DATASETS.names())
def test_every_registered_dataset_loads_with_consistent_fields(name, make_cfg, monkeypatch):
    import socket

    def no_network(*a, **k):
        raise AssertionError("loading a bundled data set must not open a socket")

    monkeypatch.setattr(socket, "socket", no_network)
    ds = load_dataset(make_cfg(name), base_dir=".")
    assert ds.X.dtype == np.float32 and ds.y.dtype == np.int64
    assert ds.X.shape == (len(ds), len(ds.feature_names))
    assert set(np.unique(ds.y)) == set(range(ds.num_classes)) and ds.num_classes >= 2
    assert len(set(ds.ids)) == len(ds) and ds.ids[0] == f"{ds.name}:0"
    assert ds.domain is None


def test_digits_are_8x8_images(digits):
    assert (len(digits), digits.image_shape, digits.classes) == (
        1797,
        (1, 8, 8),
        [str(i) for i in range(10)],
    )
    images = digits.as_images()
    assert images.shape == (1797, 1, 8, 8)
    assert np.array_equal(images[5].ravel(), digits.X[5])


def test_tables_have_no_images(iris):
    assert iris.image_shape is None
    with pytest.raises(ValueError, match="is a table"):
        iris.as_images()


def test_feature_subset_of_a_builtin_set(make_cfg):
    ds = load_dataset(
        make_cfg("sklearn:iris", features=["petal length (cm)", "sepal width (cm)"]), base_dir="."
    )
    assert ds.feature_names == ["petal length (cm)", "sepal width (cm)"] and ds.X.shape == (150, 2)


def test_unknown_feature_of_a_builtin_set_suggests(make_cfg):
    from sweeplab.errors import UserError

    with pytest.raises(UserError, match="Did you mean 'petal length \\(cm\\)'"):
        load_dataset(make_cfg("sklearn:iris", features=["petal lenght (cm)"]), base_dir=".")
