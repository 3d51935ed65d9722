"""Classification: binary (logistic regression's σ output), multiclass (softmax) and
multi-label (one σ output per label), on tables or images.

Data: a project's ``data.source`` (scikit-learn's bundled sets, CSV / Parquet tables, image
folders, generated shapes), split once per sweep by the split manifest and turned into
in-memory tensors. A trial trains the registered model with ``training.fit`` (early
stopping, transfer from ``train.init_from``) and logs ``train_error``, ``train_dev_error``
and ``dev_error`` (1 − accuracy; for multi-label the mean of the per-label errors, with
``<set>_error_<label>`` for each label).

Binary and multiclass trials get the classification report (every dev example predicted:
error-analysis table, confusion matrix, probable label errors); multi-label trials a report
from their logged per-label errors.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from sweeplab.analysis import multilabel_error_table, multilabel_table_from_rates
from sweeplab.config.project import Project, ProjectFile
from sweeplab.data import (
    SHAPE_CLASSES,
    SplitManifest,
    build_splits,
    load_dataset,
    nested_order,
    prepare_tensors,
)
from sweeplab.errors import close_matches
from sweeplab.models import MODELS, build_model
from sweeplab.tasks._context import (
    SweepContext,
    TrialSetup,
    start_from_checkpoint,
    sweep_init_state,
    sweep_manifest,
)
from sweeplab.tasks._result import TrialResult, network_result
from sweeplab.tasks._spec import Fetch, OnEpoch, Task, register_task
from sweeplab.tasks._tables import ReportTable, num, pct, report_table
from sweeplab.training import (
    TrainData,
    fit,
    predict,
    resolve_device,
    weighted_error,
)

__all__ = ["Binary", "Classification", "Multiclass", "Multilabel"]


class Classification(Task):
    """What binary, multiclass and multi-label classification share: the data, the loop."""

    logged_report: ClassVar[bool] = False

    def prepare(
        self, pf: ProjectFile, *, manifest_path: Path | None, tracking_uri: str | None
    ) -> tuple[SweepContext, Any, SplitManifest]:
        """Load the data, build (or reuse) the split manifest, make tensors. Once per sweep.

        ``tracking_uri`` is where ``train.init_from`` looks up MLflow run ids.
        """
        project = pf.project
        dataset = load_dataset(project.data, base_dir=pf.base_dir)
        manifest = sweep_manifest(pf, dataset, manifest_path, build_splits)
        spec = MODELS.get(project.model.name)
        n_classes = len(dataset.classes)
        task = project.task or (
            "binary" if n_classes == 2 and "binary" in spec.tasks else "multiclass"
        )
        if task not in spec.tasks:
            raise pf.error(
                f"model {spec.name!r} supports {', '.join(spec.tasks)}, but the data has "
                f"{n_classes} classes (task {task!r}); choose another model, e.g. 'softmax' or "
                "'mlp'",
                "model",
            )
        if task == "binary" and n_classes != 2:
            raise pf.error(f"task 'binary' needs 2 classes, but the data has {n_classes}", "task")
        if (task == "multilabel") != dataset.multilabel:  # never inferred: the user says it
            found = (
                f"{n_classes} labels per example" if dataset.multilabel else "one class per example"
            )
            raise pf.error(
                f"task {task!r} does not fit the data: it has {found}; set task: "
                f"{'multilabel' if dataset.multilabel else 'binary or multiclass'}",
                "task",
            )
        tensors = prepare_tensors(
            dataset,
            manifest,
            normalize=project.data.normalize,
            device="cpu",
            image=spec.input_kind == "image",
        )
        init_state = sweep_init_state(pf, tracking_uri)
        weights = _split_weights(pf, dataset, manifest, task)
        ctx = SweepContext.of(
            pf,
            task=task,
            model=spec,
            tensors=tensors,
            init_state=init_state,
            task_data={"weights": weights} if weights else {},
            tracking_uri=tracking_uri,
        )
        return ctx, dataset, manifest

    def build_model(self, ctx: SweepContext, setup: TrialSetup) -> nn.Module:
        return build_model(
            ctx.model_name,
            setup.model_args,
            input_shape=ctx.tensors.input_shape,
            num_outputs=1 if ctx.task == "binary" else ctx.tensors.num_classes,
        )

    def run(self, ctx: SweepContext, setup: TrialSetup, on_epoch: OnEpoch) -> TrialResult:
        """Build the model from the registry, train it, evaluate train / train-dev / dev."""
        cfg = setup.cfg
        dev = resolve_device(cfg.device)
        model = self.build_model(ctx, setup).to(dev)
        if cfg.init_from is not None:
            start_from_checkpoint(ctx, model, cfg)
        splits = ctx.splits_on(dev)
        train = splits["train"]
        weights = {k: w for k, w in ctx.task_data.get("weights", {}).items() if k != "test"}
        if cfg.train_share < 1:
            keep = _train_subset(ctx, cfg.train_share)
            on_device = keep.to(dev)
            train = (train[0][on_device], train[1][on_device])
            if "train" in weights:  # kept on the CPU, as prepared
                weights["train"] = weights["train"][keep]
        data = TrainData(
            train=train,
            evals={k: v for k, v in splits.items() if k in ("train_dev", "dev")},
            labels=tuple(ctx.tensors.classes),  # names the per-label metrics of a multilabel task
            weights=weights,
        )
        fitted = fit(model, data, cfg, task=ctx.task, on_epoch=on_epoch)
        return network_result(
            ctx,
            model,
            fitted.final,
            fitted.history,
            dev_inputs=splits["dev"][0] if "dev" in splits else None,
            extra={"epochs_run": float(fitted.epochs_run), "best_epoch": float(fitted.best_epoch)},
        )

    def final_scores(
        self, ctx: SweepContext, model: nn.Module, setup: TrialSetup
    ) -> tuple[dict[str, float], float]:
        """``test_error`` = 1 − test accuracy, and the dev error now."""

        def error(split: str) -> float:
            X, y = ctx.tensors.splits[split]
            labels, _ = predict(model, X, task=ctx.task)
            return float((labels != y.cpu().numpy()).mean())

        scores = {"test_error": error("test")}
        weights = ctx.task_data.get("weights", {})
        if "test" in weights:
            X, y = ctx.tensors.splits["test"]
            device = next(model.parameters()).device
            w = weighted_error(model, X.to(device), y.to(device), weights["test"], task=ctx.task)
            scores["weighted_test_error"] = float(w)
        return scores, error("dev")


def _train_subset(ctx: SweepContext, share: float) -> torch.Tensor:
    """The positions in the train split of ``train.train_share``'s examples: a prefix of a
    stratified order fixed by ``data.seed`` (made once per sweep), so shares are nested."""

    def make() -> np.ndarray:
        y = ctx.tensors.splits["train"][1].cpu().numpy()
        strata = y.astype(np.int64) if y.ndim == 1 else np.zeros(len(y), dtype=np.int64)
        return nested_order(strata, ctx.project.data.seed)

    order = ctx.once("train_order", make)
    k = max(1, round(share * len(order)))
    return torch.from_numpy(np.sort(order[:k]))


def _split_weights(
    pf: ProjectFile, dataset: Any, manifest: SplitManifest, task: str
) -> dict[str, torch.Tensor]:
    """``metrics.weights`` as per-example weights of every split: an example weighs its true
    class's weight (1 for a class not named)."""
    by_class = pf.project.metrics.weights
    if by_class is None:
        return {}
    if task == "multilabel":
        raise pf.error(
            "weights by class need a binary or multiclass task, but the task is multilabel; "
            "remove metrics.weights",
            "metrics",
            "weights",
        )
    classes = [str(c) for c in dataset.classes]
    for name in by_class:
        if name not in classes:
            raise pf.error(
                f"weights names class {name!r}, which the data does not have; expected one "
                f"of: {', '.join(classes)}",
                "metrics",
                "weights",
                name,
                suggestions=close_matches(name, classes),
            )
    per_class = torch.tensor([by_class.get(c, 1.0) for c in classes], dtype=torch.float64)
    y = torch.from_numpy(dataset.y)
    return {name: per_class[y[torch.from_numpy(idx)]] for name, idx in manifest.splits.items()}


@register_task
class Binary(Classification):
    name = "binary"
    description = "two classes: one σ output, P(y = 1); inferred from a 2-class source"


@register_task
class Multiclass(Classification):
    name = "multiclass"
    description = "one class of C per example: softmax over C outputs; inferred otherwise"


@register_task
class Multilabel(Classification):
    name = "multilabel"
    description = "several yes / no labels per example: one σ output per label (never inferred)"
    families = ("train_error_", "train_dev_error_", "dev_error_", "test_error_")
    error_measure = "the mean over labels of each label's error on its labeled entries"
    logged_report = True

    def class_names(self, project: Project) -> tuple[str, ...] | None:
        data = project.data
        if data.scheme == "generated" and data.location == "shapes_multilabel":
            return SHAPE_CLASSES
        return None

    def report_tables(
        self, metrics: dict[str, float], fetch: Fetch, pf: ProjectFile, sweep_dir: Path
    ) -> tuple[list[ReportTable], list[tuple[str, str]], list[str]]:
        """The per-label table from the logged rates and the dev split's labels (no model)."""
        manifest_path = sweep_dir / "splits.json"
        if not manifest_path.is_file():
            return [], [], [f"the split manifest {manifest_path} is gone: no per-label table"]
        ds = load_dataset(pf.project.data, base_dir=pf.base_dir)
        manifest = SplitManifest.from_json(manifest_path)
        labels = [str(c) for c in ds.classes]
        notes = []
        if manifest.fingerprint != ds.fingerprint():
            notes.append(
                "the data changed since the sweep ran (fingerprint mismatch): the labeled counts "
                "are those of the data now"
            )
        rates = {
            name: metrics[f"dev_error_{name}"] for name in labels if f"dev_error_{name}" in metrics
        }
        frame = multilabel_table_from_rates(ds.y[manifest.splits["dev"]], rates, labels)
        fmt: dict[str, Any] = {
            "label": str,
            "labeled": num,
            "unlabeled": num,
            "positives": num,
            "errors": num,
            "error_rate": pct,
            "pct_of_errors": pct,
            "ceiling": pct,
        }
        for split in ("train", "train_dev"):  # each label's own ladder: bias or variance?
            col = f"{split}_error"
            frame[col] = [metrics.get(f"{split}_error_{name}", math.nan) for name in labels]
            if frame[col].notna().any():
                fmt[col] = pct
        missing = [name for name in labels if name not in rates]
        if missing:
            notes.append(f"the trial logged no dev error for label(s) {', '.join(missing)}")
        n_dev = len(manifest.splits["dev"])
        table = report_table(
            "multilabel-errors",
            "Errors by label (dev)",
            f"{n_dev} dev examples × {len(labels)} labels; unlabeled entries count neither in "
            "the loss nor in the errors. dev_error is the mean of the label errors, so fixing "
            "every error of a label lowers it by the label's ceiling (error rate / labels).",
            frame,
            fmt,
        )
        return [table], [], notes

    def final_scores(
        self, ctx: SweepContext, model: nn.Module, setup: TrialSetup
    ) -> tuple[dict[str, float], float]:
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
