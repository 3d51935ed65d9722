"""What a sweep prepares once and every trial reuses, and a trial's typed settings.

:class:`SweepContext` is built once per sweep by the task's ``prepare`` (data loaded, split,
normalized and turned into tensors once); :func:`trial_setup` turns a trial's sampled
parameters into typed settings — model arguments, a validated ``TrainConfig`` and the task's
``task_args`` — in one place, for every task and both backends.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from torch import nn

from sweeplab.config import Schema, check_setting_value, format_validation_error
from sweeplab.config.project import Project, ProjectFile
from sweeplab.data import SplitManifest
from sweeplab.errors import UserError, close_matches
from sweeplab.models import MODELS, ModelSpec, apply_transfer
from sweeplab.tracking import TrialTracking, load_checkpoint
from sweeplab.training import TrainConfig, resolve_device

__all__ = [
    "RunParams",
    "SweepContext",
    "TrialSetup",
    "check_space_names",
    "check_space_values",
    "model_for_task",
    "project_knobs",
    "run_params",
    "setting_group",
    "start_from_checkpoint",
    "sweep_init_state",
    "sweep_manifest",
    "trial_setup",
]


@dataclass
class SweepContext:
    """Everything ``run_trial`` needs besides the trial's own parameters.

    Plain data, so Ray can ship it to its workers through the object store.
    """

    project: Project
    task: str
    tensors: Any  # data.SplitTensors (classification tasks); None for the others
    model_name: str
    model_args: dict[str, Any]
    model_fields: frozenset[str]
    train_fields: frozenset[str]
    human_level_error: float | None = None
    # train.init_from's state_dict, loaded once per sweep (transfer learning); None without it
    init_state: dict[str, Any] | None = None
    base_dir: str = "."  # the project file's folder: relative checkpoint paths start there
    # where ``init_from`` run ids and ``best:PROJECT`` are looked up: the sweep's store
    # (None: the default workspace's, as `sweeplab sweep` without flags)
    tracking_uri: str | None = None
    # The task's own settings: their schema (the task's ``args``; its fields are the third
    # routing group) and the project's task_args; and the data the task made once per
    # sweep (e.g. {split name: DetectionSet}).
    args_schema: type[Schema] | None = None
    task_args: dict[str, Any] = field(default_factory=dict)
    task_data: dict[str, Any] = field(default_factory=dict)
    # What the sweep's runs record beside metrics (models, dataset inputs, system metrics);
    # None: nothing (a context outside a sweep, e.g. a report re-training a trial)
    tracking: TrialTracking | None = None
    _device_cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def of(
        cls,
        pf: ProjectFile,
        *,
        task: str,
        model: ModelSpec,
        searchable: bool = True,
        args_schema: type[Schema] | None = None,
        **data: Any,
    ) -> SweepContext:
        """The context of ``pf``'s sweep: its model and fixed arguments, the fields a search
        space may name (none when ``searchable`` is False), human-level error, the task's
        settings; ``data`` is the rest (``tensors``, ``task_data``, ``init_state``)."""
        project = pf.project
        return cls(
            project=project,
            task=task,
            tensors=data.pop("tensors", None),
            model_name=model.name,
            model_args=dict(project.model.args),
            model_fields=frozenset(model.args.model_fields) if searchable else frozenset(),
            train_fields=frozenset(TrainConfig.model_fields) if searchable else frozenset(),
            human_level_error=project.human_level_error.error
            if project.human_level_error
            else None,
            base_dir=str(pf.base_dir),
            args_schema=args_schema,
            task_args=dict(project.task_args),
            **data,
        )

    @property
    def task_fields(self) -> frozenset[str]:
        """The names a search space may give the task's settings."""
        return frozenset(self.args_schema.model_fields) if self.args_schema else frozenset()

    def splits_on(self, device: Any) -> dict[str, tuple[Any, Any]]:
        """The split tensors on ``device``, moved once per device and process."""
        key = str(device)
        if key not in self._device_cache:
            self._device_cache[key] = {
                name: (X.to(device), y.to(device)) for name, (X, y) in self.tensors.splits.items()
            }
        return self._device_cache[key]

    def once(self, key: str, make: Callable[[], Any]) -> Any:
        """``make()``, computed once per process and kept beside the moved tensors."""
        key = f"once:{key}"
        if key not in self._device_cache:
            self._device_cache[key] = make()
        return self._device_cache[key]

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_device_cache"] = {}
        return state


@dataclass(frozen=True)
class TrialSetup:
    """A trial's settings, typed and validated: what its task builds and trains with."""

    model_args: dict[str, Any]
    cfg: TrainConfig
    args: Schema | None  # the task's settings (its ``args`` schema); None: it takes none
    # the task settings this trial did not sample (task_args of the project and defaults)
    fixed: dict[str, Any]


def setting_group(ctx: SweepContext, name: str) -> str | None:
    """The group of the setting ``name``: ``"model"`` (a model argument), ``"task"`` (a task
    setting) or ``"train"`` (a training setting), in that order; None for an unknown name.

    The task group comes before training settings: style transfer's ``learning_rate`` is
    the step size on G's pixels (its training settings are fixed, used once per sweep)."""
    if name in ctx.model_fields:
        return "model"
    if name in ctx.task_fields:
        return "task"
    if name in ctx.train_fields:
        return "train"
    return None


def trial_setup(ctx: SweepContext, params: dict[str, Any], device: str | None = None) -> TrialSetup:
    """Route ``params`` by their group (:func:`setting_group`), merge them into the project's
    fixed settings and validate each group once."""
    groups: dict[str, dict[str, Any]] = {"model": {}, "train": {}, "task": {}}
    for name, value in params.items():
        group = setting_group(ctx, name)
        if group is None:  # checked when the sweep starts (check_space_names)
            raise UserError(
                f"parameter {name!r} is neither a model argument, a task setting nor a "
                "training setting"
            )
        groups[group][name] = value
    model, train, task = groups["model"], groups["train"], groups["task"]
    base = ctx.project.train
    update = {**train, **({"device": device} if device is not None else {})}
    cfg = _validated(TrainConfig, {**base.model_dump(), **update}, "train") if update else base
    schema = ctx.args_schema
    args, fixed = None, {}
    if schema is not None:
        args = _validated(schema, {**ctx.task_args, **task}, "task_args")
        fixed = {k: v for k, v in args.model_dump(mode="json").items() if k not in task}
    return TrialSetup({**ctx.model_args, **model}, cfg, args, fixed)


def _validated(schema: type[Schema], values: dict[str, Any], group: str) -> Any:
    try:
        return schema.model_validate(values)
    except ValidationError as exc:
        raise format_validation_error(exc, schema, root=(group,)) from None


@dataclass(frozen=True)
class RunParams:
    """What a trial's run records: every setting once, under one key ``<group>.<name>``
    (``train.learning_rate``, ``model.hidden_units``, ``task.lambda_box``) whether the trial
    sampled it or not, so that the runs of every sweep of a project line up in the MLflow UI
    and in ``mlflow.search_runs``; ``sampled`` names the keys the trial sampled (the tag
    ``sweeplab.sampled``)."""

    values: dict[str, Any]  # key -> value: the sampled settings, then the fixed ones
    sampled: tuple[str, ...]  # keys of the sampled settings, in the space's order
    device: str  # where the trial trains: cpu | cuda


def run_params(ctx: SweepContext, params: dict[str, Any], device: str | None = None) -> RunParams:
    """The params of the trial that samples ``params``: the sampled ones under their group's
    key, and every other setting, defaults included (unset ones left out), so that every run
    says how it was made. ``device``: where the backend runs the trial (default: the trial's
    ``device`` setting, ``auto`` resolved on this machine)."""
    sampled = {_key(setting_group(ctx, name), name): value for name, value in params.items()}
    groups = {
        "model": MODELS.get(ctx.model_name).args(**ctx.model_args).model_dump(mode="json"),
        "train": ctx.project.train.model_dump(mode="json"),
    }
    if ctx.args_schema is not None:
        groups["task"] = ctx.args_schema(**ctx.task_args).model_dump(mode="json")
    fixed = {
        _key(group, name): value
        for group, values in groups.items()
        for name, value in values.items()
        if _key(group, name) not in sampled and value is not None
    }
    if device is None:
        device = str(params.get("device", ctx.project.train.device))
        try:
            device = resolve_device(device).type
        except UserError:  # cuda asked for where there is none: the trial fails and says so
            pass
    return RunParams({**sampled, **fixed}, tuple(sampled), device)


def _key(group: str | None, name: str) -> str:
    # a name of no group never reaches a run: check_space_names stops the sweep first
    return f"{group}.{name}" if group else name


def check_space_names(
    space: Any,
    *,
    model_name: str,
    model_fields: frozenset[str],
    train_fields: frozenset[str],
    space_file: str | None,
    task_fields: frozenset[str] = frozenset(),
    task: str | None = None,
) -> None:
    """Every search-space parameter must be a model argument, a task setting or a training setting."""
    known = sorted(model_fields | train_fields | task_fields)
    _check_names(
        space, known, model_name, model_fields, train_fields, space_file, task_fields, task
    )


def check_space_values(
    space: Any, schemas: Sequence[tuple[str, type[Schema]]], *, space_file: str | None
) -> None:
    """Every value a parameter can take (each of its ``values``, the ends of its range, its
    constant) must fit the setting it feeds: the first of ``schemas`` ((what it is, schema), in
    the order a name is routed, see :func:`setting_group`) that has a field of its name. A
    parameter no schema names is left to :func:`check_space_names`."""
    for param in space:
        owner = next(((what, s) for what, s in schemas if param.name in s.model_fields), None)
        if owner is not None:
            _check_values(space, param, *owner, space_file)


def _check_values(space: Any, param: Any, what: str, schema: type, space_file: str | None) -> None:
    dist = param.distribution
    if hasattr(dist, "values"):
        key, values = "values", list(dist.values)
    elif hasattr(dist, "low"):
        key, values = "min", [dist.low, dist.high]
    else:
        key, values = "value", [dist.value]
    for value in values:
        problem = check_setting_value(schema, param.name, value)
        if problem is None:
            continue
        path = ("parameters", param.name, key)
        doc = getattr(space, "doc", None)
        raise UserError(
            f"{param.name!r} is {what}, which cannot take {value!r}: {problem}",
            file=space_file,
            line=doc.line_of(path) if doc is not None else None,
            key=".".join(path),
        )


def _check_names(
    space: Any,
    known: list[str],
    model_name: str,
    model_fields: frozenset[str],
    train_fields: frozenset[str],
    space_file: str | None,
    task_fields: frozenset[str],
    task: str | None,
) -> None:
    for name in space.names:
        if name not in model_fields and name not in train_fields and name not in task_fields:
            line = None
            doc = getattr(space, "doc", None)
            if doc is not None:
                line = doc.line_of(("parameters", name))
            searchable = bool(model_fields or train_fields)
            if task_fields and not searchable:
                what = f"it is not a {task} task setting (task_args)"
            elif task_fields:
                what = (
                    f"it is neither an argument of model {model_name!r}, a {task} task "
                    "setting (task_args) nor a training setting"
                )
            else:
                what = f"it is neither an argument of model {model_name!r} nor a training setting"
            if not searchable:
                what += " (the feature network and its training run once per sweep)"
            raise UserError(
                f"unknown parameter {name!r}: {what}; expected one of: {', '.join(known)}",
                file=space_file,
                line=line,
                key=f"parameters.{name}",
                suggestions=close_matches(name, known),
            )


def model_for_task(pf: ProjectFile, task: str) -> ModelSpec:
    """The project's model, which must support ``task`` (else: one that does, by name)."""
    spec = MODELS.get(pf.project.model.name)
    if task not in spec.tasks:
        names = MODELS.names(lambda s: task in s.tasks)
        raise pf.error(
            f"model {spec.name!r} does not support task {task!r}; it supports: "
            f"{', '.join(spec.tasks)}. Use {names[0] if names else '?'!r}",
            "model",
        )
    return spec


def sweep_manifest(
    pf: ProjectFile,
    dataset: Any,
    manifest_path: Path | None,
    build: Callable[[Any, Any], SplitManifest],
) -> SplitManifest:
    """The sweep's split manifest: reused on ``--resume`` (the data must not have changed),
    else built once and saved."""
    if manifest_path is not None and manifest_path.is_file():
        manifest = SplitManifest.from_json(manifest_path)
        if manifest.fingerprint != dataset.fingerprint():
            raise UserError(
                f"the data changed since this sweep started (fingerprint mismatch with "
                f"{manifest_path}); start a new sweep instead of resuming"
            )
        return manifest
    manifest = build(dataset, pf.project.data)
    if manifest_path is not None:
        manifest_path.parent.mkdir(parents=True, exist_ok=True)
        manifest.to_json(manifest_path)
    return manifest


def start_from_checkpoint(ctx: SweepContext, model: nn.Module, cfg: TrainConfig) -> None:
    """Transfer learning: the checkpoint's weights, a new output layer, frozen layers.

    ``transfer: scratch`` keeps the fresh initialization (the sweep's baseline trials); the
    seeds are the same, so scratch and fine-tune trials differ only in the start.
    """
    if cfg.transfer == "scratch":
        return
    state = ctx.init_state
    if state is None or cfg.init_from != ctx.project.train.init_from:  # searched init_from
        state = load_checkpoint(cfg.init_from, base_dir=ctx.base_dir, tracking_uri=ctx.tracking_uri)
    apply_transfer(
        model,
        state,
        mode=cfg.transfer,
        last_k=cfg.fine_tune_last_k,
        model_name=repr(ctx.model_name),
    )


def sweep_init_state(pf: ProjectFile, tracking_uri: str | None) -> dict[str, Any] | None:
    """The state_dict ``train.init_from`` names, read once per sweep (None without it)."""
    source = pf.project.train.init_from
    if source is None:
        return None
    return load_checkpoint(source, base_dir=pf.base_dir, tracking_uri=tracking_uri)


def project_knobs(pf: ProjectFile) -> tuple[dict[str, Any], dict[str, tuple[Any, Any]]]:
    """The settings a search space may name for ``pf``'s model and training, with the value
    the project gives each (model defaults, the project's ``model:`` and ``train:``), and each
    numeric setting's valid bounds ``(low, high)`` from its schema (None where open)."""
    spec = MODELS.get(pf.project.model.name)
    current: dict[str, Any] = {}
    limits: dict[str, tuple[Any, Any]] = {}
    schemas = [(spec.args, dict(pf.project.model.args)), (TrainConfig, {})]
    for schema, given in schemas:
        for name, info in schema.model_fields.items():
            if name in given:
                current[name] = given[name]
            elif schema is TrainConfig:
                current[name] = getattr(pf.project.train, name)
            elif not info.is_required():
                current[name] = info.get_default(call_default_factory=True)
            lo = hi = None
            for m in info.metadata:
                lo = getattr(m, "ge", getattr(m, "gt", lo))
                hi = getattr(m, "le", getattr(m, "lt", hi))
            if lo is not None or hi is not None:
                limits[name] = (lo, hi)
    return current, limits
