"""Image data: folders of images, resizing to image_size, class filters, the config rules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

from sweeplab.data import (
    DataConfig,
    build_splits,
    filter_classes,
    load_dataset,
    prepare_tensors,
    resize_images,
)
from sweeplab.errors import UserError

SPLITS = {"train": 0.8, "dev": 0.2}


def _digits(**extra) -> DataConfig:
    return DataConfig(source="sklearn:digits", splits=SPLITS, **extra)


def _folder(root: Path, spec: dict[str, list[tuple[str, tuple[int, int], int]]]) -> Path:
    """root/<class>/<i>.png images: (mode, (W, H), fill value) each."""
    for cls, images in spec.items():
        (root / cls).mkdir(parents=True)
        for i, (mode, size, value) in enumerate(images):
            fill = value if mode == "L" else (value, 0, 255 - value)
            Image.new(mode, size, fill).save(root / cls / f"{i}.png")
    return root


def test_digits_resized_to_32x32_keep_labels_and_constant_images() -> None:
    small = load_dataset(_digits(), base_dir=".")
    big = load_dataset(_digits(image_size=[32, 32]), base_dir=".")
    assert big.image_shape == (1, 32, 32) and big.X.shape == (len(small), 1024)
    assert big.X.dtype == np.float32
    np.testing.assert_array_equal(big.y, small.y)
    # bilinear interpolation stays within the range of the pixels it interpolates
    assert big.X.min() >= small.X.min() - 1e-5 and big.X.max() <= small.X.max() + 1e-5
    # a constant image stays constant
    flat = resize_images(
        filter_classes(small, ["0", "1"]).__class__(
            X=np.full((2, 64), 7.0, np.float32),
            y=np.array([0, 1]),
            classes=["a", "b"],
            feature_names=[f"p{i}" for i in range(64)],
            name="flat",
            ids=np.array(["0", "1"]),
            image_shape=(1, 8, 8),
        ),
        (32, 32),
    )
    np.testing.assert_allclose(flat.X, 7.0, rtol=1e-6)


def test_resized_images_reach_prepare_tensors_as_nchw() -> None:
    cfg = _digits(image_size=[16, 16])
    ds = load_dataset(cfg, base_dir=".")
    tensors = prepare_tensors(ds, build_splits(ds, cfg), image=True)
    X, _ = tensors.splits["train"]
    assert tensors.input_shape == (1, 16, 16) and tuple(X.shape[1:]) == (1, 16, 16)


def test_image_size_on_a_table_is_an_error() -> None:
    cfg = DataConfig(source="sklearn:iris", splits=SPLITS, image_size=[8, 8])
    with pytest.raises(UserError, match="image_size needs image data"):
        load_dataset(cfg, base_dir=".")


@pytest.mark.parametrize("bad", [[0, 8], [8], [8, 8, 8]])
def test_image_size_must_be_two_positive_sizes(bad) -> None:
    with pytest.raises(ValidationError):
        _digits(image_size=bad)


def test_class_filter_keeps_and_renumbers_in_the_given_order() -> None:
    full = load_dataset(_digits(), base_dir=".")
    ds = load_dataset(_digits(classes=[7, 5]), base_dir=".")
    assert ds.classes == ["7", "5"]
    assert len(ds) == int((full.y == 7).sum() + (full.y == 5).sum())
    assert set(ds.y.tolist()) == {0, 1}
    # every kept example is the same image as before, labelled with its new id
    rows = {i: k for k, i in enumerate(full.ids)}
    for x, y, i in zip(ds.X, ds.y, ds.ids, strict=True):
        k = rows[i]
        np.testing.assert_array_equal(x, full.X[k])
        assert full.classes[full.y[k]] == ds.classes[y]


def test_class_filter_rejects_unknown_and_repeated_classes() -> None:
    with pytest.raises(UserError, match="no class '12'") as err:
        load_dataset(_digits(classes=[1, 12]), base_dir=".")
    assert err.value.key == "data.classes"
    with pytest.raises(ValidationError, match="must not repeat"):
        _digits(classes=[1, 1])
    with pytest.raises(ValidationError, match="at least 2"):
        _digits(classes=[1])


def test_image_folder_grayscale(tmp_path: Path) -> None:
    root = _folder(
        tmp_path / "shapes",
        {"cat": [("L", (10, 6), 0), ("L", (10, 6), 255)], "dog": [("L", (10, 6), 51)]},
    )
    cfg = DataConfig(source="images:shapes", splits={"train": 2, "dev": 1}, stratify=False)
    ds = load_dataset(cfg, base_dir=tmp_path)
    assert ds.classes == ["cat", "dog"] and ds.y.tolist() == [0, 0, 1]
    assert ds.image_shape == (1, 6, 10)  # (C, H, W); sizes are W x H in Pillow
    np.testing.assert_allclose(ds.X.max(axis=1), [0.0, 1.0, 0.2], atol=1e-6)
    assert ds.ids.tolist() == ["cat/0.png", "cat/1.png", "dog/0.png"]
    assert root.name == ds.name


def test_image_folder_rgb_is_resized_and_channels_first(tmp_path: Path) -> None:
    _folder(
        tmp_path / "photos",
        {"a": [("RGB", (20, 20), 255), ("L", (7, 9), 0)], "b": [("RGB", (5, 5), 0)]},
    )
    cfg = DataConfig(source="images:photos", splits={"train": 2, "dev": 1}, image_size=[4, 8])
    ds = load_dataset(cfg, base_dir=tmp_path)
    assert ds.image_shape == (3, 4, 8) and ds.X.shape == (3, 96)
    img = ds.as_images()[0]  # fill (255, 0, 0): red, green, blue planes
    np.testing.assert_allclose(img[0], 1.0)
    np.testing.assert_allclose(img[1], 0.0)
    np.testing.assert_allclose(img[2], 0.0)
    np.testing.assert_allclose(ds.as_images()[1], 0.0)  # the gray image became RGB


def test_image_folder_needs_image_size_for_mixed_sizes(tmp_path: Path) -> None:
    _folder(tmp_path / "mixed", {"a": [("L", (4, 4), 0)], "b": [("L", (5, 5), 0)]})
    cfg = DataConfig(source="images:mixed", splits={"train": 0.5, "dev": 0.5})
    with pytest.raises(UserError, match="different sizes.*image_size"):
        load_dataset(cfg, base_dir=tmp_path)


def test_image_folder_errors_name_the_folder(tmp_path: Path) -> None:
    cfg = DataConfig(source="images:nowhere", splits=SPLITS)
    with pytest.raises(UserError, match="does not exist"):
        load_dataset(cfg, base_dir=tmp_path)
    _folder(tmp_path / "one", {"a": [("L", (4, 4), 0)]})
    with pytest.raises(UserError, match="at least 2"):
        load_dataset(DataConfig(source="images:one", splits=SPLITS), base_dir=tmp_path)
    (tmp_path / "one" / "empty").mkdir()
    with pytest.raises(UserError, match="holds no images"):
        load_dataset(DataConfig(source="images:one", splits=SPLITS), base_dir=tmp_path)
    (tmp_path / "one" / "empty" / "x.png").write_text("not an image")
    with pytest.raises(UserError, match="cannot read image"):
        load_dataset(DataConfig(source="images:one", splits=SPLITS), base_dir=tmp_path)


def test_image_source_config_rules() -> None:
    cfg = DataConfig(source="images:some/dir", splits=SPLITS)
    assert (cfg.scheme, cfg.location) == ("images", "some/dir")
    with pytest.raises(ValidationError, match="names no folder"):
        DataConfig(source="images:", splits=SPLITS)
    with pytest.raises(ValidationError, match="brings its own labels"):
        DataConfig(source="images:d", label="y", splits=SPLITS)
    with pytest.raises(ValidationError, match="Did you mean 'images:d'"):
        DataConfig(source="imagez:d", splits=SPLITS)
