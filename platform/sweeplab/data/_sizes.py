"""Split sizes: fractions in (0, 1] or counts (integers >= 1); 0 or absent means "no such split".

Counts are taken first; fractions share what remains and must sum to 1, so
``{train: 0.95, train_dev: 0.05, dev: 500, test: 500}`` reads "500 each for dev and test, the
rest 95 / 5", and ``{train: 1.0, dev: 500}`` "500 for dev, the rest for train". Checks that need the data (counts <= n, no empty split) happen in
:func:`sweeplab.data.build_splits`.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import field_validator, model_validator

from sweeplab.config._base import Schema

__all__ = ["SPLIT_ORDER", "SplitsConfig", "TargetSplitsConfig", "check_size"]

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
            raise ValueError(
                "dev is required: the dev set comes from the target domain, but got dev=0"
            )
        return self
