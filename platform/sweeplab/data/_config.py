"""The ``data:`` section of a project file: where the examples come from and how they are split.

Sizes of splits are either fractions in (0, 1) or counts (integers >= 1); 0 or absent means
"no such split". Counts are taken first; fractions share what remains and must sum to 1, so
``{train: 0.95, train_dev: 0.05, dev: 500, test: 500}`` reads "500 each for dev and test, the
rest 95 / 5". Checks that need the data (counts <= n, no empty split) happen in
:func:`sweeplab.data.build_splits`.
"""

from __future__ import annotations

import math
from pathlib import PurePath
from typing import Any

from pydantic import field_validator, model_validator

from sweeplab.config._base import Schema
from sweeplab.errors import close_matches, unknown_name_error

__all__ = ["DataConfig", "DeriveConfig", "SplitsConfig", "TargetConfig", "TargetSplitsConfig"]

FILE_SCHEMES = ("csv", "parquet")
_SUFFIX_SCHEMES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
SPLIT_ORDER = ("train", "train_dev", "dev", "test")


def _check_size(value: Any, name: str) -> Any:
    """A split size: None / 0 (absent), a fraction in (0, 1), or an integer count >= 1."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a fraction in (0, 1) or a count >= 1, but got {value!r}")
    if value == 0:
        return None
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"{name} must be a count >= 1, but got {value}")
        return value
    if not (math.isfinite(value) and 0.0 < value < 1.0):
        hint = f"; for a count write an integer ({int(value)})" if value > 1 and value.is_integer() else ""
        raise ValueError(f"{name} must be a fraction in (0, 1) or a count >= 1, but got {value}{hint}")
    return value


def _check_fraction_sum(sizes: dict[str, int | float]) -> None:
    fractions = {k: v for k, v in sizes.items() if isinstance(v, float)}
    if not fractions:
        return
    total = sum(fractions.values())
    if abs(total - 1.0) > 1e-9:
        terms = " + ".join(f"{v:g}" for v in fractions.values())
        raise ValueError(
            f"fractions must sum to 1, but got {terms} = {total:g} "
            f"({', '.join(fractions)}); counts are taken first and fractions share the rest"
        )


class _Sizes(Schema):
    def sizes(self) -> dict[str, int | float]:
        """The requested (non-empty) splits in canonical order."""
        return {k: v for k in SPLIT_ORDER if (v := getattr(self, k, None)) is not None}

    @field_validator("*", mode="before")
    @classmethod
    def _size(cls, value: Any, info: Any) -> Any:
        return _check_size(value, info.field_name)

    @model_validator(mode="after")
    def _fractions(self) -> _Sizes:
        _check_fraction_sum(self.sizes())
        return self


class SplitsConfig(_Sizes):
    """``splits: {train: 0.8, train_dev: 0.05, dev: 0.075, test: 0.075}``.

    Without a target domain, train and dev are required. With one, these sizes divide the
    training pool (all source examples + the target's train part) into train and train_dev,
    and dev / test come from ``target.splits``.
    """

    train: int | float | None = None
    train_dev: int | float | None = None
    dev: int | float | None = None
    test: int | float | None = None


class TargetSplitsConfig(_Sizes):
    """How the target-domain examples are used; the default is the course's 50 / 25 / 25."""

    train: int | float | None = 0.5
    dev: int | float | None = 0.25
    test: int | float | None = 0.25

    @model_validator(mode="after")
    def _dev_required(self) -> TargetSplitsConfig:
        if self.dev is None:
            raise ValueError("dev is required: the dev set comes from the target domain, but got dev=0")
        return self


class DeriveConfig(Schema):
    """A target domain made from source examples by seeded degradations (see ``DEGRADATIONS``)."""

    degradations: list[str]
    strength: float | dict[str, float] = 1.0
    seed: int = 0

    @field_validator("degradations")
    @classmethod
    def _known(cls, names: list[str]) -> list[str]:
        from sweeplab.data._degrade import DEGRADATIONS

        if not names:
            raise ValueError(f"at least one degradation is needed, one of: {', '.join(DEGRADATIONS)}")
        for name in names:
            if name not in DEGRADATIONS:
                raise ValueError(unknown_name_error("degradation", name, DEGRADATIONS.names()).format())
        if len(set(names)) != len(names):
            raise ValueError(f"each degradation may be listed once, but got {names}")
        return names

    @model_validator(mode="after")
    def _strength(self) -> DeriveConfig:
        strengths = self.strength if isinstance(self.strength, dict) else {"strength": self.strength}
        for name, s in strengths.items():
            if name != "strength" and name not in self.degradations:
                raise ValueError(
                    f"strength is given for {name!r}, which is not in degradations {self.degradations}"
                )
            if not (math.isfinite(s) and 0.0 < s <= 4.0):
                raise ValueError(f"strength must be in (0, 4], but got {name}={s}")
        return self

    def strength_of(self, name: str) -> float:
        if isinstance(self.strength, dict):
            return self.strength.get(name, 1.0)
        return self.strength


class TargetConfig(Schema):
    """The target domain (the distribution dev and test should reflect).

    Either the user's file marks it (``domain_column`` + ``value``), or it is ``derive``d from
    ``size`` source examples by degradations.
    """

    domain_column: str | None = None
    value: str | int | None = None
    derive: DeriveConfig | None = None
    size: int | float | None = None
    splits: TargetSplitsConfig = TargetSplitsConfig()

    @field_validator("size", mode="before")
    @classmethod
    def _size(cls, value: Any) -> Any:
        return _check_size(value, "size")

    @model_validator(mode="after")
    def _one_kind(self) -> TargetConfig:
        if (self.domain_column is None) == (self.derive is None):
            raise ValueError(
                "a target needs exactly one of domain_column (a column of your file that names "
                "each row's domain) or derive (degradations of source examples), but got "
                f"domain_column={self.domain_column!r}, derive={'set' if self.derive else None}"
            )
        if self.domain_column is not None:
            if self.value is None:
                raise ValueError(f"value is required with domain_column: the value of {self.domain_column!r} that marks target rows")
            if self.size is not None:
                raise ValueError(f"size is only for derive; the target is the rows where {self.domain_column} == {self.value!r}")
        else:
            if self.value is not None:
                raise ValueError("value is only for domain_column, but got a derive target")
            if self.size is None:
                raise ValueError("size is required with derive: how many examples (or which fraction) become the target")
        return self


class DataConfig(Schema):
    """``data:`` of a project file. See the package docstring for YAML examples."""

    source: str
    label: str | None = None
    features: list[str] | None = None
    splits: SplitsConfig
    stratify: bool = True
    seed: int = 0
    normalize: bool = True
    target: TargetConfig | None = None

    @field_validator("source")
    @classmethod
    def _source(cls, source: str) -> str:
        parse_source(source)  # raises ValueError with close matches
        return source.strip()

    @model_validator(mode="after")
    def _rules(self) -> DataConfig:
        scheme, rest = parse_source(self.source)
        if scheme in FILE_SCHEMES and self.label is None:
            raise ValueError(f"label is required for a {scheme} source: name the column that holds the class")
        if scheme not in FILE_SCHEMES and self.label is not None:
            raise ValueError(f"label is set, but {self.source} brings its own labels; remove label")
        if self.features is not None:
            if not self.features:
                raise ValueError("features must name at least one column, but got []")
            if self.label is not None and self.label in self.features:
                raise ValueError(f"features must not contain the label column {self.label!r}")
        sizes = self.splits.sizes()
        if "train" not in sizes:
            raise ValueError("splits.train is required, but got none")
        if self.target is None:
            if "dev" not in sizes:
                raise ValueError("splits.dev is required (dev is what the sweep optimizes), but got none")
            return self
        extra = [k for k in ("dev", "test") if k in sizes]
        if extra:
            raise ValueError(
                f"with a target, dev and test come from the target domain: move {', '.join(extra)} "
                "to target.splits (splits holds only train and train_dev of the training pool)"
            )
        if self.target.domain_column is not None:
            if scheme not in FILE_SCHEMES:
                raise ValueError(f"target.domain_column needs a csv or parquet source, but got {self.source}")
            if self.target.domain_column == self.label:
                raise ValueError("target.domain_column must differ from label")
            if self.features and self.target.domain_column in self.features:
                raise ValueError("features must not contain target.domain_column")
        return self

    @property
    def scheme(self) -> str:
        return parse_source(self.source)[0]

    @property
    def location(self) -> str:
        """The path of a file source, or the dataset name of a built-in one."""
        return parse_source(self.source)[1]


def parse_source(source: str) -> tuple[str, str]:
    """``"csv:a/b.csv"`` -> ``("csv", "a/b.csv")``; ``"sklearn:digits"`` -> ``("sklearn", "digits")``.

    A bare path ending in .csv / .parquet is accepted. Raises ``ValueError`` for anything else,
    with close matches of the known names.
    """
    from sweeplab.data._sources import DATASETS

    source = source.strip()
    scheme, sep, rest = source.partition(":")
    if sep and scheme in FILE_SCHEMES:
        if not rest.strip():
            raise ValueError(f"source {source!r} names no file; write {scheme}:path/to/file.{scheme}")
        return scheme, rest.strip()
    if source in DATASETS:
        return scheme, rest
    suffix = PurePath(source).suffix.lower()
    if suffix in _SUFFIX_SCHEMES:
        return _SUFFIX_SCHEMES[suffix], source
    if sep and (near := close_matches(scheme, FILE_SCHEMES)):
        raise ValueError(
            f"unknown source kind {scheme!r} in {source!r}; expected csv:PATH or parquet:PATH. "
            f"Did you mean '{near[0]}:{rest}'?"
        )
    err = unknown_name_error("dataset", source, DATASETS.names())
    raise ValueError(_with_files(err))


def _with_files(err: Any) -> str:
    """unknown_name_error's text plus the file forms: "...: a, b, or csv:PATH, parquet:PATH."."""
    head, _, _ = err.message.rpartition(".")
    hint = f" Did you mean {', '.join(repr(s) for s in err.suggestions)}?" if err.suggestions else ""
    return f"{head}, or csv:PATH, parquet:PATH.{hint}"
