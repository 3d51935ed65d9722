"""The sub-sections of ``data:``: split sizes, the ``target:`` domain, ``part:``.

Split sizes are fractions in (0, 1] or counts (integers >= 1); 0 or absent means "no such
split". Counts are taken first; fractions share what remains and must sum to 1, so
``{train: 0.95, train_dev: 0.05, dev: 500, test: 500}`` reads "500 each for dev and test, the
rest 95 / 5", and ``{train: 1.0, dev: 500}`` "500 for dev, the rest for train". Checks that need the data (counts <= n, no empty split) happen in
:func:`sweeplab.data.build_splits`; checks that need the data package's registries (the
degradation names) in :func:`sweeplab.data.check_data_config`.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import Field, field_validator, model_validator

from sweeplab.config._base import Schema

__all__ = [
    "SPLIT_ORDER",
    "DeriveConfig",
    "PartConfig",
    "SplitsConfig",
    "TargetConfig",
    "TargetSplitsConfig",
    "check_size",
]

SPLIT_ORDER = ("train", "train_dev", "dev", "test")


def check_size(value: Any, name: str) -> Any:
    """A split size: None / 0 (absent), a fraction in (0, 1], or an integer count >= 1."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a fraction in (0, 1] or a count >= 1, but got {value!r}")
    if value == 0:
        return None
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"{name} must be a count >= 1, but got {value}")
        if value == 1 and name == "train":  # YAML `train: 1` is an int: almost surely meant "all"
            raise ValueError("train: 1 is a count of one example; for all of them write 1.0")
        return value
    if not (math.isfinite(value) and 0.0 < value <= 1.0):
        hint = (
            f"; for a count write an integer ({int(value)})"
            if value > 1 and value.is_integer()
            else ""
        )
        raise ValueError(
            f"{name} must be a fraction in (0, 1] or a count >= 1, but got {value}{hint}"
        )
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
        return check_size(value, info.field_name)

    @model_validator(mode="after")
    def _fractions(self) -> _Sizes:
        _check_fraction_sum(self.sizes())
        if "train" not in self.sizes():
            raise ValueError("train is required, but got none")
        return self


class SplitsConfig(_Sizes):
    """``splits: {train: 0.8, train_dev: 0.05, dev: 0.075, test: 0.075}``.

    train is always required; without a target domain, dev is too. With one, these sizes divide the
    training pool (all source examples + the target's train part) into train and train_dev,
    and dev / test come from ``target.splits``.
    """

    train: int | float | None = Field(
        default=None,
        description="What the model is trained on (required). With a target domain: this share "
        "of the training pool (every source example plus the target's train part).",
    )
    train_dev: int | float | None = Field(
        default=None,
        description="Held out from the training distribution, never trained on: train_dev error "
        "minus train error is the variance. With a target: the rest of the training pool.",
    )
    dev: int | float | None = Field(
        default=None,
        description="Chooses among trials (the optimizing metric). Required without a target; "
        "with one, dev comes from target.splits and is not set here.",
    )
    test: int | float | None = Field(
        default=None,
        description="Judged once, after choosing (sweeplab report --final). With a target it "
        "comes from target.splits.",
    )


class TargetSplitsConfig(_Sizes):
    """How the target-domain examples are used; the default is the course's 50 / 25 / 25."""

    train: int | float | None = Field(
        default=0.5,
        description="Target examples added to the training pool (so the model sees the target).",
    )
    dev: int | float | None = Field(
        default=0.25, description="The dev set: target examples only (required)."
    )
    test: int | float | None = Field(
        default=0.25, description="The test set: target examples only."
    )

    @model_validator(mode="after")
    def _dev_required(self) -> TargetSplitsConfig:
        if self.dev is None:
            raise ValueError(
                "dev is required: the dev set comes from the target domain, but got dev=0"
            )
        return self


class DeriveConfig(Schema):
    """A target domain made from source examples by seeded degradations (see ``DEGRADATIONS``)."""

    degradations: list[str] = Field(
        description="Applied in order, each once: blur, downscale, low_contrast, noise."
    )
    strength: float | dict[str, float] = Field(
        default=1.0,
        description="How strong, in (0, 4]: one number for all, or per degradation, e.g. {blur: 2, noise: 0.5}.",
    )
    seed: int = Field(default=0, description="Seed of the random parts (noise, which examples).")

    @field_validator("degradations")
    @classmethod
    def _once_each(cls, names: list[str]) -> list[str]:
        # Empty and unknown names: sweeplab.data.check_data_config (it knows DEGRADATIONS).
        if len(set(names)) != len(names):
            raise ValueError(f"each degradation may be listed once, but got {names}")
        return names

    @model_validator(mode="after")
    def _strength(self) -> DeriveConfig:
        strengths = (
            self.strength if isinstance(self.strength, dict) else {"strength": self.strength}
        )
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

    domain_column: str | None = Field(
        default=None,
        description="csv / parquet: the column that names each row's domain (e.g. device). Not a "
        "feature; its values name the domains in splits and reports.",
    )
    value: str | int | None = Field(
        default=None,
        description="With domain_column: the value that marks the target rows (e.g. phone); every "
        "other row is source.",
    )
    derive: DeriveConfig | None = Field(
        default=None,
        description="Instead of domain_column: make the target from `size` source examples by "
        "seeded degradations.",
    )
    size: int | float | None = Field(
        default=None,
        description="With derive: how many source examples (count or fraction) become the target.",
    )
    splits: TargetSplitsConfig = Field(
        default=TargetSplitsConfig(),
        description="How the target examples are used: train (added to the training pool), dev, test.",
    )
    synthesize: float = Field(
        default=0.0,
        ge=0.0,
        lt=1.0,
        description="Artificial data synthesis (derive only): the share of source examples "
        "turned into target-like copies with the derive degradations; they stay in the "
        "training pool.",
    )

    @field_validator("size", mode="before")
    @classmethod
    def _size(cls, value: Any) -> Any:
        return check_size(value, "size")

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
                raise ValueError(
                    f"value is required with domain_column: the value of {self.domain_column!r} that marks target rows"
                )
            if self.size is not None:
                raise ValueError(
                    f"size is only for derive; the target is the rows where {self.domain_column} == {self.value!r}"
                )
            if self.synthesize:
                raise ValueError(
                    "synthesize needs derive: with domain_column sweeplab does not know how to "
                    "make a source example target-like; remove synthesize"
                )
        else:
            if self.value is not None:
                raise ValueError("value is only for domain_column, but got a derive target")
            if self.size is None:
                raise ValueError(
                    "size is required with derive: how many examples (or which fraction) become the target"
                )
        return self


class PartConfig(Schema):
    """Part ``index`` of ``of``: a seeded permutation of the examples cut in ``of`` pieces."""

    of: int = Field(ge=2, description="How many disjoint parts the source is cut into.")
    index: int = Field(ge=0, description="Which part this project takes, 0 .. of-1.")
    seed: int = Field(
        default=0,
        ge=0,
        description="Seed of the permutation; every project sharing the source must use the same.",
    )

    @model_validator(mode="after")
    def _index_in_range(self) -> PartConfig:
        if self.index >= self.of:
            raise ValueError(
                f"part.index < part.of must hold (parts are numbered 0 .. {self.of - 1}), "
                f"but got index={self.index}, of={self.of}"
            )
        return self
