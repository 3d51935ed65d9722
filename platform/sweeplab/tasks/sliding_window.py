"""Sliding-window detection, the convolutional way: a ``window_classifier`` trained on
``window × window`` crops of the generated shapes (a crop centred on each object, labelled
with its class, and background crops, labelled "no object") detects on whole images with one
convolutional pass; map cells above ``score_threshold`` become window-sized boxes (stride and
window from the network), then per-class non-max suppression.

``dev_error`` = 1 − ``dev_map`` (mAP@0.5), with ``dev_ap_<class>``, ``dev_missed``,
``dev_false_positives`` and ``dev_window_error`` (the dev crops' classification error); the
trial logs ``analysis/sliding_window_errors.json`` (by class and size bucket, as detection).
"""

from __future__ import annotations

from typing import Any, ClassVar

from torch import nn

from sweeplab.models import build_model
from sweeplab.tasks._context import SweepContext, TrialSetup
from sweeplab.tasks._spec import register_task
from sweeplab.tasks.detection import Detection
from sweeplab.training import (
    SlidingWindowArgs,
    train_window_detector,
    window_detect,
)

__all__ = ["SlidingWindow"]


@register_task
class SlidingWindow(Detection):
    name = "sliding_window"
    description = "boxes and classes by sliding a window classifier in one convolutional pass"
    args: ClassVar = SlidingWindowArgs
    metrics = (*Detection.metrics, "dev_window_error")
    headline = ("dev_map", "dev_window_error", "dev_missed", "dev_false_positives")
    table = "sliding_window_errors"
    trainer: ClassVar = staticmethod(train_window_detector)
    detector: ClassVar = staticmethod(window_detect)

    def num_outputs(self, train: Any) -> int:
        return len(train.class_names) + 1  # the object classes and "no object"

    def build_model(self, ctx: SweepContext, setup: TrialSetup) -> nn.Module:
        channels = ctx.task_data["train"].images.shape[1]
        w = setup.args.window
        return build_model(
            ctx.model_name,
            setup.model_args,
            input_shape=(channels, w, w),
            num_outputs=self.num_outputs(ctx.task_data["train"]),
        )
