"""A target domain (data mismatch, the course's "option 2"): derived by degradations or marked in a file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sweeplab.data import (
    DataConfig,
    DeriveConfig,
    build_splits,
    degrade,
    load_dataset,
    prepare_tensors,
    quality_tags,
    row_hashes,
)
from sweeplab.errors import UserError

DERIVE = {
    "degradations": ["blur", "noise", "downscale", "low_contrast"],
    "strength": 1.0,
    "seed": 0,
}


def _cfg(**target: object) -> DataConfig:
    target = {
        "derive": DERIVE,
        "size": 600,
        "splits": {"train": 200, "dev": 200, "test": 200},
        **target,
    }
    return DataConfig(
        source="sklearn:digits", target=target, splits={"train": 0.95, "train_dev": 0.05}, seed=0
    )


@pytest.fixture(scope="module")
def derived():
    cfg = _cfg()
    ds = load_dataset(cfg, base_dir=".")
    return cfg, ds, build_splits(ds, cfg)


def test_derived_target_replaces_size_examples_in_place(derived, digits):
    _, ds, _ = derived
    target = ds.domain == "target"
    assert target.sum() == 600 and set(ds.domain) == {"source", "target"}
    np.testing.assert_array_equal(ds.ids, digits.ids)  # each underlying example once, same id
    np.testing.assert_array_equal(ds.X[~target], digits.X[~target])
    assert (np.abs(ds.X[target] - digits.X[target]).sum(axis=1) > 0).all()
    assert ds.X.min() >= 0.0 and ds.X.max() <= 16.0 + 1e-5


def test_target_is_stratified_by_class(derived, digits):
    _, ds, _ = derived
    share = np.bincount(digits.y) / len(digits) * 600
    assert np.all(np.abs(np.bincount(ds.y[ds.domain == "target"]) - share) < 1.0)


def test_dev_and_test_hold_target_only(derived):
    _, ds, m = derived
    assert m.sizes()["dev"] == m.sizes()["test"] == 200
    for split in ("dev", "test"):
        assert set(ds.domain[m.splits[split]]) == {"target"}


def test_training_pool_is_all_source_plus_requested_target(derived):
    _, ds, m = derived
    pool = np.concatenate([m.splits["train"], m.splits["train_dev"]])
    assert len(np.unique(pool)) == len(pool)
    np.testing.assert_array_equal(
        np.sort(pool[ds.domain[pool] == "source"]), np.flatnonzero(ds.domain == "source")
    )
    assert (ds.domain[pool] == "target").sum() == 200
    # train_dev is carved from the pool: it has the pool's share of target examples (±1 per class)
    td = m.splits["train_dev"]
    expected = 200 / len(pool) * len(td)
    assert abs((ds.domain[td] == "target").sum() - expected) <= ds.num_classes


def test_no_content_hash_in_two_splits(derived):
    _, ds, m = derived
    hashes = row_hashes(ds.X)
    seen: dict[str, str] = {}
    for split, idx in m.splits.items():
        for h in set(hashes[idx]):
            assert seen.setdefault(h, split) == split
    assert m.check_disjoint(ds) == []


def test_composition_has_a_domain_level(derived):
    _, ds, m = derived
    table = m.composition(ds)
    assert table.index.names == ["split", "domain"]
    assert table.loc[("dev", "target"), "total"] == 200
    assert ("dev", "source") not in table.index


def test_degradations_are_seeded(digits):
    images = digits.as_images()[:50]
    cfg = DeriveConfig(**DERIVE)
    a, b = degrade(images, cfg, value_range=(0, 16)), degrade(images, cfg, value_range=(0, 16))
    np.testing.assert_array_equal(a, b)
    other = degrade(images, DeriveConfig(**{**DERIVE, "seed": 1}), value_range=(0, 16))
    assert not np.array_equal(a, other)
    again = load_dataset(_cfg(), base_dir=".")
    assert again.fingerprint() == load_dataset(_cfg(), base_dir=".").fingerprint()


def test_model_trained_mostly_on_clean_digits_errs_clearly_more_on_target(derived):
    from sklearn.linear_model import LogisticRegression

    _, ds, m = derived
    st = prepare_tensors(ds, m)
    X, y = (t.numpy() for t in st.splits["train"])
    clf = LogisticRegression(max_iter=500).fit(X, y)
    error = {k: 1 - clf.score(Xs.numpy(), ys.numpy()) for k, (Xs, ys) in st.splits.items()}
    assert error["dev"] > error["train_dev"] + 0.15, error
    assert error["test"] > error["train_dev"] + 0.15, error


def test_target_count_too_large(make_cfg):
    cfg = _cfg(size=1797)
    with pytest.raises(UserError, match="target.size must leave at least one example"):
        load_dataset(cfg, base_dir=".")


def test_target_splits_larger_than_target(make_cfg):
    cfg = _cfg(size=100)
    ds = load_dataset(cfg, base_dir=".")
    with pytest.raises(
        UserError, match="splits ask for 600 examples .* but the target domain has 100"
    ):
        build_splits(ds, cfg)


def test_image_degradation_on_a_table_is_refused():
    cfg = DataConfig(
        source="sklearn:wine",
        target={"derive": {"degradations": ["blur"]}, "size": 0.3},
        splits={"train": 1.0},
    )
    with pytest.raises(UserError, match="blur need images, but wine is a table"):
        load_dataset(cfg, base_dir=".")


def test_noise_target_of_a_table(make_cfg):
    cfg = DataConfig(
        source="sklearn:wine",
        target={"derive": {"degradations": ["noise"]}, "size": 0.4},
        splits={"train": 1.0},
    )
    ds = load_dataset(cfg, base_dir=".")
    m = build_splits(ds, cfg)
    assert (ds.domain == "target").sum() == round(0.4 * 178)
    clean = load_dataset(
        DataConfig(source="sklearn:wine", splits={"train": 0.5, "dev": 0.5}), base_dir="."
    )
    target = ds.domain == "target"
    # noise is scaled per column (proline ~1000s, hue ~1) and clipped to each column's range
    assert (ds.X[target] >= clean.X.min(axis=0) - 1e-3).all() and (
        ds.X[target] <= clean.X.max(axis=0) + 1e-3
    ).all()
    moved = np.abs(ds.X[target] - clean.X[target]) / (clean.X.max(axis=0) - clean.X.min(axis=0))
    assert 0.05 < moved.mean() < 0.3
    assert set(ds.domain[m.splits["dev"]]) == {"target"} and "train_dev" not in m.splits


def _photos(tmp_path):
    rng = np.random.default_rng(0)
    n = 120
    frame = pd.DataFrame(
        {
            "x1": rng.normal(size=n),
            "x2": rng.normal(size=n),
            "device": np.where(np.arange(n) < 80, "web", "phone"),
            "label": np.array(["cat", "dog"])[np.arange(n) % 2],
        }
    )
    frame.to_csv(tmp_path / "photos.csv", index=False)


def test_domain_column_marks_the_target(tmp_path):
    _photos(tmp_path)
    cfg = DataConfig(
        source="csv:photos.csv",
        label="label",
        target={
            "domain_column": "device",
            "value": "phone",
            "splits": {"train": 20, "dev": 10, "test": 10},
        },
        splits={"train": 0.9, "train_dev": 0.1},
    )
    ds = load_dataset(cfg, base_dir=tmp_path)
    assert ds.feature_names == ["x1", "x2"]
    assert (ds.domain == "target").sum() == 40 and np.array_equal(
        ds.domain == "target", np.arange(120) >= 80
    )
    m = build_splits(ds, cfg)
    assert set(ds.domain[m.splits["dev"]]) == set(ds.domain[m.splits["test"]]) == {"target"}
    assert (
        ds.domain[np.concatenate([m.splits["train"], m.splits["train_dev"]])] == "target"
    ).sum() == 20
    # the composition (sweeplab splits, reports) names the column's own values
    assert ds.domain_names == {"source": "web", "target": "phone"}
    comp = m.composition(ds)
    assert set(comp.index.get_level_values("domain")) == {"web", "phone"}
    assert comp.loc[("dev", "phone"), "total"] == 10 and ("dev", "web") not in comp.index


def test_unknown_domain_value_suggests(tmp_path):
    _photos(tmp_path)
    cfg = DataConfig(
        source="csv:photos.csv",
        label="label",
        target={"domain_column": "device", "value": "phnoe"},
        splits={"train": 1.0},
    )
    with pytest.raises(
        UserError, match="no row of .*photos.csv has device == 'phnoe'.*Did you mean 'phone'"
    ):
        load_dataset(cfg, base_dir=tmp_path)


def test_quality_tags_flag_degraded_images(digits):
    images = digits.as_images()[:200]
    clean = quality_tags(images, value_range=(0, 16))
    assert not clean[["blurry", "dark", "low_contrast"]].to_numpy().any()
    blurred = quality_tags(
        degrade(images, DeriveConfig(degradations=["blur"]), value_range=(0, 16)),
        value_range=(0, 16),
    )
    assert blurred["blurry"].all() and (blurred["sharpness"] < clean["sharpness"]).all()
    faint = quality_tags(
        degrade(images, DeriveConfig(degradations=["low_contrast"]), value_range=(0, 16)),
        value_range=(0, 16),
    )
    assert faint["low_contrast"].all() and not faint["blurry"].any()
    dark = quality_tags(images * 0.3, value_range=(0, 16))
    assert dark["dark"].all()
    assert list(clean.columns) == [
        "sharpness",
        "brightness",
        "contrast",
        "blurry",
        "dark",
        "low_contrast",
    ]


def test_quality_tags_reject_non_images():
    with pytest.raises(ValueError, match=r"\(n, C, H, W\)"):
        quality_tags(np.zeros((4, 64)))
