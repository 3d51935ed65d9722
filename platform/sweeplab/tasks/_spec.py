"""A task: everything the platform knows about one kind of learning problem, in one class.

A task says which ``task_args`` it takes, which metrics its trials log (and which of them a
project may optimize or constrain), what its ``dev_error`` measures, how a sweep prepares its
data once, how one trial trains and evaluates, which tables its report shows and how its final
evaluation scores the test split. The platform reaches a task only through :data:`TASKS`:
adding a task is one new module that subclasses :class:`Task` and registers an instance.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from sweeplab.config import Schema
from sweeplab.config.project import Project, ProjectFile
from sweeplab.registry import Registry
from sweeplab.tasks._context import SweepContext, TrialSetup
from sweeplab.tasks._result import TrialResult
from sweeplab.tasks._tables import ReportTable
from sweeplab.training import TrainConfig

__all__ = [
    "COMMON_METRICS",
    "TASKS",
    "WEIGHTED_METRICS",
    "Fetch",
    "OnEpoch",
    "Task",
    "register_task",
]

# Metric names every trial reports (the same in every run, so the MLflow UI compares them).
COMMON_METRICS = (
    "train_error",
    "train_dev_error",
    "dev_error",
    "test_error",
    "train_loss",
    "dev_loss",
    "train_loss_ewma",
    "params_count",
    "latency_ms",
    "epoch_time_s",
    "avoidable_bias",
    "variance",
    "data_mismatch",
    "dev_overfit",
)

# What a classification trial reports when the project sets ``metrics.weights``:
# Σ w·[ŷ ≠ y] / Σ w on each split (the course's "weight the unacceptable errors ×10").
WEIGHTED_METRICS = (
    "weighted_train_error",
    "weighted_train_dev_error",
    "weighted_dev_error",
    "weighted_test_error",
)

#: ``fetch(artifact path) -> bytes | None``: a trial's logged artifact, for its report.
Fetch = Callable[[str], bytes | None]
#: Called after every epoch with an ``EpochResult``; may raise ``TrialPruned``.
OnEpoch = Callable[[Any], None] | None


class Task:
    """The base of every task. Subclasses set the class attributes and override the methods
    their task needs; the defaults fit a task that trains a network on a dev set."""

    name: ClassVar[str]
    #: One line for `sweeplab` help texts and the file reference.
    description: ClassVar[str] = ""
    #: The ``task_args`` schema; None: the task takes none (a project that sets them is wrong).
    args: ClassVar[type[Schema] | None] = None
    #: The task's own metrics beside :data:`COMMON_METRICS` (the ``test_*`` ones are logged
    #: by the final evaluation).
    metrics: ClassVar[tuple[str, ...]] = ()
    #: Per-class metric prefixes (``dev_ap_`` + a class name of the data).
    families: ClassVar[tuple[str, ...]] = ()
    #: When set, the only metrics a project may optimize, and why (style transfer: "has no
    #: dev set").
    objectives: ClassVar[tuple[str, ...] | None] = None
    objectives_note: ClassVar[str] = ""
    #: The metrics a report shows first (after the objective).
    headline: ClassVar[tuple[str, ...]] = ()
    #: The one metric `sweeplab runs` and the sweep's summary show beside the errors (dev
    #: mAP, mean IoU …); None where the errors say it all.
    summary_metric: ClassVar[str | None] = None
    #: What ``train_error`` / ``dev_error`` measure (the report says it above the ladder).
    error_measure: ClassVar[str] = ""
    #: The ``generated:NAME`` source the task needs; None: any source of its kind.
    source: ClassVar[str | None] = None
    #: Optional ``data:`` fields only this task uses (style transfer: ``style_images``).
    data_fields: ClassVar[tuple[str, ...]] = ()
    #: Whether the task's loop evaluates a train-dev split.
    train_dev: ClassVar[bool] = True
    #: Whether trials are judged on a dev set (style transfer optimizes one image: no
    #: train / dev errors, no diagnosis).
    dev_set: ClassVar[bool] = True
    #: Whether model arguments and training settings can be searched (style transfer trains
    #: its network once per sweep).
    searchable: ClassVar[bool] = True
    #: Whether a report reads the trial's logged metrics and artifacts (False: the
    #: classification report, which predicts every example).
    logged_report: ClassVar[bool] = True
    #: The logged dev metric a final evaluation recomputes and compares; None: no test set.
    final_dev_metric: ClassVar[str | None] = "dev_error"

    # ---------------------------------------------------------------- project checks

    def class_names(self, project: Project) -> tuple[str, ...] | None:
        """The class (label) names of the project's data, for the per-class metric names;
        None when only loading the data would tell."""
        return None

    def check_project(self, pf: ProjectFile) -> None:
        """Task-specific checks of a loaded project (raise ``pf.error(...)``)."""

    def check_train(self, cfg: TrainConfig) -> None:
        """Raise a ``UserError`` (key ``train.<name>``) for a training setting the task's loop
        would ignore."""

    # ---------------------------------------------------------------- a sweep's trials

    def prepare(
        self, pf: ProjectFile, *, manifest_path: Path | None, tracking_uri: str | None
    ) -> tuple[SweepContext, Any, Any]:
        """Once per sweep: ``(context, dataset, split manifest)``."""
        raise NotImplementedError

    def build_model(self, ctx: SweepContext, setup: TrialSetup) -> nn.Module:
        """The untrained network of a trial (seed first): the shape its weights load into."""
        raise NotImplementedError(f"task {self.name!r} trains no network of its own")

    def run(self, ctx: SweepContext, setup: TrialSetup, on_epoch: OnEpoch) -> TrialResult:
        """Train and evaluate one trial; report every epoch through ``on_epoch``."""
        raise NotImplementedError

    @property
    def trains_network(self) -> bool:
        """Whether a trial trains a network of its own (:meth:`build_model`): a model to keep
        (style transfer optimizes an image with a network trained once per sweep)."""
        return type(self).build_model is not Task.build_model

    def input_example(self, ctx: SweepContext, n: int = 5) -> torch.Tensor | None:
        """A few dev inputs of the sweep's data, the batch a logged model shows as its input
        example and signature: the dev split's first ``n`` rows (classification tensors) or
        images (the vision tasks' data); None when the task has none."""
        if ctx.tensors is not None and "dev" in ctx.tensors.splits:
            return ctx.tensors.splits["dev"][0][:n]
        images = getattr(ctx.task_data.get("dev"), "images", None)
        return images[:n] if images is not None else None

    # ---------------------------------------------------------------- reports

    def report_tables(
        self, metrics: dict[str, float], fetch: Fetch, pf: ProjectFile, sweep_dir: Path
    ) -> tuple[list[ReportTable], list[tuple[str, str]], list[str]]:
        """``(tables, images as (caption, data URI), notes)`` of a trial's report, from what
        it logged."""
        return [], [], []

    def final_scores(
        self, ctx: SweepContext, model: nn.Module, setup: TrialSetup
    ) -> tuple[dict[str, float], float]:
        """``(test metrics with test_error, the dev metric now)``: the final evaluation."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<task {self.name}>"


TASKS: Registry[Task] = Registry("task")


def register_task(cls: type[Task]) -> type[Task]:
    """Class decorator: register one instance of the task under ``cls.name``."""
    TASKS.add(cls.name, cls())
    return cls
