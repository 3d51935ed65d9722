"""Classification with localization: one object or none per image; the network outputs
``p_c`` (is an object there?), the box ``(b_x, b_y, b_h, b_w)`` and the class.

``dev_error`` is the share of dev images with a wrong presence, a wrong class, or a box of
IoU < 0.5; ``dev_presence_error`` and ``dev_box_iou`` (mean IoU where an object is) beside
it. The trial logs ``analysis/localization_errors.json`` (missed / wrong class / bad box by
class, false alarms on empty images).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from pydantic import Field
from torch import nn

from sweeplab.analysis import localization_error_table
from sweeplab.config import Schema
from sweeplab.tasks._context import SweepContext, TrialSetup
from sweeplab.tasks._generated import GeneratedTask
from sweeplab.tasks._result import TrialResult
from sweeplab.tasks._spec import OnEpoch, register_task
from sweeplab.tasks._tables import ReportTable, num, pct, report_table
from sweeplab.training import localization_result, train_localizer

__all__ = ["Localization", "LocalizationArgs"]


class LocalizationArgs(Schema):
    """Classification with localization: the loss's weight of the box term."""

    lambda_box: float = Field(
        default=1.0,
        gt=0.0,
        description="Weight of the box's squared error against the p_c and class terms "
        "(counted only where an object is present).",
    )


@register_task
class Localization(GeneratedTask):
    name = "localization"
    description = "one object or none per image: p_c, box and class"
    args: ClassVar = LocalizationArgs
    metrics = ("dev_presence_error", "dev_box_iou", "test_presence_error", "test_box_iou")
    headline = ("dev_presence_error", "dev_box_iou")
    error_measure = "share of images with a wrong presence (p_c), wrong class or box IoU < 0.5"
    source = "shapes_localization"
    table = "localization_errors"

    def num_outputs(self, train: Any) -> int:
        return len(train.class_names)

    def run(self, ctx: SweepContext, setup: TrialSetup, on_epoch: OnEpoch) -> TrialResult:
        train, dev = ctx.task_data["train"], ctx.task_data["dev"]
        model = self.start_model(ctx, setup)
        res = train_localizer(
            model, train, setup.cfg, dev=dev, on_epoch=on_epoch, lambda_box=setup.args.lambda_box
        )
        outcomes, ious = localization_result(model, dev)
        present = np.array([len(b) > 0 for b in dev.boxes])
        classes = np.array([int(c[0]) if len(c) else -1 for c in dev.classes])
        table = localization_error_table(outcomes, present, classes, dev.class_names)
        wrong_presence = (outcomes == "missed") | (outcomes == "false_alarm")
        extra = {
            "dev_presence_error": float(wrong_presence.mean()),
            "dev_box_iou": float(np.nanmean(ious)) if present.any() else float("nan"),
        }
        return self.result(ctx, model, res, table, extra)

    def frame_tables(self, frame: pd.DataFrame) -> list[ReportTable]:
        n, errors = int(frame["images"].sum()), int(frame["errors"].sum())
        return [
            report_table(
                "localization-by-class",
                "Localization errors by true class (dev images)",
                f"{n} dev images, {errors} wrong (dev_error = {errors}/{n}). An image with an "
                "object is missed (p_c < 0.5), of the wrong class, or boxed badly (IoU < 0.5); "
                "an empty image called present is a false alarm. Fix the largest share of "
                "errors first.",
                frame,
                {
                    "class": str,
                    "images": num,
                    "correct": num,
                    "missed": num,
                    "wrong_class": num,
                    "bad_box": num,
                    "false_alarm": num,
                    "error_rate": pct,
                    "pct_of_errors": pct,
                },
            )
        ]

    def final_scores(
        self, ctx: SweepContext, model: nn.Module, setup: TrialSetup
    ) -> tuple[dict[str, float], float]:
        def score(split: str) -> dict[str, float]:
            outcomes, ious = localization_result(model, ctx.task_data[split])
            return {
                "test_error": float((outcomes != "correct").mean()),
                "test_presence_error": float(np.isin(outcomes, ("missed", "false_alarm")).mean()),
                "test_box_iou": float(np.nanmean(ious)) if np.isfinite(ious).any() else math.nan,
            }

        return score("test"), score("dev")["test_error"]
