"""The ``target:`` part of ``data:``: the domain that dev and test should reflect."""

from __future__ import annotations

import math
from typing import Any

from pydantic import field_validator, model_validator

from sweeplab.config._base import Schema
from sweeplab.data._sizes import TargetSplitsConfig, check_size
from sweeplab.errors import unknown_name_error

__all__ = ["DeriveConfig", "TargetConfig"]


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
            raise ValueError(
                f"at least one degradation is needed, one of: {', '.join(DEGRADATIONS)}"
            )
        for name in names:
            if name not in DEGRADATIONS:
                raise ValueError(
                    unknown_name_error("degradation", name, DEGRADATIONS.names()).format()
                )
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

    domain_column: str | None = None
    value: str | int | None = None
    derive: DeriveConfig | None = None
    size: int | float | None = None
    splits: TargetSplitsConfig = TargetSplitsConfig()

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
        else:
            if self.value is not None:
                raise ValueError("value is only for domain_column, but got a derive target")
            if self.size is None:
                raise ValueError(
                    "size is required with derive: how many examples (or which fraction) become the target"
                )
        return self
