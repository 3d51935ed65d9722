"""The final evaluation of a localization / landmark / detection / segmentation / verification /
multi-label trial.

As for classification (``_evaluate.final_evaluation``), the test split is predicted once, by
``sweeplab evaluate`` or ``sweeplab report --final``, for the chosen trial only; searches never
see it. The metrics logged to the trial's run:

* detection: ``test_map`` (mAP@0.5), ``test_ap_<class>``, ``test_error`` = 1 − ``test_map``;
* segmentation: ``test_mean_iou``, ``test_iou_<class>``, ``test_error`` = 1 − ``test_mean_iou``;
* verification: ``test_verification_accuracy`` at the τ chosen on dev, ``test_one_shot_accuracy``
  (one reference per test identity, the same share of test identities kept out as
  distractors as in the trials), ``test_error`` = 1 − ``test_verification_accuracy``;
* localization: ``test_error`` (wrong presence, class or box IoU < 0.5), ``test_presence_error``,
  ``test_box_iou``;
* landmarks: ``test_landmark_distance`` = ``test_error``, ``test_distance_<landmark>``;
* multilabel: ``test_error_<label>`` and ``test_error`` (their mean, as ``dev_error``);

and ``dev_overfit`` = ``test_error`` − ``dev_error`` (the logged dev error; the model's dev
error now is checked against it, and a difference is noted).

The model: the run's weights ``model/state_dict.pt`` when it has them, else the trial is
re-trained from its logged parameters (seeded, so deterministic on the same device) — said
on the console and in the report — and the weights are cached on the run for the next time.
Style transfer has no test set: it optimizes one image.
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sweeplab.errors import UserError
from sweeplab.reports._evaluate import TrialRef

__all__ = ["FinalEvaluation", "final_task_evaluation"]

VISION_FINAL = ("detection", "segmentation", "verification", "localization", "landmarks")


@dataclass
class FinalEvaluation:
    """What a final evaluation logged, and how it got the model."""

    metrics: dict[str, float]
    model_source: str  # "cached" | "retrained"
    dev_check: tuple[str, float, float] | None = None  # (metric, logged, now)
    notes: list[str] = field(default_factory=list)


def _trial_params(ref: TrialRef, ctx: Any) -> tuple[dict[str, Any], list[str]]:
    """The sampled settings of the trial (``ref.params``; the fixed ones are ``ref.fixed``)."""
    known = ctx.model_fields | ctx.train_fields | ctx.task_fields
    params = {k: v for k, v in ref.params.items() if k in known}
    extra = sorted(k for k in ref.params if k not in known)
    notes = []
    if extra:
        notes.append(f"logged parameters that are not settings were left out: {', '.join(extra)}")
    return params, notes


def _fixed_changed(ref: TrialRef, fixed: dict[str, Any]) -> list[str]:
    """Notes for the task settings the project file now sets differently from the trial."""
    from sweeplab.reports._evaluate import parse_param
    from sweeplab.tracking import flatten_params
    from sweeplab.tuning._record import FIXED_TASK_PREFIX

    now = flatten_params(fixed)
    changed = []
    for key, value in ref.fixed.items():
        if key.startswith(FIXED_TASK_PREFIX):
            name = key[len(FIXED_TASK_PREFIX) :]
            if name in now and parse_param(now[name]) != value and now[name] != str(value):
                changed.append(f"{name}: {value} in the trial, {now[name]} now")
    if not changed:
        return []
    return [
        "the project file's task settings changed since the trial ran ("
        + "; ".join(changed)
        + "): the evaluation uses the project file as it is now"
    ]


def _load_cached(client: Any, run_id: str, model: Any) -> bool:
    import tempfile

    import torch

    from sweeplab.reports._evaluate import MODEL_ARTIFACT

    try:
        names = {a.path for a in client.list_artifacts(run_id, "model")}
        if MODEL_ARTIFACT not in names:
            return False
        with tempfile.TemporaryDirectory() as tmp:
            local = client.download_artifacts(run_id, MODEL_ARTIFACT, tmp)
            state = torch.load(local, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except Exception:  # noqa: BLE001 - unreadable or no longer fitting weights: re-train
        return False
    model.eval()
    return True


def _model(ref: TrialRef, ctx: Any, params: dict[str, Any], client: Any, say: Any):
    """(model, source, notes): cached weights, else a seeded re-training (announced)."""
    from sweeplab.reports._evaluate import _cache_model
    from sweeplab.tuning import run_trial

    if ctx.task in VISION_FINAL:
        from sweeplab.tuning._task_trials import build_task_model, task_setup

        skeleton = build_task_model(ctx, task_setup(ctx, params))
    else:
        from sweeplab.reports._evaluate import _build

        skeleton = _build(ctx, params)
    if _load_cached(client, ref.run_id, skeleton):
        return skeleton, "cached", []
    if say is not None:
        say(
            f"trial {ref.number} has no saved weights (model/state_dict.pt): re-training it from "
            "its logged parameters (seeded), once; the weights are then kept on the run"
        )
    try:
        model = run_trial(ctx, params, None, keep_model=True).model
    except UserError as exc:
        raise UserError(
            f"cannot re-train trial {ref.number} of sweep {ref.sweep!r} from its logged "
            f"parameters: {exc.message}"
        ) from None
    notes = []
    problem = _cache_model(client, ref, model)
    if problem:
        notes.append(problem)
    return model, "retrained", notes


def _detection(ctx: Any, model: Any, params: dict[str, Any]) -> tuple[dict[str, float], float]:
    from sweeplab.analysis import mean_average_precision
    from sweeplab.training._tasks import detect
    from sweeplab.tuning._task_trials import task_setup

    args = task_setup(ctx, params).args
    names = ctx.task_data["train"].class_names

    def score(split: str):
        preds, truth = detect(model, ctx.task_data[split], args=args)
        return mean_average_precision(preds, truth, num_classes=len(names), iou_threshold=0.5)

    test = score("test")
    out = {"test_map": test.map, "test_error": 1.0 - test.map}
    out.update({f"test_ap_{c}": float(a) for c, a in zip(names, test.per_class, strict=True)})
    return out, score("dev").map


def _segmentation(ctx: Any, model: Any, params: dict[str, Any]) -> tuple[dict[str, float], float]:
    from sweeplab.analysis import mean_iou
    from sweeplab.training._tasks import predict_masks

    sets = ctx.task_data

    def score(split: str):
        s = sets[split]
        return mean_iou(predict_masks(model, s), s.masks.numpy(), num_classes=s.num_classes)

    miou, per = score("test")
    out = {"test_mean_iou": float(miou), "test_error": 1.0 - float(miou)}
    names = sets["train"].class_names
    out.update({f"test_iou_{c}": float(v) for c, v in zip(names, per, strict=True) if v == v})
    return out, float(score("dev")[0])


def _verification(ctx: Any, model: Any, params: dict[str, Any]) -> tuple[dict[str, float], float]:
    from sweeplab.training._tasks import evaluate_verification
    from sweeplab.tuning._task_trials import task_setup

    setup = task_setup(ctx, params)
    dev, test = ctx.task_data["dev"], ctx.task_data["test"]
    seed = setup.cfg.seed
    # Verification on every test pair at the τ chosen on dev (as the trial chose it) …
    pairs = evaluate_verification(model, dev, test, seed=seed)
    # … and one-shot recognition with the trial's share of distractor identities.
    ids = np.unique(test.labels.numpy())
    n_distract = min(int(round(len(ids) * setup.args.one_shot_distractors)), len(ids) - 2)
    database = test.subset(ids[: len(ids) - n_distract])
    distractors = test.subset(ids[len(ids) - n_distract :]) if n_distract > 0 else None
    shot = evaluate_verification(model, dev, database, distractors=distractors, seed=seed)
    out = {
        "test_verification_accuracy": pairs.test_accuracy,
        "test_one_shot_accuracy": shot.one_shot_accuracy,
        "test_error": 1.0 - pairs.test_accuracy,
        "test_tau": pairs.tau,
    }
    return out, pairs.dev_accuracy


def _localization(ctx: Any, model: Any, params: dict[str, Any]) -> tuple[dict[str, float], float]:
    from sweeplab.training._tasks import localization_result

    def score(split: str) -> dict[str, float]:
        outcomes, ious = localization_result(model, ctx.task_data[split])
        return {
            "test_error": float((outcomes != "correct").mean()),
            "test_presence_error": float(np.isin(outcomes, ("missed", "false_alarm")).mean()),
            "test_box_iou": float(np.nanmean(ious)) if np.isfinite(ious).any() else math.nan,
        }

    return score("test"), score("dev")["test_error"]


def _landmarks(ctx: Any, model: Any, params: dict[str, Any]) -> tuple[dict[str, float], float]:
    from sweeplab.analysis import landmark_distance_table
    from sweeplab.training._tasks import predict_landmarks

    def table(split: str):
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


def _multilabel(ctx: Any, model: Any, params: dict[str, Any]) -> tuple[dict[str, float], float]:
    from sweeplab.analysis import multilabel_error_table
    from sweeplab.training import predict

    labels = [str(c) for c in ctx.tensors.classes]

    def table(split: str):
        X, y = ctx.tensors.splits[split]
        pred, _ = predict(model, X, task="multilabel")
        return multilabel_error_table(y.cpu().numpy(), pred, labels)

    test = table("test")
    rates = test.set_index("label")["error_rate"]
    out = {f"test_error_{k}": float(v) for k, v in rates.items() if v == v}
    out["test_error"] = float(rates.mean())  # NaN-skipping: labels with labeled entries
    return out, float(table("dev")["error_rate"].mean())


_SCORERS = {
    "detection": (_detection, "dev_map"),
    "segmentation": (_segmentation, "dev_mean_iou"),
    "verification": (_verification, "dev_verification_accuracy"),
    "localization": (_localization, "dev_error"),
    "landmarks": (_landmarks, "dev_landmark_distance"),
    "multilabel": (_multilabel, "dev_error"),
}


def final_task_evaluation(
    ref: TrialRef, pf: Any, task: str, *, tracking_uri: str | None = None, say: Any = None
) -> FinalEvaluation:
    """Predict the test split once with the trial's model; log the test metrics to its run.

    ``say(text)`` announces a re-training before it starts (the CLI prints it).
    """
    from sweeplab.reports._evaluate import _client
    from sweeplab.tracking import TrialRun
    from sweeplab.tuning import prepare_context

    if task not in _SCORERS:
        raise UserError(
            f"sweep {ref.sweep!r} is a {task} sweep: a trial optimizes one image (J(G) from "
            "start to end), so there is no test set to evaluate; `sweeplab report` shows its "
            "costs and the generated image"
        )
    manifest_path = ref.sweep_dir / "splits.json"
    if not manifest_path.is_file():
        raise UserError(
            f"the split manifest of sweep {ref.sweep!r} is gone: without it the test split "
            "is unknown",
            file=str(manifest_path),
        )
    ctx, _, manifest = prepare_context(pf, manifest_path=manifest_path)
    if "test" not in manifest.splits:
        raise UserError(
            f"the project of sweep {ref.sweep!r} has no test split; add one to data.splits to "
            "estimate the error on new data",
            file=str(Path(ref.info["project"])),
        )
    params, notes = _trial_params(ref, ctx)
    if "test_error" in ref.metrics:
        notes.append(
            f"trial {ref.number} was evaluated on the test set before (test_error "
            f"{ref.metrics['test_error']:.4f}); choosing trials by the test error would make it "
            "as optimistic as the dev error"
        )
    if task in VISION_FINAL:
        from sweeplab.tuning._task_trials import task_setup

        notes += _fixed_changed(ref, task_setup(ctx, params).fixed)
    client = _client(ref, tracking_uri)
    model, source, more = _model(ref, ctx, params, client, say)
    notes += more
    scorer, dev_metric = _SCORERS[task]
    metrics, dev_now = scorer(ctx, model, params)
    logged_dev = ref.metrics.get(dev_metric)
    check = None
    if logged_dev is not None:
        check = (dev_metric, logged_dev, dev_now)
        if not math.isclose(logged_dev, dev_now, rel_tol=1e-6, abs_tol=1e-6):
            notes.append(
                f"the {'re-trained' if source == 'retrained' else 'cached'} model's {dev_metric} "
                f"{dev_now:.4f} differs from the {logged_dev:.4f} the trial logged (was the "
                "project file edited, or did the trial run on another device?)"
            )
    dev_error = ref.metrics.get("dev_error")
    if dev_error is not None:
        metrics["dev_overfit"] = metrics["test_error"] - dev_error
    run = TrialRun(client, ref.run_id)
    run.log_metrics(metrics, step=int(ref.metrics.get("epochs_run", 0)))
    run.flush()
    run.set_tags({"sweeplab.final_evaluation": _dt.datetime.now().isoformat(timespec="seconds")})
    ref.metrics.update(metrics)
    return FinalEvaluation(metrics=metrics, model_source=source, dev_check=check, notes=notes)
