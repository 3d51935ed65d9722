"""The final evaluation of a localization / landmark / detection / segmentation / verification /
multi-label trial.

As for classification (``_evaluate.final_evaluation``), the test split is predicted once, by
``sweeplab evaluate`` or ``sweeplab report --final``, for the chosen trial only (again only
with ``--again``, counted: ``_test_set``); searches never see it. The metrics logged to the trial's run:

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

The model: the run's weights ``weights/state_dict.pt`` when it has them, else the trial is
re-trained from its logged parameters (seeded, so deterministic on the same device) — said
on the console and in the report — and the weights are cached on the run for the next time.
Style transfer has no test set: it optimizes one image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sweeplab.errors import UserError
from sweeplab.models import CHECKPOINT_ARTIFACT
from sweeplab.reports._evaluate import (
    TrialRef,
    _cache_model,
    _client,
    load_saved_weights,
    parse_param,
    retrain,
)
from sweeplab.reports._test_set import check_first_evaluation, record_final_evaluation
from sweeplab.tasks import TASKS, TrialSetup, prepare_context, trial_setup
from sweeplab.tracking import FIXED_TASK_PREFIX, flatten_params

__all__ = ["FinalEvaluation", "final_task_evaluation"]


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


def _model(
    ref: TrialRef, ctx: Any, setup: TrialSetup, params: dict[str, Any], client: Any, say: Any
):
    """(model, source, notes): cached weights, else a seeded re-training (announced)."""
    skeleton = TASKS.get(ctx.task).build_model(ctx, setup)
    if load_saved_weights(client, ref.run_id, skeleton):
        return skeleton, "cached", []
    if say is not None:
        say(
            f"trial {ref.number} has no saved weights ({CHECKPOINT_ARTIFACT}): re-training it from "
            "its logged parameters (seeded), once; the weights are then kept on the run"
        )
    model = retrain(ctx, ref, params)
    notes = []
    problem = _cache_model(client, ref, model)
    if problem:
        notes.append(problem)
    return model, "retrained", notes


def final_task_evaluation(
    ref: TrialRef,
    pf: Any,
    task: str,
    *,
    tracking_uri: str | None = None,
    say: Any = None,
    again: bool = False,
) -> FinalEvaluation:
    """Predict the test split once with the trial's model; log the test metrics to its run.

    A trial evaluated before is refused unless ``again``; every evaluation is counted on the
    sweep's parent run (``_test_set``). ``say(text)`` announces a re-training before it
    starts (the CLI prints it).
    """
    spec = TASKS.get(task)
    if spec.final_dev_metric is None:
        raise UserError(
            f"sweep {ref.sweep!r} is a {task} sweep: its trials have no test set to evaluate "
            f"({spec.description}); `sweeplab report` shows what they logged"
        )
    manifest_path = ref.sweep_dir / "splits.json"
    if not manifest_path.is_file():
        raise UserError(
            f"the split manifest of sweep {ref.sweep!r} is gone: without it the test split "
            "is unknown",
            file=str(manifest_path),
        )
    ctx, _, manifest = prepare_context(
        pf, manifest_path=manifest_path, tracking_uri=tracking_uri or ref.info.get("tracking_uri")
    )
    if "test" not in manifest.splits:
        raise UserError(
            f"the project of sweep {ref.sweep!r} has no test split; add one to data.splits to "
            "estimate the error on new data",
            file=str(Path(ref.info["project"])),
        )
    client = _client(ref, tracking_uri)
    repeated = check_first_evaluation(ref, client, again=again)
    params, notes = _trial_params(ref, ctx)
    if repeated:
        notes.append(repeated)
    setup = trial_setup(ctx, params)
    notes += _fixed_changed(ref, setup.fixed)
    model, source, more = _model(ref, ctx, setup, params, client, say)
    notes += more
    dev_metric = spec.final_dev_metric
    metrics, dev_now = spec.final_scores(ctx, model, setup)
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
    notes.append(record_final_evaluation(ref, client, metrics))
    return FinalEvaluation(metrics=metrics, model_source=source, dev_check=check, notes=notes)
