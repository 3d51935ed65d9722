"""A chosen trial's trained model and its predictions: what reports and reviews analyse.

How a report gets the model (also in the README, "Reports and error analysis"):

1. **Saved weights**: the run's artifact ``weights/state_dict.pt`` (``torch.save`` of the
   ``state_dict``, read back with ``torch.load(weights_only=True)``: tensors only, no pickled
   code; runs of earlier versions: ``model/state_dict.pt``). The sweep's best trial has them
   (``tracking.log_models``: best, the default, or all), and so has a trial once a report,
   review or evaluation has run on it.
2. **Deterministic re-training** otherwise: the trial's parameters (from MLflow), the sweep's
   project file and its stored split manifest (``sweeps/<sweep>/splits.json``) go through
   the same ``run_trial`` the sweep called, which seeds the initial weights and the
   mini-batch order. The weights are then cached as in 1, so it happens once per trial.

Either way the errors recomputed on train / train-dev / dev are compared with the errors the
trial logged; a difference (the project file was edited, or another device changed the
arithmetic) is reported, never hidden.

The test set is predicted only by :func:`final_evaluation` (``sweeplab evaluate RUN`` or
``sweeplab report RUN --final``), which logs ``test_error`` and ``dev_overfit`` to the run,
once per trial unless ``--again`` (``_test_set``). Searches never see it.
"""

from __future__ import annotations

import ast
import math
import re
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from sweeplab.errors import UserError, close_matches
from sweeplab.models import CHECKPOINT_ARTIFACT, save_checkpoint
from sweeplab.reports._test_set import check_first_evaluation, record_final_evaluation
from sweeplab.tasks import (
    TASKS,
    SweepContext,
    load_project,
    prepare_context,
    run_trial,
    trial_setup,
)
from sweeplab.tracking import (
    TAG,
    TrialStatus,
    client_for,
    load_sweep_table,
    run_weights,
)
from sweeplab.training import predict
from sweeplab.workspace import Workspace

__all__ = [
    "Evaluation",
    "SplitPredictions",
    "TrialRef",
    "evaluate_trial",
    "final_evaluation",
    "parse_param",
    "resolve_trial",
    "trial_model",
]

_RUN_ID = re.compile(r"^[0-9a-f]{32}$")
#: Splits whose predictions a report may use; ``test`` only in a final evaluation.
ANALYSIS_SPLITS = ("train", "train_dev", "dev")


def parse_param(text: str) -> Any:
    """An MLflow parameter string back to the value the sampler chose.

    Parameters are logged as ``str(value)``; Python literals (ints, floats — ``repr`` round
    trips exactly — booleans, None) come back typed, anything else stays a string.
    """
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text
    return value if isinstance(value, int | float | bool | type(None)) else text


@dataclass(frozen=True)
class TrialRef:
    """One trial of one sweep: where it is stored and what it logged."""

    sweep: str
    info: dict[str, Any]  # sweep.json
    run_id: str
    number: int
    status: str
    feasible: bool
    params: dict[str, Any]  # typed (see parse_param)
    metrics: dict[str, float]  # logged (latest) values
    objective: str
    goal: str
    sweep_dir: Path
    # the settings the trial did not sample, as logged: ``model.<name>``, ``train.<name>``, …
    fixed: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """Folder name for the trial's reports and reviews: ``<sweep>-trial<N>``."""
        return f"{self.sweep}-trial{self.number}"


def _find_sweep_of_run(ws: Any, run_id: str, tracking_uri: str | None) -> str:
    uris = [tracking_uri] if tracking_uri else []
    for name in ws.sweeps():
        uri = ws.read_sweep(name).get("tracking_uri")
        if uri and uri not in uris:
            uris.append(uri)
    for uri in uris:
        try:
            run = client_for(uri).get_run(run_id)
        except Exception:  # noqa: BLE001 - not in this store; try the next
            continue
        sweep = run.data.tags.get(TAG["sweep"])
        if run.data.tags.get(TAG["kind"]) != "trial" or not sweep:
            raise UserError(f"run {run_id} is not a trial of a sweep (it is a sweep's parent run?)")
        return sweep
    raise UserError(f"no run {run_id} in the tracking stores of the workspace {ws.root}")


def resolve_trial(
    target: str | None,
    *,
    trial: int | None = None,
    workspace: Path | None = None,
    tracking_uri: str | None = None,
) -> TrialRef:
    """The trial a report is about.

    ``target`` is a sweep name (default: the workspace's last sweep) or a trial's MLflow run
    id. For a sweep, ``trial`` picks a trial by number; without it, the best trial: the best
    optimizing value among the finished trials that satisfy every constraint (the first row
    of ``sweeplab runs``).
    """
    ws = Workspace.at(workspace)
    run_id = None
    sweep = target
    if target is not None and target not in ws.sweeps() and _RUN_ID.match(target):
        run_id = target
        sweep = _find_sweep_of_run(ws, target, tracking_uri)
    if sweep is not None and sweep not in ws.sweeps():
        known = ws.sweeps()
        raise UserError(
            f"{sweep!r} is neither a sweep of the workspace {ws.root} nor a run id"
            + (f"; sweeps: {', '.join(known[-10:])}" if known else "; it has no sweeps yet"),
            suggestions=close_matches(sweep, known),
        )
    info, ranked = load_sweep_table(sweep, workspace, tracking_uri)
    if not ranked:
        raise UserError(f"sweep {info['name']!r} has no trials yet")
    objective, goal = info["objective"], info["goal"]
    if run_id is not None or trial is not None:
        if run_id is not None and trial is not None:
            raise UserError("give a run id or --trial, not both")
        pick = [t for t in ranked if (t["run_id"] == run_id if run_id else t["number"] == trial)]
        if not pick:
            numbers = ", ".join(str(t["number"]) for t in sorted(ranked, key=lambda t: t["number"]))
            raise UserError(f"sweep {info['name']!r} has no trial {trial}; its trials: {numbers}")
        chosen = pick[0]
        if chosen["status"] != TrialStatus.FINISHED:
            raise UserError(
                f"trial {chosen['number']} of sweep {info['name']!r} is {chosen['status']}, "
                "not finished: it has no trained model to analyse"
            )
    else:
        chosen = ranked[0]
        value = chosen["metrics"].get(objective, math.nan)
        finished = chosen["status"] == TrialStatus.FINISHED
        if not (finished and chosen["feasible"] and math.isfinite(value)):
            raise UserError(
                f"no trial of sweep {info['name']!r} finished with a finite {objective} while "
                "satisfying every constraint; pick one with --trial N (see `sweeplab runs`)"
            )
    return TrialRef(
        sweep=info["name"],
        info=info,
        run_id=chosen["run_id"],
        number=int(chosen["number"]),
        status=chosen["status"],
        feasible=bool(chosen["feasible"]),
        # the sampled settings by name (the tag sweeplab.sampled; older sweeps: unprefixed)
        params={k: parse_param(v) for k, v in chosen["params"].items()},
        metrics={k: float(v) for k, v in chosen["metrics"].items()},
        objective=objective,
        goal=goal,
        sweep_dir=ws.sweep_dir(info["name"]),
        fixed={k: parse_param(v) for k, v in chosen["fixed"].items()},
    )


@dataclass(frozen=True)
class SplitPredictions:
    """Predictions on one split: dataset ``indices``, true and predicted class ids, probs."""

    indices: np.ndarray  # (n,) rows of the Dataset
    y_true: np.ndarray  # (n,) int64 class ids
    y_pred: np.ndarray  # (n,) int64 class ids
    probs: np.ndarray  # (n, K) class probabilities

    @property
    def error(self) -> float:
        return float(np.mean(self.y_true != self.y_pred)) if len(self.y_true) else math.nan


@dataclass
class Evaluation:
    """A trial's model, its data and its predictions on the analysis splits."""

    ref: TrialRef
    project_file: Any
    context: Any  # tuning.SweepContext
    dataset: Any  # data.Dataset
    manifest: Any  # data.SplitManifest
    model: Any  # torch.nn.Module
    predictions: dict[str, SplitPredictions]
    model_source: str  # "cached" | "retrained"
    notes: list[str] = field(default_factory=list)

    def errors(self) -> dict[str, float]:
        return {k: p.error for k, p in self.predictions.items()}

    @property
    def human_level_error(self) -> float | None:
        return self.context.human_level_error


def _client(ref: TrialRef, tracking_uri: str | None):
    return client_for(tracking_uri or ref.info["tracking_uri"])


def _build(ctx: SweepContext, params: dict[str, Any]):
    """The trial's untrained network (the shape its cached weights load into)."""
    return TASKS.get(ctx.task).build_model(ctx, trial_setup(ctx, params))


def load_saved_weights(client: Any, run_id: str, model: Any) -> bool:
    """Put the run's saved weights into ``model`` (in eval mode); False when it has none, or
    they cannot be read or no longer fit (the project's model changed since): re-train."""
    try:
        state = run_weights(client, run_id)
        if state is None:
            return False
        model.load_state_dict(state)
    except Exception:  # noqa: BLE001 - unreadable or no longer fitting weights: re-train
        return False
    model.eval()
    return True


def _cached_model(client: Any, ref: TrialRef, ctx: Any):
    """The run's saved weights as a model, or None when there are none (or they no longer fit)."""
    model = _build(ctx, ref.params)
    return model if load_saved_weights(client, ref.run_id, model) else None


def retrain(ctx: Any, ref: TrialRef, params: dict[str, Any] | None = None):
    """The trial trained again from its logged parameters (seeded), or one clear error."""
    try:
        result = run_trial(ctx, ref.params if params is None else params, None, keep_model=True)
    except UserError as exc:
        raise UserError(
            f"cannot re-train trial {ref.number} of sweep {ref.sweep!r} from its logged "
            f"parameters: {exc.message}"
        ) from None
    return result.model  # on the device it trained on: predictions use the same arithmetic


def _cache_model(client: Any, ref: TrialRef, model: Any) -> str | None:
    folder, name = CHECKPOINT_ARTIFACT.rsplit("/", 1)
    with tempfile.TemporaryDirectory() as tmp:
        path = save_checkpoint(model, Path(tmp) / name)
        try:
            client.log_artifact(ref.run_id, str(path), artifact_path=folder)
        except Exception as exc:  # noqa: BLE001 - the report still works; the next one re-trains
            return f"could not cache the weights as an artifact of the run ({type(exc).__name__}: {exc})"
    return None


def _predict_split(model: Any, ctx: Any, manifest: Any, split: str) -> SplitPredictions:
    X, y = ctx.tensors.splits[split]
    labels, probs = predict(model, X, task=ctx.task)
    if ctx.task == "binary":  # (n,) P(y=1) -> (n, 2)
        probs = np.column_stack([1.0 - probs, probs])
    return SplitPredictions(
        indices=manifest.splits[split],
        y_true=y.cpu().numpy().astype(np.int64),
        y_pred=labels.astype(np.int64),
        probs=probs.astype(np.float64),
    )


def evaluate_trial(
    ref: TrialRef, *, tracking_uri: str | None = None, cache: bool = True
) -> Evaluation:
    """Load (or re-train) the trial's model and predict train, train-dev and dev. Never test."""
    project_path = Path(ref.info["project"])
    if not project_path.is_file():
        raise UserError(
            f"the project file of sweep {ref.sweep!r} is gone; the report needs it to load the data",
            file=str(project_path),
        )
    manifest_path = ref.sweep_dir / "splits.json"
    if not manifest_path.is_file():
        raise UserError(
            f"the split manifest of sweep {ref.sweep!r} is gone: without it the report cannot "
            "know which examples the trial trained on",
            file=str(manifest_path),
        )
    pf = load_project(project_path)
    if pf.project.task == "multilabel":  # one predicted class per example is assumed below
        per_label = sorted(k for k in ref.metrics if k.startswith("dev_error_"))
        raise UserError(
            f"this analyses one class per example (binary, multiclass), but sweep {ref.sweep!r} "
            f"is multilabel; its trials log each label's error ({', '.join(per_label) or 'dev_error_<label>'}) "
            "beside dev_error: sweeplab report gives them and each label's probable label "
            "errors, sweeplab compare puts two trials side by side"
        )
    # the sweep's own store: where its init_from (a run id, best:PROJECT) was looked up
    ctx, dataset, manifest = prepare_context(
        pf, manifest_path=manifest_path, tracking_uri=tracking_uri or ref.info["tracking_uri"]
    )
    client = _client(ref, tracking_uri)
    ref, model, source, notes = trial_model(ref, ctx, client, cache=cache)
    preds = {
        s: _predict_split(model, ctx, manifest, s) for s in ANALYSIS_SPLITS if s in manifest.splits
    }
    for split, p in preds.items():
        logged = ref.metrics.get(f"{split}_error")
        if logged is not None and abs(logged - p.error) > 0.5 / max(len(p.y_true), 1):
            notes.append(
                f"the {'re-trained' if source == 'retrained' else 'cached'} model's {split} error "
                f"{p.error:.4f} differs from the {logged:.4f} the trial logged (was the project "
                "file edited, or did the trial run on another device?); this report shows the "
                "model it analysed"
            )
    return Evaluation(
        ref=ref,
        project_file=pf,
        context=ctx,
        dataset=dataset,
        manifest=manifest,
        model=model,
        predictions=preds,
        model_source=source,
        notes=notes,
    )


def trial_model(
    ref: TrialRef, ctx: Any, client: Any, *, cache: bool = True
) -> tuple[TrialRef, Any, str, list[str]]:
    """The trial's model: its saved weights, else re-trained (and saved when ``cache``).
    Returns the ref without logged params that are not settings, the model, its source
    ("cached" | "retrained") and notes."""
    notes: list[str] = []
    known = ctx.model_fields | ctx.train_fields
    extra = sorted(k for k in ref.params if k not in known)
    if extra:  # logged beside the sampled ones (e.g. by a backend); not the model's to take
        notes.append(f"logged parameters that are not settings were left out: {', '.join(extra)}")
        ref = replace(ref, params={k: v for k, v in ref.params.items() if k in known})
    model = _cached_model(client, ref, ctx)
    source = "cached"
    if model is None:
        model = retrain(ctx, ref)
        source = "retrained"
        if cache:
            problem = _cache_model(client, ref, model)
            if problem:
                notes.append(problem)
    return ref, model, source, notes


def final_evaluation(
    ev: Evaluation, *, tracking_uri: str | None = None, again: bool = False
) -> dict[str, float]:
    """Predict the test set once, for the chosen model; log ``test_error`` and ``dev_overfit``.

    A trial evaluated before is refused unless ``again`` (see ``_test_set``); every
    evaluation is counted on the sweep's parent run (a note says how often). Returns the
    logged metrics. The dev error is the one this model has on dev now (equal to the logged
    one unless a note says otherwise).
    """
    if "test" not in ev.manifest.splits:
        raise UserError(
            f"the project of sweep {ev.ref.sweep!r} has no test split; add one to data.splits "
            "(or target.splits) to estimate the error on new data"
        )
    client = _client(ev.ref, tracking_uri)
    repeated = check_first_evaluation(ev.ref, client, again=again)
    ev.predictions["test"] = _predict_split(ev.model, ev.context, ev.manifest, "test")
    test_error = ev.predictions["test"].error
    metrics = {"test_error": test_error, "dev_overfit": test_error - ev.predictions["dev"].error}
    ev.notes += [n for n in (repeated, record_final_evaluation(ev.ref, client, metrics)) if n]
    return metrics
