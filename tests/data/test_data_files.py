"""The user's CSV / Parquet files: loading, label mapping, and one clear error per bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sweeplab.data import build_splits, load_dataset
from sweeplab.errors import UserError


def _table(n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.integers(0, 5, size=n),
            "flag": rng.integers(0, 2, size=n).astype(bool),
            "species": np.array(["setosa", "virginica", "versicolor", "setosa"])[np.arange(n) % 4],
        }
    )


def _load(tmp_path, make_cfg, frame, *, name="t.csv", **kw):
    path = tmp_path / name
    if name.endswith(".csv"):
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path)
    kw.setdefault("label", "species")
    scheme = "csv" if name.endswith(".csv") else "parquet"
    return load_dataset(
        make_cfg(f"{scheme}:{name}", splits={"train": 0.5, "dev": 0.5}, **kw), base_dir=tmp_path
    )


@pytest.mark.parametrize("name", ["t.csv", "t.parquet"])
def test_file_loads_with_sorted_string_classes(tmp_path, make_cfg, name):
    frame = _table()
    ds = _load(tmp_path, make_cfg, frame, name=name)
    assert ds.classes == ["setosa", "versicolor", "virginica"]
    assert [ds.classes[i] for i in ds.y] == frame["species"].tolist()
    assert ds.feature_names == ["a", "b", "flag"] and ds.X.dtype == np.float32
    np.testing.assert_allclose(ds.X[:, 0], frame["a"].to_numpy(), rtol=1e-6)
    assert ds.ids[:3].tolist() == ["0", "1", "2"] and ds.name == "t"


def test_numeric_labels_sort_numerically(tmp_path, make_cfg):
    frame = _table().assign(species=np.arange(40) % 3 * 5)  # 0, 5, 10
    ds = _load(tmp_path, make_cfg, frame)
    assert ds.classes == ["0", "5", "10"]


def test_features_select_columns(tmp_path, make_cfg):
    ds = _load(tmp_path, make_cfg, _table(), features=["b", "a"])
    assert ds.feature_names == ["b", "a"] and ds.X.shape == (40, 2)


def test_absolute_path_ignores_base_dir(tmp_path, make_cfg):
    path = tmp_path / "abs.csv"
    _table().to_csv(path, index=False)
    ds = load_dataset(make_cfg(f"csv:{path}", label="species"), base_dir="/nonexistent")
    assert len(ds) == 40


def test_missing_label_column_names_file_and_close_match(tmp_path, make_cfg):
    with pytest.raises(UserError) as info:
        _load(tmp_path, make_cfg, _table(), label="specie")
    msg = str(info.value)
    assert "t.csv has no label column 'specie'" in msg and "Did you mean 'species'?" in msg
    assert info.value.key == "data.label"


def test_missing_feature_column(tmp_path, make_cfg):
    with pytest.raises(UserError, match="no feature column 'aa'.*Did you mean 'a'"):
        _load(tmp_path, make_cfg, _table(), features=["aa"])


def test_nan_and_inf_in_features_name_column_and_count(tmp_path, make_cfg):
    frame = _table()
    frame.loc[[3, 7], "b"] = np.nan
    frame.loc[9, "b"] = np.inf
    with pytest.raises(
        UserError, match=r"t\.csv: feature column 'b' has NaN or inf in 3 row\(s\) \(first: row 3\)"
    ):
        _load(tmp_path, make_cfg, frame)


def test_non_numeric_feature(tmp_path, make_cfg):
    frame = _table().assign(color=["red", "blue"] * 20)
    with pytest.raises(
        UserError, match=r"t\.csv: feature column 'color' is not numeric .*'red'"
    ) as info:
        _load(tmp_path, make_cfg, frame, features=["a", "color"])
    assert "leave it out of data.features" in str(info.value)


def test_non_numeric_column_without_features_says_to_list_the_numeric_ones(tmp_path, make_cfg):
    frame = _table().assign(color=["red", "blue"] * 20)
    with pytest.raises(UserError) as info:
        _load(tmp_path, make_cfg, frame)
    msg = str(info.value)
    assert "t.csv: column 'color' is not numeric (dtype " in msg and "e.g. 'red')" in msg
    assert (
        "without data.features every column but the label and the domain column is a feature" in msg
    )
    assert "data.features: [a, b, flag]" in msg and "leave it out" not in msg


def test_missing_label_lists_every_column_of_the_file(tmp_path, make_cfg):
    frame = pd.DataFrame({f"c{i}": [0, 1] * 20 for i in range(20)}).assign(species=["x", "y"] * 20)
    with pytest.raises(UserError) as info:
        _load(tmp_path, make_cfg, frame, label="klass")
    msg = str(info.value)
    listed = ", ".join([*(f"c{i}" for i in range(20)), "species"])
    assert msg.endswith(f"has no label column 'klass'; its 21 columns are: {listed}")
    wide = pd.DataFrame({f"c{i}": [0, 1] * 20 for i in range(50)})
    with pytest.raises(UserError) as info:
        _load(tmp_path, make_cfg, wide, label="klass")
    assert "c23, (20 more), c44, c45, c46, c47, c48, c49" in str(info.value)
    assert not str(info.value).endswith(".")


def test_single_class(tmp_path, make_cfg):
    with pytest.raises(
        UserError, match=r"t\.csv: label column 'species' has a single class 'setosa'"
    ):
        _load(tmp_path, make_cfg, _table().assign(species="setosa"))


def test_missing_labels(tmp_path, make_cfg):
    frame = _table()
    frame.loc[5, "species"] = None
    with pytest.raises(
        UserError, match=r"label column 'species' is empty in 1 row\(s\) \(first: row 5\)"
    ):
        _load(tmp_path, make_cfg, frame)


def test_too_few_examples_for_the_splits(tmp_path, make_cfg):
    path = tmp_path / "small.csv"
    _table(6).to_csv(path, index=False)
    cfg = make_cfg("csv:small.csv", label="species", splits={"train": 5, "dev": 2})
    ds = load_dataset(cfg, base_dir=tmp_path)
    with pytest.raises(UserError, match="splits ask for 7 examples .* but small has 6"):
        build_splits(ds, cfg)


def test_missing_file(tmp_path, make_cfg):
    with pytest.raises(UserError, match=r"data file .*nope\.csv does not exist"):
        load_dataset(make_cfg("csv:nope.csv", label="y"), base_dir=tmp_path)


@pytest.mark.parametrize(
    ("name", "content"),
    [("bad.parquet", b"not parquet at all"), ("bad.csv", b'a,b\n1,2\n\x00\xff,"unterminated\n')],
)
def test_unreadable_file(tmp_path, make_cfg, name, content):
    (tmp_path / name).write_bytes(content)
    scheme = name.rsplit(".", 1)[1]
    with pytest.raises(UserError, match=rf"cannot read .*{name} as {scheme}"):
        load_dataset(make_cfg(f"{scheme}:{name}", label="b"), base_dir=tmp_path)
