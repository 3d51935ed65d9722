"""Multi-label data: the generated shapes set, and splits / manifests / tensors that keep NaN."""

from __future__ import annotations

import numpy as np
import pytest

from sweeplab.data import (
    DataConfig,
    Dataset,
    SplitManifest,
    build_splits,
    load_dataset,
    prepare_tensors,
)
from sweeplab.data._multilabel import shapes_multilabel

SPLITS = {"train": 0.6, "train_dev": 0.1, "dev": 0.15, "test": 0.15}


@pytest.fixture(scope="module")
def cfg() -> DataConfig:
    return DataConfig(
        source="generated:shapes_multilabel",
        generate={"n": 300, "image_size": 12},
        splits=SPLITS,
        seed=3,
    )


@pytest.fixture(scope="module")
def ds(cfg: DataConfig) -> Dataset:
    return load_dataset(cfg, base_dir=".")


def test_the_source_makes_seeded_multilabel_images(ds: Dataset) -> None:
    assert ds.multilabel and ds.classes == ["rectangle", "ellipse", "triangle"]
    assert ds.X.shape == (300, 3 * 12 * 12) and ds.image_shape == (3, 12, 12)
    assert ds.y.shape == (300, 3) and ds.y.dtype == np.float32
    known = ds.y[~np.isnan(ds.y)]
    assert set(np.unique(known).tolist()) == {0.0, 1.0}
    assert 0.12 < np.isnan(ds.y).mean() < 0.28  # unlabeled: 0.2 of the entries, independently
    assert 0.2 < known.mean() < 0.6  # every label present in some scenes, absent in others
    again = shapes_multilabel(300, image_size=12, seed=3)  # data.seed seeds the generator
    assert np.array_equal(again.X, ds.X) and np.array_equal(again.y, ds.y, equal_nan=True)
    other = shapes_multilabel(300, image_size=12, seed=4)
    assert not np.array_equal(other.X, ds.X)


def test_labels_say_which_shapes_are_in_the_scene() -> None:
    from sweeplab.data import shapes_detection

    full = shapes_multilabel(40, image_size=12, unlabeled=0.0, seed=5)
    scenes = shapes_detection(
        40, image_size=12, min_objects=0, max_objects=3, min_size=0.3, max_size=0.6, seed=5
    )
    for i, classes in enumerate(scenes.classes):
        assert full.y[i].tolist() == [float(k in classes) for k in range(3)]


def test_splits_keep_nan_targets_and_are_disjoint(ds: Dataset, cfg: DataConfig) -> None:
    m = build_splits(ds, cfg)
    idx = np.concatenate(list(m.splits.values()))
    assert len(idx) == len(np.unique(idx)) == len(ds)
    assert m == build_splits(ds, cfg)  # same seed, same split
    tensors = prepare_tensors(ds, m, image=True)
    assert tensors.multilabel and tensors.classes == ds.classes and tensors.num_classes == 3
    for name, (X, y) in tensors.splits.items():
        assert X.shape[1:] == (3, 12, 12) and y.shape == (len(m.splits[name]), 3)
        assert np.array_equal(y.numpy(), ds.y[m.splits[name]], equal_nan=True)  # NaN kept in place
        assert np.isnan(y.numpy()).any()
    # stratified by the pattern of 1 / 0 / unlabeled: every split has about the same share
    shares = [np.isnan(ds.y[v]).mean() for v in m.splits.values()]
    assert max(shares) - min(shares) < 0.08


def test_manifest_round_trips_and_counts_per_label(ds: Dataset, cfg: DataConfig, tmp_path) -> None:
    m = build_splits(ds, cfg)
    m.to_json(tmp_path / "splits.json")
    back = SplitManifest.from_json(tmp_path / "splits.json")
    assert back == m
    back.verify(ds)  # the fingerprint covers the NaN targets
    table = m.composition(ds)
    assert list(table.columns) == ["rectangle", "ellipse", "triangle", "unlabeled", "total"]
    dev = m.splits["dev"]
    assert table.loc["dev", "ellipse"] == int(np.nansum(ds.y[dev, 1]))
    assert table.loc["dev", "unlabeled"] == int(np.isnan(ds.y[dev]).sum())
    assert table["total"].sum() == len(ds)


def test_a_changed_unlabeled_entry_changes_the_fingerprint(ds: Dataset) -> None:
    from dataclasses import replace

    y = ds.y.copy()
    i, j = np.argwhere(np.isnan(y))[0]
    y[i, j] = 0.0
    assert replace(ds, y=y).fingerprint() != ds.fingerprint()


def test_multilabel_targets_are_validated(ds: Dataset) -> None:
    from dataclasses import replace

    with pytest.raises(ValueError, match="1, 0 or NaN"):
        replace(ds, y=np.where(np.isnan(ds.y), 2.0, ds.y).astype(np.float32))
    with pytest.raises(ValueError, match="one column per label"):
        replace(ds, y=ds.y[:, :2])
    with pytest.raises(TypeError, match="float32"):
        replace(ds, y=ds.y.astype(np.float64))
