"""The project file: data, model, training, metrics, human-level error, search settings.

``parse_project(path)`` parses the YAML once into a typed :class:`Project`, each section
checked against its schema; every error is one line with the file, the line and the key.
What needs more than one section (the task fits the data source and the model, the metrics
are ones the task reports) is checked by the task: ``sweeplab.tasks.load_project``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from sweeplab.config._base import Description, Schema
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
    "LogModels",
    "TrackingConfig",
    "parse_project",
    "SAFE_NAME",
]

SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class Sampler(str, Enum):
    random = "random"
    grid = "grid"
    tpe = "tpe"


class Pruner(str, Enum):
    none = "none"
    median = "median"
    successive_halving = "successive_halving"
    hyperband = "hyperband"


class LogModels(str, Enum):
    all = "all"
    best = "best"
    none = "none"


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
    goal: Literal["minimize", "maximize"] = Field(
        default="minimize",
        description="minimize for errors and losses, maximize for accuracies and scores.",
    )


class MetricsConfig(Schema):
    optimize: Objective = Field(default_factory=Objective, description="The one optimizing metric.")
    satisfy: list[str] = Field(
        default_factory=list,
        description='Satisficing constraints, e.g. "latency_ms <= 5", "params_count < 200000".',
    )
    weights: dict[str, float] | None = Field(
        default=None,
        description=(
            "Weight of an example by its true class, e.g. {malignant: 10} (classes not named "
            "weigh 1): trials then also report weighted_train_error, weighted_train_dev_error, "
            "weighted_dev_error and weighted_test_error = Σ w·[ŷ ≠ y] / Σ w, which the project "
            "may optimize and constrain (binary and multiclass tasks)."
        ),
    )

    @field_validator("weights")
    @classmethod
    def _weights(cls, weights: dict[str, float] | None) -> dict[str, float] | None:
        if weights is not None:
            if not weights:
                raise ValueError("weights must name at least one class, but got {}")
            bad = {k: w for k, w in weights.items() if not (0 < w < float("inf"))}
            if bad:
                raise ValueError(f"every weight must be finite and > 0, but got {bad}")
            weights = {str(k): float(w) for k, w in weights.items()}
        return weights

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
    study_storage: str | None = Field(
        default=None,
        max_length=2000,
        description=(
            "The Optuna study on a shared database (Optuna backend), e.g. "
            "postgresql://USER@HOST:5432/DB: `--resume` and `--join` workers on other machines "
            "take the sweep up from there. Keep the password out of the file (~/.pgpass or "
            "PGPASSWORD). Default: a journal file in the sweep's folder."
        ),
    )


class TrackingConfig(Schema):
    log_models: LogModels = Field(
        default=LogModels.best,
        description=(
            "Trained weights kept in MLflow: best (the best feasible trial of a finished sweep "
            "gets an MLflow PyTorch model, with an input example and a signature), all (every "
            "finished trial), none. A trial with a model keeps its weights as "
            "weights/state_dict.pt too, which reports load instead of re-training."
        ),
    )
    system_metrics: bool = Field(
        default=False,
        description=(
            "Log MLflow's system metrics (system/cpu_utilization_percentage, "
            "system/system_memory_usage_megabytes, GPU utilisation and memory with the `gpu` "
            "extra, ...) on every trial run."
        ),
    )


class Project(Schema):
    name: str = Field(description="Project name; the MLflow experiment is named after it.")
    description: Description | None = Field(
        default=None,
        description="Free text (at most 10,000 characters), shown as the description of the sweep's parent run in the MLflow UI (its first 5000 characters).",
    )
    data: DataConfig = Field(
        description="Where the examples come from and how they are split (below)."
    )
    task: str | None = Field(
        default=None,
        description="binary or multiclass (inferred from the number of classes when absent), "
        "multilabel, or a vision task: detection, segmentation, verification, style_transfer, "
        "localization (one object or none: p_c, box, class), landmarks "
        "(inferred from a generated:NAME source); `sweeplab tasks` lists them.",
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
    tracking: TrackingConfig = Field(
        default_factory=TrackingConfig,
        description="What each sweep keeps in MLflow beside metrics: models, system metrics.",
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


def parse_project(path: str | Path) -> ProjectFile:
    """The project file as typed objects, each section checked against its schema. The
    checks across sections (the task fits the data and the model, the metrics exist) are
    the task's: ``sweeplab.tasks.load_project`` runs both."""
    path = Path(path)
    doc = load_yaml(path)
    project = validate_doc(doc, Project)
    return ProjectFile(project=project, path=path, doc=doc)
