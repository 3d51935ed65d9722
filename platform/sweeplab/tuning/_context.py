"""What a sweep prepares once and every trial reuses: data tensors, model spec, routing."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sweeplab.errors import UserError

__all__ = ["RoutedParams", "SweepContext", "prepare_context", "route_params", "split_params"]


@dataclass
class SweepContext:
    """Everything ``run_trial`` needs besides the trial's own parameters.

    Built once per sweep (data loaded, split, normalized and turned into tensors once); it
    is plain data, so Ray can ship it to its workers through the object store.
    """

    project: Any  # config.project.Project
    task: str
    tensors: Any  # data.SplitTensors
    model_name: str
    model_args: dict[str, Any]
    model_fields: frozenset[str]
    train_fields: frozenset[str]
    human_level_error: float | None = None
    # train.init_from's state_dict, loaded once per sweep (transfer learning); None without it
    init_state: dict[str, Any] | None = None
    base_dir: str = "."  # the project file's folder: relative checkpoint paths start there
    # Vision tasks (detection, segmentation, verification, style_transfer): the task's own
    # settings (task_args) and their field names (the third routing group), and the data
    # made once per sweep: {split name: DetectionSet | SegmentationSet | IdentitySet}, or for
    # style transfer {"net": the trained FeatureNet, "content": (3, H, W), "style": (3, H, W)}.
    task_fields: frozenset[str] = frozenset()
    task_args: dict[str, Any] = field(default_factory=dict)
    task_data: dict[str, Any] = field(default_factory=dict)
    _device_cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def splits_on(self, device: Any) -> dict[str, tuple[Any, Any]]:
        """The split tensors on ``device``, moved once per device and process."""
        key = str(device)
        if key not in self._device_cache:
            self._device_cache[key] = {
                name: (X.to(device), y.to(device)) for name, (X, y) in self.tensors.splits.items()
            }
        return self._device_cache[key]

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_device_cache"] = {}
        return state


@dataclass(frozen=True)
class RoutedParams:
    """A trial's parameters in their three groups."""

    model: dict[str, Any]
    train: dict[str, Any]
    task: dict[str, Any]


def split_params(ctx: SweepContext, params: dict[str, Any]) -> RoutedParams:
    """Model arguments first, then the task's settings, then training settings, by name.

    The task group comes before training settings: style transfer's ``learning_rate`` is
    the step size on G's pixels (its training settings are fixed, used once per sweep).
    """
    model, train, task = {}, {}, {}
    for name, value in params.items():
        if name in ctx.model_fields:
            model[name] = value
        elif name in ctx.task_fields:
            task[name] = value
        elif name in ctx.train_fields:
            train[name] = value
        else:  # checked when the sweep starts; this is a programming error
            raise UserError(
                f"parameter {name!r} is neither a model argument, a task setting nor a "
                "training setting"
            )
    return RoutedParams(model, train, task)


def route_params(
    ctx_or_fields: SweepContext | tuple[frozenset[str], frozenset[str]], params: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a trial's parameters into (model args, training overrides) by field name."""
    if isinstance(ctx_or_fields, SweepContext):
        model_fields, train_fields = ctx_or_fields.model_fields, ctx_or_fields.train_fields
    else:
        model_fields, train_fields = ctx_or_fields
    model, train = {}, {}
    for name, value in params.items():
        if name in model_fields:
            model[name] = value
        elif name in train_fields:
            train[name] = value
        else:  # checked when the sweep starts; this is a programming error
            raise UserError(
                f"parameter {name!r} is neither a model argument nor a training setting"
            )
    return model, train


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
    from sweeplab.errors import close_matches

    known = sorted(model_fields | train_fields | task_fields)
    for name in space.names:
        if name not in model_fields and name not in train_fields and name not in task_fields:
            line = None
            doc = getattr(space, "doc", None)
            if doc is not None:
                line = doc.line_of(("parameters", name))
            if task_fields or task == "style_transfer":
                what = (
                    f"it is not a {task} task setting (task_args)"
                    if task == "style_transfer" and not model_fields
                    else f"it is neither an argument of model {model_name!r}, a {task} task "
                    "setting (task_args) nor a training setting"
                )
            else:
                what = f"it is neither an argument of model {model_name!r} nor a training setting"
            if task == "style_transfer":
                what += " (the feature network and its training run once per sweep)"
            raise UserError(
                f"unknown parameter {name!r}: {what}; expected one of: {', '.join(known)}",
                file=space_file,
                line=line,
                key=f"parameters.{name}",
                suggestions=close_matches(name, known),
            )


def prepare_context(
    pf: Any, *, manifest_path: Path | None = None, tracking_uri: str | None = None
) -> tuple[SweepContext, Any, Any]:
    """Load the data, build (or reuse) the split manifest, make tensors. Once per sweep.

    ``tracking_uri`` is where ``train.init_from`` looks up MLflow run ids (transfer learning).

    Returns ``(context, dataset, manifest)``.
    """
    from sweeplab.data import SplitManifest, build_splits, load_dataset, prepare_tensors
    from sweeplab.models import MODELS
    from sweeplab.training import TrainConfig

    project = pf.project
    from sweeplab.config.project import VISION_TASKS, task_of

    if task_of(project) in VISION_TASKS:
        from sweeplab.tuning._task_context import prepare_task_context

        return prepare_task_context(pf, manifest_path=manifest_path)
    dataset = load_dataset(project.data, base_dir=pf.base_dir)
    if manifest_path is not None and manifest_path.is_file():
        manifest = SplitManifest.from_json(manifest_path)
        if manifest.fingerprint != _fingerprint_of(dataset, manifest):
            raise UserError(
                f"the data changed since this sweep started (fingerprint mismatch with {manifest_path}); "
                "start a new sweep instead of resuming"
            )
    else:
        manifest = build_splits(dataset, project.data)
        if manifest_path is not None:
            manifest_path.parent.mkdir(parents=True, exist_ok=True)
            manifest.to_json(manifest_path)
    spec = MODELS.get(project.model.name)
    n_classes = len(dataset.classes)
    task = project.task or ("binary" if n_classes == 2 and "binary" in spec.tasks else "multiclass")
    if task not in spec.tasks:
        raise pf.error(
            f"model {spec.name!r} supports {', '.join(spec.tasks)}, but the data has {n_classes} classes "
            f"(task {task!r}); choose another model, e.g. 'softmax' or 'mlp'",
            "model",
        )
    if task == "binary" and n_classes != 2:
        raise pf.error(f"task 'binary' needs 2 classes, but the data has {n_classes}", "task")
    if (task == "multilabel") != dataset.multilabel:  # never inferred: the user says it
        found = f"{n_classes} labels per example" if dataset.multilabel else "one class per example"
        raise pf.error(
            f"task {task!r} does not fit the data: it has {found}; set task: "
            f"{'multilabel' if dataset.multilabel else 'binary or multiclass'}",
            "task",
        )
    image = spec.input_kind == "image"
    tensors = prepare_tensors(
        dataset, manifest, normalize=project.data.normalize, device="cpu", image=image
    )
    human = project.human_level_error.error if project.human_level_error else None
    init_state = None
    if project.train.init_from is not None:
        from sweeplab.models._transfer import load_checkpoint

        init_state = load_checkpoint(
            project.train.init_from, base_dir=pf.base_dir, tracking_uri=tracking_uri
        )
    ctx = SweepContext(
        project=project,
        task=task,
        tensors=tensors,
        model_name=spec.name,
        model_args=dict(project.model.args),
        model_fields=frozenset(spec.args.model_fields),
        train_fields=frozenset(TrainConfig.model_fields),
        human_level_error=human,
        init_state=init_state,
        base_dir=str(pf.base_dir),
    )
    return ctx, dataset, manifest


def _fingerprint_of(dataset: Any, manifest: Any) -> str:
    from sweeplab.data import SplitManifest

    fp = getattr(SplitManifest, "fingerprint_of", None)
    return fp(dataset) if fp else manifest.fingerprint


def fixed_settings(ctx: SweepContext, params: dict[str, Any]) -> dict[str, Any]:
    """The trial's settings that it did not sample, defaults included, as params
    ``model.<name>``, ``train.<name>`` and ``task.<name>`` (unset ones left out): every run
    says how it was made, and runs of different sweeps compare in the MLflow UI."""
    from sweeplab.models import MODELS

    groups = {
        "model.": MODELS.get(ctx.model_name).args(**ctx.model_args).model_dump(mode="json"),
        "train.": ctx.project.train.model_dump(mode="json"),
    }
    if ctx.task_fields:
        from sweeplab.training._tasks import task_args_schema

        groups["task."] = task_args_schema(ctx.task)(**ctx.task_args).model_dump(mode="json")
    return {
        f"{prefix}{name}": value
        for prefix, values in groups.items()
        for name, value in values.items()
        if name not in params and value is not None
    }
