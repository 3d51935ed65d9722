"""Semantic segmentation: a class for every pixel (U-Net), on generated scenes.

``dev_error`` = 1 − ``dev_mean_iou`` (the mean over the classes present of each class's
IoU), with ``dev_iou_<class>``; the trial logs ``analysis/segmentation_iou.json``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pandas as pd
from torch import nn

from sweeplab.analysis import mean_iou, segmentation_iou_table
from sweeplab.config import Schema
from sweeplab.config.project import Project
from sweeplab.data import SHAPE_CLASSES
from sweeplab.tasks._context import SweepContext, TrialSetup
from sweeplab.tasks._generated import GeneratedTask
from sweeplab.tasks._result import TrialResult
from sweeplab.tasks._spec import OnEpoch, register_task
from sweeplab.tasks._tables import ReportTable, num, pct, report_table
from sweeplab.training import predict_masks, train_segmenter

__all__ = ["Segmentation", "SegmentationArgs"]


class SegmentationArgs(Schema):
    """The segmentation loop has no settings beyond the model's and the training ones."""


@register_task
class Segmentation(GeneratedTask):
    name = "segmentation"
    description = "a class for every pixel (U-Net, transpose convolutions, skips)"
    args: ClassVar = SegmentationArgs
    metrics = ("dev_mean_iou", "test_mean_iou")
    families = ("dev_iou_", "test_iou_")
    headline = ("dev_mean_iou",)
    summary_metric = "dev_mean_iou"
    error_measure = "1 − mean IoU over classes"
    source = "shapes_segmentation"
    table = "segmentation_iou"
    final_dev_metric = "dev_mean_iou"

    def class_names(self, project: Project) -> tuple[str, ...] | None:
        return ("background", *SHAPE_CLASSES) if project.data.scheme == "generated" else None

    def num_outputs(self, train: Any) -> int:
        return train.num_classes

    def run(self, ctx: SweepContext, setup: TrialSetup, on_epoch: OnEpoch) -> TrialResult:
        train, dev = ctx.task_data["train"], ctx.task_data["dev"]
        model = self.start_model(ctx, setup)
        res = train_segmenter(model, train, setup.cfg, dev=dev, on_epoch=on_epoch)
        table = segmentation_iou_table(
            predict_masks(model, dev), dev.masks.numpy(), dev.class_names
        )
        extra = {
            f"dev_iou_{r['class']}": float(r["iou"])
            for _, r in table.iterrows()
            if r["iou"] == r["iou"]  # NaN: the class is absent from dev
        }
        return self.result(ctx, model, res, table, extra)

    def frame_tables(self, frame: pd.DataFrame) -> list[ReportTable]:
        k = int(frame["iou"].notna().sum()) or 1
        frame = frame.assign(
            ceiling=(1.0 - frame["iou"]) / k,
            over_predicted=frame["predicted_pixels"]
            / frame["true_pixels"].where(frame["true_pixels"] > 0),
        )
        return [
            report_table(
                "segmentation-iou",
                "IoU by class (dev pixels)",
                "Mean IoU averages the classes present: raising class c's IoU to 1 would lower "
                "dev_error by its ceiling (1 − IoU_c) / classes. predicted / true > 1: the "
                "class bleeds into its neighbours; < 1: it is missed.",
                frame,
                {
                    "class": str,
                    "iou": lambda v: num(v, 3),
                    "true_pixels": num,
                    "predicted_pixels": num,
                    "over_predicted": lambda v: num(v, 3),
                    "ceiling": pct,
                },
            )
        ]

    def final_scores(
        self, ctx: SweepContext, model: nn.Module, setup: TrialSetup
    ) -> tuple[dict[str, float], float]:
        sets = ctx.task_data

        def score(split: str):
            s = sets[split]
            return mean_iou(predict_masks(model, s), s.masks.numpy(), num_classes=s.num_classes)

        miou, per = score("test")
        out = {"test_mean_iou": float(miou), "test_error": 1.0 - float(miou)}
        names = sets["train"].class_names
        out.update({f"test_iou_{c}": float(v) for c, v in zip(names, per, strict=True) if v == v})
        return out, float(score("dev")[0])
