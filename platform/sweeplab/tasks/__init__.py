"""Tasks: one module per kind of learning problem, registered like models.

A :class:`Task` owns everything the platform knows about its problem: its ``task_args``
schema, the metrics its trials log and their per-class families, its headline metrics and
what its ``dev_error`` measures, its data preparation (once per sweep), its trial runner, its
report tables and its final-evaluation scorer. The rest of sweeplab reaches a task only
through :data:`TASKS` — ``run_trial`` is one dispatch — so a new task is one new module::

    from sweeplab.tasks import Task, register_task

    @register_task
    class Counting(Task):
        name = "counting"
        ...

Shipped: ``binary``, ``multiclass``, ``multilabel`` (:mod:`.classification`),
``localization``, ``landmarks``, ``detection``, ``sliding_window``, ``segmentation``, ``verification``,
``style_transfer``.
"""

from pathlib import Path
from typing import Any

from sweeplab.config.project import ProjectFile
from sweeplab.models import MODELS
from sweeplab.tasks import (  # noqa: F401  (each module registers its tasks)
    classification,
    detection,
    landmarks,
    localization,
    segmentation,
    sliding_window,
    style_transfer,
    verification,
)
from sweeplab.tasks._context import (
    RunParams,
    SweepContext,
    TrialSetup,
    check_space_names,
    check_space_values,
    project_knobs,
    run_params,
    sweep_manifest,
    trial_setup,
)
from sweeplab.tasks._project import known_metrics, load_project, task_of, task_spec
from sweeplab.tasks._result import (
    Reporter,
    TrialPruned,
    TrialResult,
    diagnosis_metrics,
    measure_latency_ms,
    network_result,
)
from sweeplab.tasks._spec import COMMON_METRICS, TASKS, Fetch, OnEpoch, Task, register_task
from sweeplab.tasks._tables import ReportTable, num, pct, report_table
from sweeplab.tasks._trial import run_trial
from sweeplab.training import TrainConfig

__all__ = [
    "COMMON_METRICS",
    "TASKS",
    "Fetch",
    "OnEpoch",
    "ReportTable",
    "Reporter",
    "RunParams",
    "SweepContext",
    "Task",
    "TrialPruned",
    "TrialResult",
    "TrialSetup",
    "check_space_names",
    "project_knobs",
    "check_space_values",
    "setting_schemas",
    "diagnosis_metrics",
    "known_metrics",
    "load_project",
    "measure_latency_ms",
    "network_result",
    "num",
    "pct",
    "prepare_context",
    "register_task",
    "report_table",
    "run_params",
    "run_trial",
    "sweep_manifest",
    "task_of",
    "task_spec",
    "trial_setup",
]


def setting_schemas(project: Any) -> tuple[tuple[str, type], ...]:
    """The schemas a search-space parameter of ``project`` can feed, in the order a name is
    routed (model argument, task setting, training setting; see ``setting_group``): known
    from the project alone, so a space's values are checked before any data is loaded."""
    spec = TASKS.get(task_of(project) or "multiclass")
    schemas: list[tuple[str, type]] = []
    if spec.searchable:
        name = project.model.name
        schemas.append((f"an argument of model {name!r}", MODELS.get(name).args))
    if spec.args is not None:
        schemas.append((f"a {spec.name} task setting", spec.args))
    if spec.searchable:
        schemas.append(("a training setting", TrainConfig))
    return tuple(schemas)


def prepare_context(
    pf: ProjectFile, *, manifest_path: Path | None = None, tracking_uri: str | None = None
) -> tuple[SweepContext, object, object]:
    """What a sweep prepares once — ``(context, dataset, split manifest)`` — by its task
    (binary or multiclass when the data decides)."""
    return TASKS.get(task_of(pf.project) or "multiclass").prepare(
        pf, manifest_path=manifest_path, tracking_uri=tracking_uri
    )
