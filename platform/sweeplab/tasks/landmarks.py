"""Landmark detection: the network outputs ``L`` points ``(l_x, l_y)`` of an image (the
generated triangles' three vertices).

``dev_error`` = ``dev_landmark_distance``, the mean distance between predicted and true
points relative to the image side (a distance, not a rate), with ``dev_distance_<landmark>``
for each point; the trial logs ``analysis/landmark_distances.json``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pandas as pd
from torch import nn

from sweeplab.analysis import landmark_distance_table
from sweeplab.config import Schema
from sweeplab.config.project import Project
from sweeplab.data import TRIANGLE_LANDMARKS
from sweeplab.tasks._context import SweepContext, TrialSetup
from sweeplab.tasks._generated import GeneratedTask
from sweeplab.tasks._result import TrialResult
from sweeplab.tasks._spec import OnEpoch, register_task
from sweeplab.tasks._tables import ReportTable, num, report_table
from sweeplab.training import predict_landmarks, train_landmarks

__all__ = ["LandmarkArgs", "Landmarks"]


class LandmarkArgs(Schema):
    """The landmark loop has no settings beyond the model's and the training ones."""


@register_task
class Landmarks(GeneratedTask):
    name = "landmarks"
    description = "L points (l_x, l_y) per image: a triangle's 3 vertices"
    args: ClassVar = LandmarkArgs
    metrics = ("dev_landmark_distance", "test_landmark_distance")
    families = ("dev_distance_", "test_distance_")
    headline = ("dev_landmark_distance",)
    error_measure = (
        "mean distance between predicted and true landmarks, relative to the image side (a "
        "distance, not a rate: 5% = 0.05 of the side)"
    )
    source = "shapes_landmarks"
    table = "landmark_distances"
    final_dev_metric = "dev_landmark_distance"

    def class_names(self, project: Project) -> tuple[str, ...] | None:
        return TRIANGLE_LANDMARKS if project.data.scheme == "generated" else None

    def num_outputs(self, train: Any) -> int:
        return train.points.shape[1]

    def run(self, ctx: SweepContext, setup: TrialSetup, on_epoch: OnEpoch) -> TrialResult:
        train, dev = ctx.task_data["train"], ctx.task_data["dev"]
        model = self.start_model(ctx, setup)
        res = train_landmarks(model, train, setup.cfg, dev=dev, on_epoch=on_epoch)
        table = landmark_distance_table(
            predict_landmarks(model, dev).numpy(), dev.points.numpy(), dev.point_names
        )
        extra = {"dev_landmark_distance": res.final["dev_error"]}
        extra.update(
            {f"dev_distance_{r['name']}": float(r["mean_distance"]) for _, r in table.iterrows()}
        )
        return self.result(ctx, model, res, table, extra)

    def frame_tables(self, frame: pd.DataFrame) -> list[ReportTable]:
        return [
            report_table(
                "landmark-distances",
                "Distance by landmark (dev)",
                "Distances are relative to the image side (0.05 = 5% of it), not rates. "
                "dev_error is the mean over every landmark, so a perfect landmark would lower "
                "it by its ceiling (its mean / landmarks).",
                frame,
                {
                    "landmark": num,
                    "name": str,
                    "mean_distance": lambda v: num(v, 3),
                    "median_distance": lambda v: num(v, 3),
                    "ceiling": lambda v: num(v, 3),
                },
                left=2,
            )
        ]

    def final_scores(
        self, ctx: SweepContext, model: nn.Module, setup: TrialSetup
    ) -> tuple[dict[str, float], float]:
        def table(split: str) -> pd.DataFrame:
            s = ctx.task_data[split]
            return landmark_distance_table(
                predict_landmarks(model, s).numpy(), s.points.numpy(), s.point_names
            )

        test = table("test")
        mean = float(test["mean_distance"].mean())
        out = {"test_landmark_distance": mean, "test_error": mean}
        out.update(
            {f"test_distance_{r['name']}": float(r["mean_distance"]) for _, r in test.iterrows()}
        )
        return out, float(table("dev")["mean_distance"].mean())
