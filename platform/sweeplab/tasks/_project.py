"""Loading a project file: the schemas (``sweeplab.config``), then the checks that need more
than one section — the task fits the data source, its ``task_args`` and training settings;
the model exists and supports the task; the metrics are ones the task's trials report.

Every error is one line with the file, the line and the key.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from sweeplab.analysis import Constraint
from sweeplab.config import format_validation_error
from sweeplab.config.project import Project, ProjectFile, parse_project
from sweeplab.data import GENERATED, check_project_data, generator_arguments
from sweeplab.errors import UserError, close_matches
from sweeplab.models import MODELS
from sweeplab.tasks._spec import COMMON_METRICS, TASKS, WEIGHTED_METRICS, Task

__all__ = ["known_metrics", "load_project", "task_of", "task_spec"]


def load_project(path: str | Path) -> ProjectFile:
    """Parse and check a project file: the one way the product reads one."""
    pf = parse_project(path)
    check_project_data(pf)  # the registries' names first: the checks below look them up
    _check_task(pf)
    _check_model(pf)
    _check_metrics(pf)
    return pf


def task_of(project: Project) -> str | None:
    """The project's task: as written, or the one a ``generated:NAME`` source is made for;
    None when the data decides (binary or multiclass, by its number of classes)."""
    if project.task is not None:
        return project.task
    if project.data.scheme == "generated":
        for name in TASKS:
            if TASKS.get(name).source == project.data.location:
                return name
    return None


def task_spec(project: Project) -> Task | None:
    """The project's :class:`Task`; None while the data decides between binary and
    multiclass."""
    task = task_of(project)
    return TASKS.get(task) if task is not None else None


def known_metrics(project: Project) -> tuple[str, ...]:
    """The metric names a trial of ``project`` reports: the common ones, its task's own, and
    its per-class / per-label ones with the class names of its data."""
    spec = task_spec(project)
    names = list(COMMON_METRICS)
    if project.metrics.weights is not None:
        names += WEIGHTED_METRICS
    if spec is not None:
        names += spec.metrics
        classes = spec.class_names(project) or ()
        for prefix in spec.families:
            names += [f"{prefix}{c}" for c in classes]
    return tuple(names)


def _unnamed_family(project: Project, name: str) -> bool:
    """A per-class metric whose class names only the data knows (not checked further)."""
    spec = task_spec(project)
    if spec is None or spec.class_names(project) is not None:
        return False
    return any(name.startswith(p) and len(name) > len(p) for p in spec.families)


def _check_task(pf: ProjectFile) -> None:
    """task, data source, task_args and the training settings fit together."""
    project = pf.project
    data = project.data
    if project.task is not None and project.task not in TASKS:
        names = list(TASKS)
        raise pf.error(
            f"unknown task {project.task!r}; expected one of: {', '.join(names)}",
            "task",
            suggestions=close_matches(project.task, names),
        )
    task = task_of(project)
    spec = TASKS.get(task) if task is not None else None
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
        if spec is not None and spec.source is not None and spec.source != data.location:
            raise pf.error(
                f"task {task!r} needs a generated:{spec.source} source, but got {data.source}",
                "data",
                "source",
            )
        if (spec is None or spec.source is None) and made not in ("multiclass", task):
            raise pf.error(
                f"{data.source} makes {made} data; set task: {made}",
                "task" if project.task else "data",
            )
    elif spec is not None and spec.source is not None:
        raise pf.error(
            f"task {task!r} needs data: source: generated:{spec.source}, but got {data.source}",
            "data",
            "source",
        )
    if spec is not None:
        spec.check_project(pf)
    uses = spec.data_fields if spec is not None else ()
    for name in sorted({f for t in TASKS for f in TASKS.get(t).data_fields}):
        if name not in uses and getattr(data, name) is not None:
            users = [t for t in TASKS if name in TASKS.get(t).data_fields]
            raise pf.error(
                f"{name} is only used by task {' or '.join(users)}, but the task is {task!r}; "
                "remove it",
                "data",
                name,
            )
    if spec is not None and not spec.train_dev and "train_dev" in data.splits.sizes():
        raise pf.error(
            f"the {task} loop evaluates train and dev only; remove splits.train_dev",
            "data",
            "splits",
            "train_dev",
        )
    schema = spec.args if spec is not None else None
    if schema is None:
        if project.task_args:
            with_args = [t for t in TASKS if TASKS.get(t).args is not None]
            raise pf.error(
                f"task_args is only for the tasks {', '.join(with_args)}, but the "
                f"task is {task or 'inferred from the data'!r}; remove it",
                "task_args",
            )
        return
    try:
        schema(**project.task_args)
    except ValidationError as exc:
        raise format_validation_error(exc, schema, pf.doc, root=("task_args",)) from None
    try:
        spec.check_train(project.train)
    except UserError as exc:
        key = tuple((exc.key or "train").split("."))
        raise pf.error(exc.message, *key) from None


def _check_model(pf: ProjectFile) -> None:
    ref = pf.project.model
    if ref.name not in MODELS:
        err = _unknown_model(ref.name)
        raise pf.error(err.message, "model", suggestions=err.suggestions)
    spec = MODELS.get(ref.name)
    try:
        spec.args(**ref.args)
    except ValidationError as exc:
        # Errors inside the model's fixed args point at `model.<key>` in the file.
        root = ("model",) if isinstance(pf.doc.data.get("model"), dict) else ()
        raise format_validation_error(exc, spec.args, pf.doc, root=root) from None
    if pf.project.task is not None and pf.project.task not in spec.tasks:
        raise pf.error(
            f"model {ref.name!r} does not support task {pf.project.task!r}; it supports: {', '.join(spec.tasks)}",
            "task",
        )


def _unknown_model(name: str) -> UserError:
    try:
        MODELS.get(name)
    except UserError as exc:
        return exc
    raise AssertionError("unreachable")  # pragma: no cover


def _check_metrics(pf: ProjectFile) -> None:
    """The optimizing metric and every constraint name a metric the project's trials report
    (the task's own names and the class / label names of its data, with close matches)."""
    project = pf.project
    spec = task_spec(project)
    task = task_of(project)
    if project.metrics.weights is not None and task not in (None, "binary", "multiclass"):
        raise pf.error(
            f"weights by class need a binary or multiclass task, but the task is {task!r}; "
            "remove metrics.weights",
            "metrics",
            "weights",
        )
    name = project.metrics.optimize.name
    if spec is not None and spec.objectives is not None and name not in spec.objectives:
        raise pf.error(
            f"a {task} trial {spec.objectives_note}, so it cannot optimize {name!r}; expected "
            f"one of: {', '.join(spec.objectives)}",
            "metrics",
            "optimize",
            "name",
            suggestions=close_matches(name, spec.objectives),
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
    for i, text in enumerate(project.metrics.satisfy):
        try:
            c = Constraint.parse(text)
            if c.metric not in known and not _unnamed_family(project, c.metric):
                Constraint.parse(text, known=known)  # the error, with close matches
        except UserError as exc:
            raise pf.error(
                exc.message, "metrics", "satisfy", i, suggestions=exc.suggestions
            ) from None
