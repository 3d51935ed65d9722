"""Multi-label tables: ``label: [a, b, c]`` names several 0/1 columns of a CSV; a blank cell is
an unlabeled entry (NaN), and each bad input is one clear error naming the column and row."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from sweeplab.data import DataConfig, build_splits, load_dataset, prepare_tensors
from sweeplab.errors import UserError

SPLITS = {"train": 0.6, "dev": 0.2, "test": 0.2}


def _csv(tmp_path: Path, rows: int = 40, *, bad: str | None = None) -> Path:
    rng = np.random.default_rng(0)
    lines = ["x1,x2,stop_sign,car,pedestrian"]
    for i in range(rows):
        cells = [f"{rng.normal():.3f}", f"{rng.normal():.3f}"]
        cells += ["" if (i + j) % 7 == 0 else str((i >> j) & 1) for j in range(3)]
        if bad is not None and i == 5:
            cells[3] = bad
        lines.append(",".join(cells))
    path = tmp_path / "street.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def _load(path: Path, **kw: object):
    kw.setdefault("label", ["stop_sign", "car", "pedestrian"])
    cfg = DataConfig(source=f"csv:{path.name}", splits=SPLITS, **kw)
    return cfg, load_dataset(cfg, base_dir=path.parent)


def test_label_columns_make_a_multilabel_dataset_with_nan_for_blank_cells(tmp_path):
    _, ds = _load(_csv(tmp_path))
    assert ds.multilabel and ds.classes == ["stop_sign", "car", "pedestrian"]
    assert ds.feature_names == ["x1", "x2"] and ds.X.shape == (40, 2)
    assert ds.y.shape == (40, 3) and ds.y.dtype == np.float32
    for i in range(40):
        for j in range(3):
            want = np.nan if (i + j) % 7 == 0 else float((i >> j) & 1)
            np.testing.assert_equal(ds.y[i, j], want)


def test_minus_one_is_unlabeled_as_a_blank_cell(tmp_path):
    _, ds = _load(_csv(tmp_path, bad="-1"))
    assert np.isnan(ds.y[5, 1])


def test_multilabel_csv_splits_and_tensors_keep_the_unlabeled_entries(tmp_path):
    cfg, ds = _load(_csv(tmp_path))
    manifest = build_splits(ds, cfg)
    tensors = prepare_tensors(ds, manifest)
    assert tensors.multilabel and tensors.classes == ds.classes
    got = sum(int(np.isnan(y.numpy()).sum()) for _, y in tensors.splits.values())
    assert got == int(np.isnan(ds.y).sum())  # every unlabeled entry survives, as NaN


def test_unknown_label_column_suggests_the_close_one(tmp_path):
    with pytest.raises(UserError, match="has no label column 'pedestrain'") as info:
        _load(_csv(tmp_path), label=["stop_sign", "car", "pedestrain"])
    assert "pedestrian" in info.value.suggestions and info.value.key == "data.label"


@pytest.mark.parametrize("bad", ["2", "yes", "0.5"])
def test_a_value_other_than_0_1_or_blank_names_column_and_row(tmp_path, bad):
    with pytest.raises(
        UserError, match=rf"'car' must hold 0, 1 or a blank / -1 .* row 5 has '?{bad}'?"
    ):
        _load(_csv(tmp_path, bad=bad))


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"label": []}, "label must name at least one column"),
        ({"label": ["car", "car"]}, "label must not repeat a column"),
        (
            {"label": ["car", "x1"], "features": ["x1", "x2"]},
            "features must not contain the label column 'x1'",
        ),
        (
            {"label": ["car", "pedestrian"], "classes": ["0", "1"]},
            "remove classes or name one label column",
        ),
    ],
)
def test_bad_multilabel_settings_are_one_clear_error(kw, message):
    with pytest.raises(ValidationError, match=message):
        DataConfig(source="csv:street.csv", splits=SPLITS, **kw)
