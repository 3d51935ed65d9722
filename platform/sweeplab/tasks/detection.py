"""Object detection: a YOLO-style grid detector with anchor boxes and non-max suppression,
on generated scenes of shapes.

``dev_error`` = 1 − ``dev_map`` (mAP@0.5), with ``dev_ap_<class>``, ``dev_missed`` and
``dev_false_positives``; the trial logs ``analysis/detection_errors.json`` (by class and size
bucket).
"""

from __future__ import annotations

from typing import Any, ClassVar

import pandas as pd
from torch import nn

from sweeplab.analysis import detection_error_table, mean_average_precision
from sweeplab.config.project import Project
from sweeplab.data import SHAPE_CLASSES
from sweeplab.tasks._context import SweepContext, TrialSetup
from sweeplab.tasks._generated import GeneratedTask
from sweeplab.tasks._result import TrialResult
from sweeplab.tasks._spec import OnEpoch, register_task
from sweeplab.tasks._tables import ReportTable, num, pct, report_table
from sweeplab.training import DetectionArgs, detect, train_detector

__all__ = ["Detection"]


@register_task
class Detection(GeneratedTask):
    name = "detection"
    description = "boxes and classes of every object: YOLO grid, anchor boxes, NMS"
    args: ClassVar = DetectionArgs
    metrics = ("dev_map", "dev_missed", "dev_false_positives", "test_map")
    families = ("dev_ap_", "test_ap_")
    headline = ("dev_map", "dev_missed", "dev_false_positives")
    summary_metric = "dev_map"
    error_measure = "1 − mAP@0.5"
    source = "shapes_detection"
    table = "detection_errors"
    final_dev_metric = "dev_map"
    #: The training loop and the decoder of detections (``sliding_window`` swaps both).
    trainer: ClassVar = staticmethod(train_detector)
    detector: ClassVar = staticmethod(detect)

    def class_names(self, project: Project) -> tuple[str, ...] | None:
        return SHAPE_CLASSES if project.data.scheme == "generated" else None

    def num_outputs(self, train: Any) -> int:
        return len(train.class_names)

    def run(self, ctx: SweepContext, setup: TrialSetup, on_epoch: OnEpoch) -> TrialResult:
        train, dev = ctx.task_data["train"], ctx.task_data["dev"]
        args = setup.args
        model = self.start_model(ctx, setup)  # init_from: the checkpoint, a fresh output layer
        res = self.trainer(model, train, setup.cfg, dev=dev, args=args, on_epoch=on_epoch)
        preds, truth = self.detector(model, dev, args=args)
        table = detection_error_table(preds, truth, train.class_names)
        every = table[table["size"] == "all"]
        extra = {f"dev_ap_{r['class']}": float(r["ap"]) for _, r in every.iterrows()}
        extra["dev_missed"] = float(every["missed"].sum())
        extra["dev_false_positives"] = float(every["false_positives"].sum())
        return self.result(ctx, model, res, table, extra)

    def frame_tables(self, frame: pd.DataFrame) -> list[ReportTable]:
        every = frame[frame["size"] == "all"]
        sized = frame[frame["size"] != "all"]
        n = int(every["objects"].sum())
        missed = int(every["missed"].sum())
        fp = int(every["false_positives"].sum())
        by_class = every.assign(
            pct_of_missed=every["missed"] / missed if missed else 0.0,
            ceiling=1.0 - every["ap"],  # what the class's AP leaves on the table
        )
        return [
            report_table(
                "detection-by-class",
                "Detection errors by shape class (dev)",
                f"{n} dev objects, {missed} missed, {fp} false positives (detections scoring "
                "≥ 0.5 count as answers). AP@0.5 per class; mAP is their mean, so a class with "
                "AP a caps the mAP gain of fixing it at (1 − a) / classes.",
                by_class,
                {
                    "class": str,
                    "objects": num,
                    "found": num,
                    "missed": num,
                    "miss_rate": pct,
                    "pct_of_missed": pct,
                    "false_positives": num,
                    "ap": lambda v: num(v, 3),
                },
            ),
            report_table(
                "detection-by-size",
                "Missed objects by shape class and size bucket (dev)",
                "Size = √(h·w) relative to the image: small < 0.3 ≤ medium < 0.4 ≤ large. Which "
                "mistakes are worth fixing: the largest share of missed objects first.",
                sized.assign(pct_of_missed=sized["missed"] / missed if missed else 0.0),
                {
                    "class": str,
                    "size": str,
                    "objects": num,
                    "found": num,
                    "missed": num,
                    "miss_rate": pct,
                    "pct_of_missed": pct,
                },
                left=2,
            ),
        ]

    def final_scores(
        self, ctx: SweepContext, model: nn.Module, setup: TrialSetup
    ) -> tuple[dict[str, float], float]:
        names = ctx.task_data["train"].class_names

        def score(split: str):
            preds, truth = self.detector(model, ctx.task_data[split], args=setup.args)
            return mean_average_precision(preds, truth, num_classes=len(names), iou_threshold=0.5)

        test = score("test")
        out = {"test_map": test.map, "test_error": 1.0 - test.map}
        out.update({f"test_ap_{c}": float(a) for c, a in zip(names, test.per_class, strict=True)})
        return out, score("dev").map
