"""The vision tasks' trials: localization, landmarks, detection, segmentation, verification,
style transfer.

``run_trial`` dispatches here by ``ctx.task``. Each runner builds its model from the
registry, trains it with the task's loop (``training/_tasks``), reports every epoch (a
reporter may raise :class:`TrialPruned`; it goes through) and returns a
:class:`~sweeplab.tuning._trial.TrialResult` with the platform's metric names:

* ``dev_error`` = 1 − ``dev_map`` (mAP@0.5), 1 − ``dev_mean_iou``, 1 −
  ``dev_verification_accuracy`` (at the τ chosen on dev); for localization the share of
  images with a wrong presence, class or box (IoU < 0.5), beside ``dev_presence_error`` and
  ``dev_box_iou``; for landmarks ``dev_landmark_distance``, the mean point distance relative to
  the image side (a distance, not a rate), beside ``dev_distance_<landmark>``;
* style transfer has no dev set: ``cost_ratio`` = J(G) at the end / J(G) at the start is its
  optimizing metric, beside ``total_cost``, ``content_cost``, ``style_cost``, ``initial_cost``;
* error-analysis metrics (``dev_ap_<class>``, ``dev_iou_<class>``, false accept / reject
  rates) and tables as artifacts (``analysis/…``); style transfer logs ``style/*.png``.

Test identities and test scenes are never evaluated in a trial (as for classification, test
error is for the final evaluation only).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sweeplab.errors import UserError
from sweeplab.tuning._context import SweepContext, split_params

__all__ = ["TASK_RUNNERS", "TaskSetup", "build_task_model", "run_task_trial", "task_setup"]


@dataclass(frozen=True)
class TaskSetup:
    """A trial's settings in their groups, validated: what its runner builds and trains with."""

    model_args: dict[str, Any]
    cfg: Any  # training.TrainConfig
    args: Any  # the task's settings (task_args_schema(task))
    # the task settings this trial did not sample (task_args of the project and defaults):
    # logged as MLflow params ``task.<name>`` so that every run says how it was made
    fixed: dict[str, Any]


def task_setup(ctx: SweepContext, params: dict[str, Any], device: str | None = None) -> TaskSetup:
    """Route ``params``, merge them into the project's fixed settings and validate."""
    from pydantic import ValidationError

    from sweeplab.training._tasks import task_args_schema

    routed = split_params(ctx, params)
    cfg = _train_config(ctx, routed.train, device)
    try:
        args = task_args_schema(ctx.task)(**{**ctx.task_args, **routed.task})
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(map(str, err["loc"]))
        raise UserError(
            f"invalid task setting {key}: {err['msg']} (found {err.get('input')!r})",
            key=f"task_args.{key}",
        ) from None
    fixed = {k: v for k, v in args.model_dump(mode="json").items() if k not in routed.task}
    return TaskSetup({**ctx.model_args, **routed.model}, cfg, args, fixed)


def build_task_model(ctx: SweepContext, setup: TaskSetup) -> Any:
    """The untrained network of a trial that trains one (every vision task but style transfer;
    seed first):
    the shape a trial's weights (``model/state_dict.pt``) load into."""
    from sweeplab.models import build_model

    train = ctx.task_data["train"]
    shape = tuple(train.images.shape[1:])
    if ctx.task in ("detection", "localization"):
        outputs = len(train.class_names)
    elif ctx.task == "landmarks":
        outputs = train.points.shape[1]
    elif ctx.task == "segmentation":
        outputs = train.num_classes
    elif ctx.task == "verification":
        from sweeplab.models._siamese import PairClassifier

        encoder = build_model(ctx.model_name, setup.model_args, input_shape=shape, num_outputs=0)
        return PairClassifier(encoder) if setup.args.head == "binary" else encoder
    else:
        raise ValueError(f"task {ctx.task!r} trains no network of its own")
    return build_model(ctx.model_name, setup.model_args, input_shape=shape, num_outputs=outputs)


def run_task_trial(
    ctx: SweepContext,
    params: dict[str, Any],
    reporter: Any = None,
    *,
    keep_model: bool = False,
    device: str | None = None,
) -> Any:
    from sweeplab.training import seed_everything

    setup = task_setup(ctx, params, device)
    seed_everything(setup.cfg.seed)
    on_epoch = None
    if reporter is not None:

        def on_epoch(result: Any) -> None:
            reporter.epoch(result.epoch, result.metrics)

    result = TASK_RUNNERS[ctx.task](ctx, setup, on_epoch)
    result.model_args = setup.model_args
    result.train_args = setup.cfg.model_dump(mode="json")
    result.train_args.update(
        {f"task.{k}": v for k, v in setup.args.model_dump(mode="json").items()}
    )
    if setup.cfg.save_checkpoint and result.model is not None:  # style transfer has no net
        result.state_dict = {k: v.detach().cpu() for k, v in result.model.state_dict().items()}
    if not keep_model:
        result.model = None
    return result


def _train_config(ctx: SweepContext, train_params: dict[str, Any], device: str | None) -> Any:
    from pydantic import ValidationError

    base = ctx.project.train
    try:
        cfg = type(base)(**{**base.model_dump(), **train_params})
        if device is not None:
            cfg = type(base)(**{**cfg.model_dump(), "device": device})
    except ValidationError as exc:
        err = exc.errors()[0]
        raise UserError(
            f"invalid training setting {'.'.join(map(str, err['loc']))}: {err['msg']} "
            f"(found {err.get('input')!r})"
        ) from None
    return cfg


def _finish(
    ctx: SweepContext, model: Any, task_result: Any, dev_images: Any, extra: dict[str, float]
) -> Any:
    from sweeplab.tuning._trial import TrialResult, diagnosis_metrics, measure_latency_ms

    metrics = dict(task_result.final)
    metrics.update(extra)
    metrics["params_count"] = float(sum(p.numel() for p in model.parameters()))
    if dev_images is not None:
        device = next(model.parameters()).device
        metrics["latency_ms"] = measure_latency_ms(model, dev_images.to(device))
    metrics["epochs_run"] = float(len(task_result.history))
    metrics.update(diagnosis_metrics(ctx, metrics))
    return TrialResult(
        metrics=metrics,
        history=task_result.history,
        device=str(next(model.parameters()).device),
        model=model,
    )


def _table_artifacts(name: str, table: Any) -> dict[str, bytes]:
    return {
        f"analysis/{name}.csv": table.to_csv(index=False).encode(),
        f"analysis/{name}.json": table.to_json(orient="records", indent=1).encode(),
    }


# ------------------------------------------------------------------------------- runners


def _detection(ctx: SweepContext, setup: TaskSetup, on_epoch: Any) -> Any:
    from sweeplab.analysis import detection_error_table
    from sweeplab.training._tasks import detect, train_detector

    train, dev = ctx.task_data["train"], ctx.task_data["dev"]
    args = setup.args
    model = build_task_model(ctx, setup)
    res = train_detector(model, train, setup.cfg, dev=dev, args=args, on_epoch=on_epoch)
    preds, truth = detect(model, dev, args=args)
    table = detection_error_table(preds, truth, train.class_names)
    every = table[table["size"] == "all"]
    extra = {f"dev_ap_{r['class']}": float(r["ap"]) for _, r in every.iterrows()}
    extra["dev_missed"] = float(every["missed"].sum())
    extra["dev_false_positives"] = float(every["false_positives"].sum())
    result = _finish(ctx, model, res, dev.images, extra)
    result.artifacts = _table_artifacts("detection_errors", table)
    return result


def _localization(ctx: SweepContext, setup: TaskSetup, on_epoch: Any) -> Any:
    import numpy as np

    from sweeplab.analysis import localization_error_table
    from sweeplab.training._tasks import localization_result, train_localizer

    train, dev = ctx.task_data["train"], ctx.task_data["dev"]
    model = build_task_model(ctx, setup)
    res = train_localizer(
        model, train, setup.cfg, dev=dev, on_epoch=on_epoch, lambda_box=setup.args.lambda_box
    )
    outcomes, ious = localization_result(model, dev)
    present = np.array([len(b) > 0 for b in dev.boxes])
    classes = np.array([int(c[0]) if len(c) else -1 for c in dev.classes])
    table = localization_error_table(outcomes, present, classes, dev.class_names)
    wrong_presence = (outcomes == "missed") | (outcomes == "false_alarm")
    extra = {
        "dev_presence_error": float(wrong_presence.mean()),
        "dev_box_iou": float(np.nanmean(ious)) if present.any() else float("nan"),
    }
    result = _finish(ctx, model, res, dev.images, extra)
    result.artifacts = _table_artifacts("localization_errors", table)
    return result


def _landmarks(ctx: SweepContext, setup: TaskSetup, on_epoch: Any) -> Any:
    from sweeplab.analysis import landmark_distance_table
    from sweeplab.training._tasks import predict_landmarks, train_landmarks

    train, dev = ctx.task_data["train"], ctx.task_data["dev"]
    model = build_task_model(ctx, setup)
    res = train_landmarks(model, train, setup.cfg, dev=dev, on_epoch=on_epoch)
    table = landmark_distance_table(
        predict_landmarks(model, dev).numpy(), dev.points.numpy(), dev.point_names
    )
    extra = {"dev_landmark_distance": res.final["dev_error"]}
    extra.update(
        {f"dev_distance_{r['name']}": float(r["mean_distance"]) for _, r in table.iterrows()}
    )
    result = _finish(ctx, model, res, dev.images, extra)
    result.artifacts = _table_artifacts("landmark_distances", table)
    return result


def _segmentation(ctx: SweepContext, setup: TaskSetup, on_epoch: Any) -> Any:
    from sweeplab.analysis import segmentation_iou_table
    from sweeplab.training._tasks import predict_masks, train_segmenter

    train, dev = ctx.task_data["train"], ctx.task_data["dev"]
    model = build_task_model(ctx, setup)
    res = train_segmenter(model, train, setup.cfg, dev=dev, on_epoch=on_epoch)
    table = segmentation_iou_table(predict_masks(model, dev), dev.masks.numpy(), dev.class_names)
    extra = {
        f"dev_iou_{r['class']}": float(r["iou"])
        for _, r in table.iterrows()
        if r["iou"] == r["iou"]  # NaN: the class is absent from dev
    }
    result = _finish(ctx, model, res, dev.images, extra)
    result.artifacts = _table_artifacts("segmentation_iou", table)
    return result


def _verification(ctx: SweepContext, setup: TaskSetup, on_epoch: Any) -> Any:
    import numpy as np

    from sweeplab.analysis import verification_confusion
    from sweeplab.models._siamese import PairClassifier
    from sweeplab.training._tasks import (
        SiameseArgs,
        dissimilarities,
        embed,
        evaluate_verification,
        train_siamese,
        verification_pairs,
    )

    train, dev = ctx.task_data["train"], ctx.task_data["dev"]
    cfg, args = setup.cfg, setup.args
    model = build_task_model(ctx, setup)
    encoder = model.encoder if isinstance(model, PairClassifier) else model
    siamese = SiameseArgs(**args.model_dump(include=set(SiameseArgs.model_fields)))
    res = train_siamese(model, train, cfg, dev=dev, args=siamese, on_epoch=on_epoch)
    # One-shot on dev identities (never seen in training): the first share is the database
    # (one reference each), the rest are distractors whose answer is "not recognized".
    ids = np.unique(dev.labels.numpy())
    n_distract = min(int(round(len(ids) * args.one_shot_distractors)), len(ids) - 2)
    database = dev.subset(ids[: len(ids) - n_distract])
    distractors = dev.subset(ids[len(ids) - n_distract :]) if n_distract > 0 else None
    report = evaluate_verification(model, dev, database, distractors=distractors, seed=cfg.seed)
    e = embed(encoder, dev.images)
    i, j, same = verification_pairs(dev.labels, seed=cfg.seed)
    d = dissimilarities(model, e, e).cpu().numpy()[i, j]
    confusion = verification_confusion(d, same, report.tau)
    extra = {
        "dev_error": 1.0 - report.dev_accuracy,
        "dev_verification_accuracy": report.dev_accuracy,
        "one_shot_accuracy": report.one_shot_accuracy,
        "tau": report.tau,
        "dev_false_accept_rate": confusion["false_accept_rate"],
        "dev_false_reject_rate": confusion["false_reject_rate"],
    }
    result = _finish(ctx, encoder, res, dev.images, extra)
    result.model = model
    confusion.update(tau=report.tau, one_shot_queries=report.one_shot_queries)
    result.artifacts = {
        "analysis/verification_confusion.json": json.dumps(confusion, indent=1).encode()
    }
    return result


def _style_transfer(ctx: SweepContext, setup: TaskSetup, on_epoch: Any) -> Any:
    import time

    from sweeplab.training import EpochResult, style_transfer
    from sweeplab.tuning._trial import TrialResult

    data = ctx.task_data
    cfg, args = setup.cfg, setup.args
    net, content, style = data["net"], data["content"], data["style"]
    # Reports: ~20 "epochs" of steps each, so a pruner can stop a trial that stalls.
    every = max(1, args.steps // 20)
    history: list[dict[str, float]] = []
    state = {"j0": None, "t": time.perf_counter()}

    def on_step(step: int, j: float) -> None:
        if step == 0:
            state["j0"] = j
            return
        if step % every and step != args.steps:
            return
        now = time.perf_counter()
        m = {
            "epoch": float(len(history) + 1),
            "step": float(step),
            "total_cost": j,
            "cost_ratio": j / state["j0"] if state["j0"] else float("nan"),
            "epoch_time_s": now - state["t"],
        }
        state["t"] = now
        history.append(m)
        if on_epoch is not None:
            on_epoch(EpochResult(epoch=len(history), metrics=dict(m)))

    res = style_transfer(net, content, style, args, seed=cfg.seed, on_step=on_step)
    j0, jc0, js0 = res.history[0]
    j1, jc1, js1 = res.history[-1]
    metrics = {
        "total_cost": j1,
        "content_cost": jc1,
        "style_cost": js1,
        "initial_cost": j0,
        "cost_ratio": j1 / j0 if j0 else float("nan"),
        "params_count": float(sum(p.numel() for p in net.parameters())),
        "style_seconds": res.seconds,
        "feature_train_accuracy": data["feature_train_accuracy"],
        "feature_dev_accuracy": data["feature_dev_accuracy"],
        "epochs_run": float(len(history)),
    }
    return TrialResult(
        metrics=metrics,
        history=history,
        device="cpu",
        model=net,
        artifacts={
            "style/generated.png": png_bytes(res.image),
            "style/content.png": png_bytes(content),
            "style/style.png": png_bytes(style),
        },
    )


def png_bytes(image: Any) -> bytes:
    """A ``(C, H, W)`` tensor in [0, 1] (C = 1 or 3) as PNG bytes."""
    import numpy as np
    from PIL import Image

    arr = (image.detach().cpu().clamp(0, 1).numpy() * 255).round().astype(np.uint8)
    pic = Image.fromarray(arr[0] if arr.shape[0] == 1 else arr.transpose(1, 2, 0))
    buf = io.BytesIO()
    pic.save(buf, format="PNG")
    return buf.getvalue()


TASK_RUNNERS: dict[str, Callable[..., Any]] = {
    "localization": _localization,
    "landmarks": _landmarks,
    "detection": _detection,
    "segmentation": _segmentation,
    "verification": _verification,
    "style_transfer": _style_transfer,
}
