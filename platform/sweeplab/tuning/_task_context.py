"""What a vision-task sweep prepares once: the generated data and its splits, or for style
transfer the trained feature network and the content / style images."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sweeplab.errors import UserError

__all__ = ["prepare_task_context"]


def prepare_task_context(pf: Any, *, manifest_path: Path | None = None) -> tuple[Any, Any, Any]:
    """``(context, dataset, manifest)`` of a detection / segmentation / verification /
    style-transfer project; the split manifest is reused on ``--resume``."""
    from sweeplab.config.project import task_of
    from sweeplab.models import MODELS
    from sweeplab.training import TrainConfig
    from sweeplab.training._tasks import task_args_schema
    from sweeplab.tuning._context import SweepContext

    project = pf.project
    task = task_of(project)
    spec = MODELS.get(project.model.name)
    if task not in spec.tasks:
        raise pf.error(
            f"model {spec.name!r} does not support task {task!r}; it supports: "
            f"{', '.join(spec.tasks)}. Use {_model_for(task)!r}",
            "model",
        )
    if task == "style_transfer":
        task_data, dataset, manifest = _style_data(pf, manifest_path, spec)
        model_fields: frozenset[str] = frozenset()  # trained once: not searchable
        train_fields: frozenset[str] = frozenset()
    else:
        task_data, dataset, manifest = _generated_data(pf, manifest_path, task)
        model_fields = frozenset(spec.args.model_fields)
        train_fields = frozenset(TrainConfig.model_fields)
    schema = task_args_schema(task)
    ctx = SweepContext(
        project=project,
        task=task,
        tensors=None,
        model_name=spec.name,
        model_args=dict(project.model.args),
        model_fields=model_fields,
        train_fields=train_fields,
        human_level_error=project.human_level_error.error if project.human_level_error else None,
        base_dir=str(pf.base_dir),
        task_fields=frozenset(schema.model_fields) if schema else frozenset(),
        task_args=dict(project.task_args),
        task_data=task_data,
    )
    return ctx, dataset, manifest


def _model_for(task: str) -> str:
    from sweeplab.models import MODELS

    names = MODELS.names(lambda s: task in s.tasks)
    return names[0] if names else "?"


def _manifest(pf: Any, dataset: Any, manifest_path: Path | None, build: Any) -> Any:
    from sweeplab.data import SplitManifest

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


def _generated_data(pf: Any, manifest_path: Path | None, task: str) -> tuple[dict, Any, Any]:
    from sweeplab.data import build_splits
    from sweeplab.data._task_data import identity_splits, load_task_data, split_task_data

    data = pf.project.data
    loaded = load_task_data(data.source, data.generate, seed=data.seed)
    build = identity_splits if task == "verification" else build_splits
    manifest = _manifest(pf, loaded.dataset, manifest_path, build)
    sets = split_task_data(loaded.full, manifest)
    if "dev" not in sets or "train" not in sets:
        raise UserError(f"the {task} sweep needs a train and a dev split", key="data.splits")
    if task == "verification":
        for name, s in sets.items():
            if len(s.labels.unique()) < 2:
                raise UserError(
                    f"split {name!r} has {len(s.labels.unique())} identity; verification needs "
                    "at least 2 per split (more identities, or larger split sizes)",
                    key="data.splits",
                )
    return sets, loaded.dataset, manifest


def _style_data(pf: Any, manifest_path: Path | None, spec: Any) -> tuple[dict, Any, Any]:
    """Train the feature network once on the source's train split; load both images once."""
    import torch

    from sweeplab.data import build_splits, load_dataset
    from sweeplab.data._task_data import load_style_image
    from sweeplab.training import train_feature_net

    project = pf.project
    data = project.data
    dataset = load_dataset(data, base_dir=pf.base_dir)
    if dataset.image_shape is None and dataset.X.ndim != 4:
        raise UserError(
            f"the style feature network trains on images, but {data.source} is a table",
            key="data.source",
        )
    manifest = _manifest(pf, dataset, manifest_path, build_splits)
    images = torch.from_numpy(dataset.as_images().copy())
    labels = torch.from_numpy(dataset.y)
    tr, dv = manifest.splits["train"], manifest.splits.get("dev")
    cfg = project.train
    args = spec.args(**project.model.args)
    net, train_acc = train_feature_net(
        images[tr],
        labels[tr],
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        learning_rate=cfg.learning_rate,
        filters=args.filters,
        seed=cfg.seed,
    )
    dev_acc = float("nan")
    if dv is not None and len(dv):
        with torch.no_grad():
            dev_acc = float((net(images[dv]).argmax(1) == labels[dv]).float().mean())
    si = data.style_images
    pics = {
        name: load_style_image(
            getattr(si, name), size=si.size, base_dir=pf.base_dir, key=f"data.style_images.{name}"
        )
        for name in ("content", "style")
    }
    channels = images.shape[1]
    if channels == 1:  # a grey feature network: grey content and style
        pics = {k: v.mean(0, keepdim=True) for k, v in pics.items()}
    elif channels != 3:
        raise UserError(
            f"the feature network needs 1 or 3 channels, but {data.source} has {channels}",
            key="data.source",
        )
    task_data = {
        "net": net,
        "content": pics["content"],
        "style": pics["style"],
        "feature_train_accuracy": train_acc,
        "feature_dev_accuracy": dev_acc,
    }
    return task_data, dataset, manifest
