"""``task_args:`` of a project: each vision task's own settings, searchable by name.

A search-space parameter whose name is a field of the task's schema is routed here (the
third group beside model arguments and training settings).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from sweeplab.config._base import Schema
from sweeplab.training._style import StyleArgs
from sweeplab.training._tasks._detection import DetectionArgs
from sweeplab.training._tasks._verification import SiameseArgs

__all__ = [
    "TASK_ARGS",
    "LandmarkArgs",
    "LocalizationArgs",
    "SegmentationArgs",
    "VerificationArgs",
    "task_args_schema",
]


class SegmentationArgs(Schema):
    """The segmentation loop has no settings beyond the model's and the training ones."""


class LocalizationArgs(Schema):
    """Classification with localization: the loss's weight of the box term."""

    lambda_box: float = Field(
        default=1.0,
        gt=0.0,
        description="Weight of the box's squared error against the p_c and class terms "
        "(counted only where an object is present).",
    )


class LandmarkArgs(Schema):
    """The landmark loop has no settings beyond the model's and the training ones."""


class VerificationArgs(SiameseArgs):
    """Triplet loss with mining, or the binary head on ``|f(x_i) − f(x_j)|``."""

    head: Literal["triplet", "binary"] = Field(
        default="triplet",
        description="triplet: the triplet loss with margin α; binary: logistic regression on the pair.",
    )
    one_shot_distractors: float = Field(
        default=0.25,
        ge=0.0,
        lt=1.0,
        description="Share of dev identities kept out of the one-shot database (answer: not recognized).",
    )


TASK_ARGS: dict[str, type[Schema]] = {
    "detection": DetectionArgs,
    "segmentation": SegmentationArgs,
    "verification": VerificationArgs,
    "localization": LocalizationArgs,
    "landmarks": LandmarkArgs,
    "style_transfer": StyleArgs,
}


def task_args_schema(task: str | None) -> type[Schema] | None:
    """The ``task_args`` schema of ``task``; None for the classification tasks."""
    return TASK_ARGS.get(task or "")
