"""The project file: data, model, training, metrics, human-level error, search settings.

``load_project(path)`` parses the YAML once into a typed :class:`Project` and checks what
needs more than one section (the model exists and supports the task, the model's fixed
arguments are valid, the constraints name known metrics). Every error is one line with the
file, the line and the key.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from sweeplab.config._base import Schema
from sweeplab.config._validate import validate_doc
from sweeplab.config._yaml import YamlDoc, load_yaml
from sweeplab.config.data import DataConfig
from sweeplab.config.train import TrainConfig
from sweeplab.errors import UserError

__all__ = [
    "HumanLevel",
    "MetricsConfig",
    "ModelRef",
    "Objective",
    "Project",
    "ProjectFile",
    "Sampler",
    "Pruner",
    "SearchConfig",
    "load_project",
    "COMMON_METRICS",
    "GENERATED_TASKS",
    "KNOWN_METRICS",
    "METRIC_FAMILIES",
    "TASK_METRICS",
    "class_names_of",
    "known_metrics",
    "SAFE_NAME",
    "STYLE_METRICS",
    "VISION_TASKS",
    "task_of",
]

SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")

# Metric names every trial reports (DESIGN.md "Conventions that users see").
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

# The vision tasks' own metrics (issue 6): dev_error is 1 - the task's measure; the test_*
# ones are logged by the final evaluation (sweeplab evaluate).
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "detection": ("dev_map", "dev_missed", "dev_false_positives", "test_map"),
    "segmentation": ("dev_mean_iou", "test_mean_iou"),
    "verification": (
        "dev_verification_accuracy",
        "dev_false_accept_rate",
        "dev_false_reject_rate",
        "one_shot_accuracy",
        "tau",
        "test_verification_accuracy",
        "test_one_shot_accuracy",
    ),
    "style_transfer": ("style_cost", "content_cost", "total_cost", "initial_cost", "cost_ratio"),
    # localization: dev_error = share of images with a wrong presence, class or box (IoU < 0.5)
    "localization": ("dev_presence_error", "dev_box_iou", "test_presence_error", "test_box_iou"),
    # landmarks: dev_error = dev_landmark_distance, a mean distance relative to the image side
    "landmarks": ("dev_landmark_distance", "test_landmark_distance"),
}

# Per-class and per-label metrics: a prefix and a class (label) name of the task's data,
# e.g. dev_ap_triangle, dev_iou_background, dev_error_triangle.
METRIC_FAMILIES: dict[str, tuple[str, ...]] = {
    "detection": ("dev_ap_", "test_ap_"),
    "segmentation": ("dev_iou_", "test_iou_"),
    "landmarks": ("dev_distance_", "test_distance_"),
    "multilabel": ("train_error_", "train_dev_error_", "dev_error_", "test_error_"),
}


def class_names_of(project: Project) -> tuple[str, ...] | None:
    """The class (label) names the project's data gives its per-class metrics; None when only
    loading the data would tell."""
    from sweeplab.data._generated import SHAPE_CLASSES, TRIANGLE_LANDMARKS

    data, task = project.data, task_of(project)
    if data.scheme != "generated":
        return None
    if task == "landmarks":
        return TRIANGLE_LANDMARKS
    if task == "segmentation":
        return ("background", *SHAPE_CLASSES)
    if task == "detection" or data.location == "shapes_multilabel":
        return SHAPE_CLASSES
    return None


def known_metrics(project: Project) -> tuple[str, ...]:
    """The metric names a trial of ``project`` reports: the common ones, its task's own, and
    its per-class / per-label ones with the class names of its data."""
    task = task_of(project) or project.task
    names = list(COMMON_METRICS) + list(TASK_METRICS.get(task or "", ()))
    classes = class_names_of(project) or ()
    for prefix in METRIC_FAMILIES.get(task or "", ()):
        names += [f"{prefix}{c}" for c in classes]
    return tuple(names)


def _unnamed_family(project: Project, name: str) -> bool:
    """A per-class metric whose class names only the data knows (not checked further)."""
    if class_names_of(project) is not None:
        return False
    prefixes = METRIC_FAMILIES.get(task_of(project) or project.task or "", ())
    return any(name.startswith(p) and len(name) > len(p) for p in prefixes)


def _every_known_metric() -> tuple[str, ...]:
    """Every name some project can report: each task's own, and the per-class ones of every
    generated source (for checks that have no project at hand)."""
    from sweeplab.data._generated import SHAPE_CLASSES, TRIANGLE_LANDMARKS

    names = list(COMMON_METRICS)
    for task_names in TASK_METRICS.values():
        names += task_names
    for families in METRIC_FAMILIES.values():
        for prefix in families:
            names += [f"{prefix}{c}" for c in ("background", *SHAPE_CLASSES, *TRIANGLE_LANDMARKS)]
    return tuple(dict.fromkeys(names))


KNOWN_METRICS = _every_known_metric()

# The metrics a style-transfer trial reports (it has no dev set, so no dev_error): the
# optimizing metric is cost_ratio = J(G) at the end / J(G) at the start (lower is better;
# scale-free, so trials with different alpha and beta compare).
STYLE_METRICS = (
    "cost_ratio",
    "total_cost",
    "style_cost",
    "content_cost",
    "initial_cost",
    "params_count",
    "epoch_time_s",
)

VISION_TASKS = (
    "detection",
    "segmentation",
    "verification",
    "style_transfer",
    "localization",
    "landmarks",
)
# The vision tasks whose data is generated (data.source: generated:NAME of their own).
GENERATED_TASKS = ("detection", "segmentation", "verification", "localization", "landmarks")


class Sampler(str, Enum):
    random = "random"
    grid = "grid"
    tpe = "tpe"


class Pruner(str, Enum):
    none = "none"
    median = "median"
    successive_halving = "successive_halving"
    hyperband = "hyperband"


class ModelRef(Schema):
    """``model: mlp`` or ``model: {name: mlp, num_layers: 3}`` (fixed arguments)."""

    name: str = Field(description="A registered model (`sweeplab models`).")
    args: dict[str, Any] = Field(
        default_factory=dict, description="Fixed model arguments (or write them beside `name`)."
    )

    @model_validator(mode="before")
    @classmethod
    def _from_short_forms(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"name": value, "args": {}}
        if isinstance(value, dict) and "args" not in value:
            rest = {k: v for k, v in value.items() if k != "name"}
            return {"name": value.get("name"), "args": rest}
        return value


class Objective(Schema):
    name: str = Field(
        default="dev_error", description="A metric every trial reports, e.g. dev_error."
    )
    goal: Literal["minimize", "maximize"] = "minimize"


class MetricsConfig(Schema):
    optimize: Objective = Field(default_factory=Objective, description="The one optimizing metric.")
    satisfy: list[str] = Field(
        default_factory=list,
        description='Satisficing constraints, e.g. "latency_ms <= 5", "params_count < 200000".',
    )

    @model_validator(mode="before")
    @classmethod
    def _optimize_short_form(cls, value: Any) -> Any:
        if isinstance(value, dict) and isinstance(value.get("optimize"), str):
            value = {**value, "optimize": {"name": value["optimize"]}}
        return value


class HumanLevel(Schema):
    error: float = Field(
        ge=0.0, le=1.0, description="Human-level error, the proxy for Bayes error."
    )
    note: str | None = Field(
        default=None, description='Whose performance it is, e.g. "team of experts".'
    )

    @model_validator(mode="before")
    @classmethod
    def _number_form(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return {"error": value}
        return value


class SearchConfig(Schema):
    space: str | None = Field(
        default=None, description="Search-space YAML, relative to the project file."
    )
    sampler: Sampler = Field(
        default=Sampler.random,
        description="random, grid (every point of `values:`), or tpe (Optuna's TPE).",
    )
    trials: int | None = Field(
        default=None, ge=1, le=100_000, description="Number of trials (grid: all points)."
    )
    seed: int = Field(
        default=0, ge=0, description="Sampler seed: the same seed gives the same trials."
    )
    pruner: Pruner = Field(
        default=Pruner.none, description="Stop poor trials early (Optuna backend)."
    )
    max_failures: int | None = Field(
        default=None, ge=1, description="Stop after this many failed trials."
    )


class Project(Schema):
    name: str = Field(description="Project name; the MLflow experiment is named after it.")
    description: str | None = Field(
        default=None, description="Free text, shown on the sweep's parent run."
    )
    data: DataConfig = Field(
        description="Where the examples come from and how they are split (below)."
    )
    task: (
        Literal[
            "binary",
            "multiclass",
            "multilabel",
            "detection",
            "segmentation",
            "verification",
            "style_transfer",
            "localization",
            "landmarks",
        ]
        | None
    ) = Field(
        default=None,
        description="binary or multiclass (inferred from the number of classes when absent), "
        "multilabel, or a vision task: detection, segmentation, verification, style_transfer, "
        "localization (one object or none: p_c, box, class), landmarks "
        "(inferred from a generated:NAME source).",
    )
    task_args: dict[str, Any] = Field(
        default_factory=dict,
        description="The vision task's own settings (detection: lambda_coord, lambda_noobj, "
        "score_threshold, nms_iou; localization: lambda_box; verification: head, margin, ...; "
        "style_transfer: alpha, beta, "
        "content_layer, style_layers, steps, learning_rate, init); each can be searched by name.",
    )
    model: ModelRef = Field(
        description="`mlp`, or `{name: mlp, <fixed model arguments>}`; see `sweeplab models`."
    )
    train: TrainConfig = Field(
        default_factory=TrainConfig, description="Training settings; any of them can be searched."
    )
    metrics: MetricsConfig = Field(
        default_factory=MetricsConfig,
        description="One optimizing metric and satisficing constraints.",
    )
    human_level_error: HumanLevel | None = Field(
        default=None,
        description="A number (0.01) or `{error: 0.01, note: ...}`: the proxy for Bayes error in the diagnosis.",
    )
    search: SearchConfig = Field(
        default_factory=SearchConfig, description="Search space, sampler, number of trials."
    )

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        if not SAFE_NAME.match(value):
            raise ValueError(
                "a name of letters, digits, '.', '_' or '-' (starting with a letter or digit, "
                f"at most 100 characters) is expected, but got {value!r}"
            )
        return value


@dataclass(frozen=True)
class ProjectFile:
    """A validated project and where it came from (for relative paths and error lines)."""

    project: Project
    path: Path
    doc: YamlDoc

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def resolve(self, relative: str) -> Path:
        p = Path(relative)
        return p if p.is_absolute() else (self.base_dir / p)

    def error(
        self, message: str, *path: str | int, suggestions: list[str] | None = None
    ) -> UserError:
        return self.doc.error(message, tuple(path), suggestions=suggestions)


def load_project(
    path: str | Path, *, checks: Sequence[Callable[[ProjectFile], None]] = ()
) -> ProjectFile:
    """The validated project file at ``path``. ``checks`` run right after the schema (before
    the cross-section checks, which rely on them): e.g. ``sweeplab.data.check_project_data``,
    the checks that need the data package's registries; the product loads projects through
    ``sweeplab.data.load_checked_project``, which passes it."""
    path = Path(path)
    doc = load_yaml(path)
    project = validate_doc(doc, Project)
    pf = ProjectFile(project=project, path=path, doc=doc)
    for check in checks:
        check(pf)
    _check_task(pf)
    _check_model(pf)
    _check_metrics(pf)
    return pf


def task_of(project: Project) -> str | None:
    """The project's task: as written, or the one a generated:NAME source makes."""
    if project.task is not None:
        return project.task
    scheme, name = project.data.scheme, project.data.location
    if scheme == "generated":
        from sweeplab.data._task_data import GENERATED

        task = GENERATED[name].task
        return task if task in VISION_TASKS else None
    return None


def _check_task(pf: ProjectFile) -> None:
    """task, data source, task_args and the training settings fit together."""
    from pydantic import ValidationError

    from sweeplab.config._validate import format_validation_error
    from sweeplab.data._task_data import GENERATED, generator_arguments
    from sweeplab.errors import close_matches

    project = pf.project
    data = project.data
    task = task_of(project)
    if data.scheme == "generated":
        known = generator_arguments(data.location)
        for key in data.generate or {}:
            if key not in known:
                raise pf.error(
                    f"unknown argument {key!r} of {data.source}; expected one of: {', '.join(known)}",
                    "data",
                    "generate",
                    key,
                    suggestions=close_matches(key, known),
                )
        made = GENERATED[data.location].task
        if task in GENERATED_TASKS and made != task:
            raise pf.error(
                f"task {task!r} needs a generated:{_source_for(task)} source, but got {data.source}",
                "data",
                "source",
            )
        if task not in VISION_TASKS and made not in ("multiclass", task):  # task: multilabel
            raise pf.error(
                f"{data.source} makes {made} data; set task: {made}",
                "task" if project.task else "data",
            )
    elif task in GENERATED_TASKS:
        raise pf.error(
            f"task {task!r} needs data: source: generated:{_source_for(task)}, but got {data.source}",
            "data",
            "source",
        )
    if task == "style_transfer" and data.style_images is None:
        raise pf.error(
            "task 'style_transfer' needs data.style_images: {content: skimage:astronaut, "
            "style: skimage:coffee, size: 32} (the source trains the feature network)",
            "data",
        )
    if task != "style_transfer" and data.style_images is not None:
        raise pf.error(
            f"style_images is only used by task style_transfer, but the task is {task!r}; remove it",
            "data",
            "style_images",
        )
    if task in GENERATED_TASKS and "train_dev" in data.splits.sizes():
        raise pf.error(
            f"the {task} loop evaluates train and dev only; remove splits.train_dev",
            "data",
            "splits",
            "train_dev",
        )
    from sweeplab.training._tasks import task_args_schema

    schema = task_args_schema(task)
    if schema is None:
        if project.task_args:
            raise pf.error(
                f"task_args is only for the vision tasks ({', '.join(VISION_TASKS)}), but the "
                f"task is {task or 'inferred from the data'!r}; remove it",
                "task_args",
            )
        return
    try:
        schema(**project.task_args)
    except ValidationError as exc:
        raise format_validation_error(exc, schema, pf.doc, root=("task_args",)) from None
    if task != "style_transfer":
        from sweeplab.training._tasks import check_task_config

        try:
            check_task_config(project.train, task=task)
        except UserError as exc:
            key = tuple((exc.key or "train").split("."))
            raise pf.error(exc.message, *key) from None


def _source_for(task: str) -> str:
    from sweeplab.data._task_data import GENERATED

    return next(name for name, src in GENERATED.items() if src.task == task)


def _check_model(pf: ProjectFile) -> None:
    from pydantic import ValidationError

    from sweeplab.models import MODELS

    ref = pf.project.model
    if ref.name not in MODELS:
        err = MODELS_error(ref.name)
        raise pf.error(err.message, "model", suggestions=err.suggestions)
    spec = MODELS.get(ref.name)
    try:
        spec.args(**ref.args)
    except ValidationError as exc:
        from sweeplab.config._validate import format_validation_error

        # Errors inside the model's fixed args point at `model.<key>` in the file.
        root = ("model",) if isinstance(pf.doc.data.get("model"), dict) else ()
        raise format_validation_error(exc, spec.args, pf.doc, root=root) from None
    if pf.project.task is not None and pf.project.task not in spec.tasks:
        raise pf.error(
            f"model {ref.name!r} does not support task {pf.project.task!r}; it supports: {', '.join(spec.tasks)}",
            "task",
        )


def MODELS_error(name: str) -> UserError:  # noqa: N802 - reads as "the MODELS registry's error"
    from sweeplab.models import MODELS

    try:
        MODELS.get(name)
    except UserError as exc:
        return exc
    raise AssertionError("unreachable")  # pragma: no cover


def _check_metrics(pf: ProjectFile) -> None:
    """The optimizing metric and every constraint name a metric the project's trials report
    (the task's own names and the class / label names of its data, with close matches)."""
    from sweeplab.errors import close_matches

    project = pf.project
    task = task_of(project) or project.task
    name = project.metrics.optimize.name
    if task == "style_transfer" and name not in STYLE_METRICS:
        raise pf.error(
            f"a style_transfer trial has no dev set, so it cannot optimize {name!r}; expected one "
            f"of: {', '.join(STYLE_METRICS)} (cost_ratio = J(G) at the end / at the start)",
            "metrics",
            "optimize",
            "name",
            suggestions=close_matches(name, STYLE_METRICS),
        )
    known = known_metrics(project)
    what = f"a {task} trial" if task else "a trial"
    if name not in known and not _unnamed_family(project, name):
        raise pf.error(
            f"unknown metric {name!r}: {what} does not report it; expected one of: "
            f"{', '.join(known)}",
            "metrics",
            "optimize",
            "name",
            suggestions=close_matches(name, known),
        )
    from sweeplab.analysis import Constraint

    for i, text in enumerate(project.metrics.satisfy):
        try:
            c = Constraint.parse(text)
            if c.metric not in known and not _unnamed_family(project, c.metric):
                Constraint.parse(text, known=known)  # the error, with close matches
        except UserError as exc:
            raise pf.error(
                exc.message, "metrics", "satisfy", i, suggestions=exc.suggestions
            ) from None
