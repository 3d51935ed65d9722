"""The ``data:`` section of a project file: where the examples come from and how they are split.

The schemas only: what they can check alone (the form of ``source``, numbers, keys and how
the keys fit together). Whether a named source or degradation exists is checked by
:func:`sweeplab.data.check_data_config`, which knows the data package's registries; the YAML
examples are in :mod:`sweeplab.data`'s docstring.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

from pydantic import Field, field_validator, model_validator

from sweeplab.config._base import Schema
from sweeplab.config._data_parts import (
    SPLIT_ORDER,
    DeriveConfig,
    PartConfig,
    SplitsConfig,
    TargetConfig,
    TargetSplitsConfig,
    check_size,
)
from sweeplab.errors import close_matches

__all__ = [
    "FILE_SCHEMES",
    "GENERATED_SCHEME",
    "IMAGE_SCHEMES",
    "SPLIT_ORDER",
    "DataConfig",
    "DeriveConfig",
    "PartConfig",
    "SplitsConfig",
    "StyleImagesConfig",
    "TargetConfig",
    "TargetSplitsConfig",
    "check_size",
    "parse_source",
]

FILE_SCHEMES = ("csv", "parquet")
IMAGE_SCHEMES = ("images",)  # images:ROOT, one sub-folder of images per class
GENERATED_SCHEME = "generated"  # generated:NAME, made in memory (data/_task_data.py)
_SUFFIX_SCHEMES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


class StyleImagesConfig(Schema):
    """``data.style_images`` of a style-transfer project: the content and the style image."""

    content: str = Field(
        description="skimage:NAME (a sample bundled with scikit-image), generated:stripes, or an image file."
    )
    style: str = Field(description="Same forms as content.")
    size: int = Field(
        default=32,
        ge=8,
        le=512,
        description="Both images are centre-cropped and resized to size×size.",
    )


class DataConfig(Schema):
    """``data:`` of a project file. See the package docstring for YAML examples."""

    source: str = Field(
        description="Where the examples come from: sklearn:NAME (digits, breast_cancer, iris, wine), "
        "csv:PATH or parquet:PATH (your table; a relative PATH is relative to the project file), "
        "images:FOLDER (one sub-folder of images per class), or generated:NAME."
    )
    label: str | list[str] | None = Field(
        default=None,
        description="csv / parquet: the column that holds each row's class; for multi-label, a "
        "list of 0/1 columns (a blank cell = not labeled for that label).",
    )
    features: list[str] | None = Field(
        default=None,
        description="csv / parquet: the numeric columns the model reads. Default: every column but "
        "the label and target.domain_column (a domain column is never a feature).",
    )
    splits: SplitsConfig = Field(
        description="Sizes of train / train_dev / dev / test (fractions or counts). With a target "
        "domain they cut the training pool into train and train_dev (below)."
    )
    stratify: bool = Field(
        default=True,
        description="Keep each class's share the same in every split (multi-label: each pattern of labels).",
    )
    seed: int = Field(default=0, description="Seed of the split: same seed, same split.")
    normalize: bool = Field(
        default=True,
        description="Standardize features with the train split's mean and standard deviation.",
    )
    target: TargetConfig | None = Field(
        default=None,
        description="The target domain (data mismatch): dev and test come from it only (below).",
    )
    image_size: tuple[int, int] | None = Field(
        default=None,
        description="Resize every image to [H, W] once, at load (bilinear), e.g. 8x8 digits to "
        "[32, 32]; required for images:FOLDER unless all images have one size.",
    )
    classes: list[str] | None = Field(
        default=None,
        description="Keep only these classes (names or ids as the source names them), renumbered 0..k-1.",
    )
    part: PartConfig | None = Field(
        default=None,
        description="Take one of `of` disjoint seeded parts of the source (before classes and "
        "splits), so that two projects (pre-training / fine-tuning) never share an example.",
    )
    degrade: DeriveConfig | None = Field(
        default=None,
        description="Degrade every example (after part and classes, before the splits): the whole "
        "project is e.g. noisy scans. target.derive, by contrast, degrades only the target.",
    )
    generate: dict[str, Any] | None = Field(
        default=None,
        description="generated:NAME only: the generator's keyword arguments (n, image_size, noise, seed, …).",
    )
    style_images: StyleImagesConfig | None = Field(
        default=None, description="style_transfer only: the content and the style image."
    )

    @field_validator("image_size")
    @classmethod
    def _image_size(cls, size: tuple[int, int] | None) -> tuple[int, int] | None:
        if size is not None and min(size) < 1:
            raise ValueError(f"image_size [H, W] must be >= 1 each, but got {list(size)}")
        return size

    @field_validator("classes", mode="before")
    @classmethod
    def _classes(cls, classes: object) -> object:
        if isinstance(classes, list):
            if len(classes) < 2:
                raise ValueError(f"classes must name at least 2 classes, but got {classes}")
            names = [str(c) for c in classes]
            if len(set(names)) != len(names):
                raise ValueError(f"classes must not repeat a class, but got {classes}")
            return names
        return classes

    @field_validator("label")
    @classmethod
    def _label(cls, label: str | list[str] | None) -> str | list[str] | None:
        if isinstance(label, list):
            if not label:
                raise ValueError("label must name at least one column, but got []")
            if len(set(label)) != len(label):
                raise ValueError(f"label must not repeat a column, but got {label}")
        return label

    @field_validator("source")
    @classmethod
    def _source(cls, source: str) -> str:
        parse_source(source)  # raises ValueError for a malformed source (close matches)
        return source.strip()

    @model_validator(mode="after")
    def _rules(self) -> DataConfig:
        scheme, _ = parse_source(self.source)
        if self.generate is not None and scheme != GENERATED_SCHEME:
            raise ValueError(
                f"generate is set, but {self.source} is not a generated:NAME source; remove generate"
            )
        if scheme == GENERATED_SCHEME:
            unsupported = [
                k for k in ("target", "classes", "part", "degrade") if getattr(self, k) is not None
            ]
            if unsupported:
                raise ValueError(
                    f"{self.source} does not support {' or '.join(unsupported)}; remove "
                    f"{'it' if len(unsupported) == 1 else 'them'}"
                )
        if scheme in FILE_SCHEMES and self.label is None:
            raise ValueError(
                f"label is required for a {scheme} source: name the column that holds the class"
            )
        if scheme not in FILE_SCHEMES and self.label is not None:
            raise ValueError(f"label is set, but {self.source} brings its own labels; remove label")
        labels = self.label_columns
        if isinstance(self.label, list) and self.classes is not None:
            raise ValueError(
                "classes keeps some classes of one label column, but label names several "
                f"(multi-label: {self.label}); remove classes or name one label column"
            )
        if isinstance(self.label, list) and self.target is not None and self.target.derive:
            raise ValueError(
                "target.derive draws a target stratified by one class per example, but label "
                f"names several columns (multi-label: {self.label}); use target.domain_column"
            )
        if self.features is not None:
            if not self.features:
                raise ValueError("features must name at least one column, but got []")
            if both := [c for c in labels if c in self.features]:
                raise ValueError(f"features must not contain the label column {both[0]!r}")
        sizes = self.splits.sizes()
        if self.target is None:
            if "dev" not in sizes:
                raise ValueError(
                    "splits.dev is required (dev is what the sweep optimizes), but got none"
                )
            return self
        extra = [k for k in ("dev", "test") if k in sizes]
        if extra:
            raise ValueError(
                f"with a target, dev and test come from the target domain: move {', '.join(extra)} "
                "to target.splits (splits holds only train and train_dev of the training pool)"
            )
        if self.target.domain_column is not None:
            if scheme not in FILE_SCHEMES:
                raise ValueError(
                    f"target.domain_column needs a csv or parquet source, but got {self.source}"
                )
            if self.target.domain_column in labels:
                raise ValueError("target.domain_column must differ from label")
            if self.features and self.target.domain_column in self.features:
                raise ValueError("features must not contain target.domain_column")
        return self

    @property
    def label_columns(self) -> list[str]:
        """The label column(s) of a file source: [] / [label] / the multi-label list."""
        if self.label is None:
            return []
        return [self.label] if isinstance(self.label, str) else list(self.label)

    @property
    def scheme(self) -> str:
        return parse_source(self.source)[0]

    @property
    def location(self) -> str:
        """The path of a file source, or the dataset name of a built-in one."""
        return parse_source(self.source)[1]


def parse_source(source: str) -> tuple[str, str]:
    """``"csv:a/b.csv"`` -> ``("csv", "a/b.csv")``; ``"sklearn:digits"`` -> ``("sklearn", "digits")``.

    By its form alone: ``scheme:location``, or a bare path ending in .csv / .parquet / .pq.
    Raises ``ValueError`` for a file or image source that names nothing and for a misspelled
    kind (with the close match). Whether a built-in data set (``sklearn:digits``) or a
    ``generated:NAME`` exists is for :func:`sweeplab.data.check_data_config` to say.
    """
    source = source.strip()
    scheme, sep, rest = source.partition(":")
    if sep and scheme in FILE_SCHEMES:
        if not rest.strip():
            raise ValueError(
                f"source {source!r} names no file; write {scheme}:path/to/file.{scheme}"
            )
        return scheme, rest.strip()
    if sep and scheme in IMAGE_SCHEMES:
        if not rest.strip():
            raise ValueError(f"source {source!r} names no folder; write images:path/to/root")
        return scheme, rest.strip()
    if sep and scheme == GENERATED_SCHEME:
        return scheme, rest.strip()
    kinds = FILE_SCHEMES + IMAGE_SCHEMES
    if sep and scheme not in kinds and (near := close_matches(scheme, kinds)):
        raise ValueError(
            f"unknown source kind {scheme!r} in {source!r}; expected csv:PATH, parquet:PATH or "
            "images:DIR. "
            f"Did you mean '{near[0]}:{rest}'?"
        )
    suffix = PurePath(source).suffix.lower()
    if suffix in _SUFFIX_SCHEMES:
        return _SUFFIX_SCHEMES[suffix], source
    return scheme, rest  # a built-in data set's name, e.g. sklearn:digits
