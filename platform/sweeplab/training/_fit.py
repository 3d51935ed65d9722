"""``fit``: mini-batch gradient descent over in-memory tensors, with per-epoch metrics.

Each epoch: set the learning rate of the schedule, shuffle (a ``torch.Generator`` seeded
from ``cfg.seed``), take mini-batches by index slicing (the last partial one included),
minimize ``data loss + (λ/2m)·Σ‖W‖²_F`` (training batches augmented when ``augment_*`` is
set, see ``_augment.py``), then evaluate every set in eval mode and call ``on_epoch``. Step losses stay on the device; the host syncs once per epoch for the metrics
(and every ``_CHECK_EVERY`` steps to catch a diverging loss early).

Metrics of each epoch (``FitResult.history`` rows and ``EpochResult.metrics``):

``epoch``            1-based epoch number
``lr``               learning rate used in this epoch
``train_loss``       mean over the epoch's steps of the mini-batch cost, L2 term included
``train_loss_ewma``  bias-corrected EWMA of the step costs, v_t / (1 − β^t), t counting steps
                     since the start of training; its value after the epoch's last step
``train_error``      1 − accuracy on the whole training set, eval mode
``train_dev_error``, ``train_dev_loss``, ``dev_error``, ``dev_loss``
                     the same on each evaluation set present in ``TrainData.evals``
                     (losses there are the data loss, without the L2 term)
``weighted_<set>_error``
                     with ``TrainData.weights[set]`` (per-example weights, ``metrics.weights``):
                     Σ w·[ŷ ≠ y] / Σ w on ``train``, ``train_dev`` and ``dev``
``epoch_time_s``     wall time of the epoch: training steps and evaluation

Multi-label (``task="multilabel"``, targets ``(N, T)`` with NaN or -1 where unlabeled):
``<set>_error`` is the mean over the labels of the per-label errors (labels with at least
one labeled example in that set; see ``_task.py``), ``<set>_loss`` the mean logistic loss
over the set's labeled entries, and each label j adds ``<set>_error_<label>`` (e.g.
``dev_error_stop_sign``): wrong / labeled examples of label j, for ``train``, ``train_dev``
and ``dev``, every epoch. A label with no labeled example in a set has no metric there.
Label names come from ``TrainData.labels`` (``0``, ``1``, … when it is empty).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from sweeplab.config.train import TrainConfig
from sweeplab.errors import SweeplabError, UserError, unknown_name_error
from sweeplab.training._augment import Augmenter, AugmentSpec
from sweeplab.training._device import resolve_device
from sweeplab.training._optim import make_optimizer, set_bn_momentum, start_epoch_lr
from sweeplab.training._predict import evaluate, evaluate_labels, weighted_error
from sweeplab.training._task import (
    check_task,
    data_loss,
    l2_penalty,
    label_mask,
    label_metric_names,
    penalized_weights,
    prepare_targets,
)

__all__ = ["EVAL_SETS", "DivergedError", "EpochResult", "FitResult", "TrainData", "fit"]

EVAL_SETS = ("train_dev", "dev")
_CHECK_EVERY = 32  # steps between two checks for a non-finite loss (each check is a sync)

XY = tuple[torch.Tensor, torch.Tensor]


class DivergedError(SweeplabError):
    """The training cost became NaN or infinite: the trial failed (e.g. α too large)."""

    def __init__(self, *, epoch: int, step: int | None, value: float, what: str = "loss") -> None:
        self.epoch, self.step, self.value, self.what = epoch, step, value, what
        at = f"epoch {epoch}, step {step}" if step is not None else f"epoch {epoch}"
        super().__init__(
            f"training diverged: {what} is {value} at {at}; "
            "try a smaller learning_rate or input normalization"
        )


@dataclass(frozen=True)
class TrainData:
    """In-memory tensors: ``train`` and optional evaluation sets named ``train_dev`` / ``dev``.

    ``labels`` names the outputs of a multi-label task, one per column of ``y`` (they name
    the per-label metrics); ignored by the other tasks.
    """

    train: XY
    evals: dict[str, XY] = field(default_factory=dict)
    labels: tuple[str, ...] = ()
    #: Per-example weights ``(N,)`` of a set (``train`` or an eval set's name): the set's
    #: ``weighted_<set>_error`` is reported every epoch (binary and multiclass).
    weights: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass(frozen=True)
class EpochResult:
    epoch: int  # 1-based
    metrics: dict[str, float]


@dataclass
class FitResult:
    """What ``fit`` did.

    ``final`` holds the metrics of the epoch whose weights the model holds at the end: the
    best-dev epoch with early stopping (its weights are restored), else the last epoch.
    ``best_epoch`` is the epoch with the lowest ``dev_error`` (the first one on ties; the
    last epoch when there is no dev set).
    """

    history: list[dict[str, float]]
    final: dict[str, float]
    best_epoch: int
    epochs_run: int
    stopped_early: bool


def fit(
    model: nn.Module,
    data: TrainData,
    cfg: TrainConfig,
    *,
    task: str,
    on_epoch: Callable[[EpochResult], None] | None = None,
) -> FitResult:
    """Train ``model`` in place on ``data.train``; see the module docstring for the metrics.

    The model is moved to ``cfg.device`` and left there, in eval mode. Exceptions raised by
    ``on_epoch`` propagate (a backend prunes a trial that way). Raises :class:`DivergedError`
    on a non-finite cost and :class:`UserError` on unusable data or settings.
    """
    check_task(task)
    device = resolve_device(cfg.device)
    model.to(device)
    X, y, evals = _prepare(model, data, task, device)
    _check_weights(data.weights, {"train": (X, y), **evals}, task)
    patience = cfg.early_stopping_patience
    if patience is not None and "dev" not in evals:
        raise UserError(
            "early stopping watches dev_error, but there is no dev set; add a dev split or "
            "remove early_stopping_patience",
            key="train.early_stopping_patience",
        )
    m = X.shape[0]
    has_bn = any(isinstance(mod, nn.modules.batchnorm._BatchNorm) for mod in model.modules())
    if has_bn and min(cfg.batch_size, m) < 2:
        raise UserError(
            "batch norm needs mini-batches of at least 2 examples: `batch_size >= 2` must "
            f"hold, but got batch_size={cfg.batch_size} (training set of {m})",
            key="train.batch_size",
        )

    augment = Augmenter(AugmentSpec.from_config(cfg), seed=cfg.seed)
    if augment.spec.active and X.ndim != 4:
        raise UserError(
            "data augmentation (augment_*) needs image inputs (N, C, H, W), but the training "
            f"set has shape {tuple(X.shape)}; use an image model or remove the augment_ settings",
            key="train",
        )

    set_bn_momentum(model, cfg.bn_momentum)
    per_label = _label_columns(data.labels, {"train": y, **{k: v[1] for k, v in evals.items()}})
    optimizer = make_optimizer(model.parameters(), cfg)
    weights = penalized_weights(model) if cfg.l2 > 0 else []
    generator = torch.Generator().manual_seed(cfg.seed)
    ewma = _Ewma(cfg.ewma_beta, device)

    history: list[dict[str, float]] = []
    best_epoch, best_dev, best_state = 0, math.inf, None
    stopped_early = False
    for epoch in range(1, cfg.epochs + 1):
        start = time.perf_counter()
        lr = start_epoch_lr(optimizer, cfg, epoch)
        model.train()
        losses = _train_epoch(
            model,
            optimizer,
            X,
            y,
            cfg,
            task=task,
            weights=weights,
            generator=generator,
            epoch=epoch,
            drop_single=has_bn,
            augment=augment,
        )
        names = ["train_loss", "train_loss_ewma"]
        values = [losses.double().mean(), ewma.update(losses)]
        if per_label is not None:
            _label_metrics(model, {"train": (X, y), **evals}, per_label, names, values)
        else:
            names.append("train_error")
            values.append(evaluate(model, X, y, task=task)[1])
            for name, (Xe, ye) in evals.items():
                loss, error = evaluate(model, Xe, ye, task=task)
                names += [f"{name}_error", f"{name}_loss"]
                values += [error, loss]
            for name, w in data.weights.items():
                Xs, ys = (X, y) if name == "train" else evals[name]
                names.append(f"weighted_{name}_error")
                values.append(weighted_error(model, Xs, ys, w, task=task))
        metrics = {"epoch": epoch, "lr": lr}
        metrics.update(zip(names, torch.stack(values).tolist(), strict=True))  # one sync
        metrics["epoch_time_s"] = time.perf_counter() - start
        _check_metrics(metrics, epoch)
        history.append(metrics)

        if "dev_error" not in metrics:
            best_epoch = epoch
        elif metrics["dev_error"] < best_dev:
            best_epoch, best_dev = epoch, metrics["dev_error"]
            if patience is not None:
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if on_epoch is not None:
            on_epoch(EpochResult(epoch=epoch, metrics=dict(metrics)))
        if patience is not None and epoch - best_epoch >= patience and epoch < cfg.epochs:
            stopped_early = True
            break

    held = len(history)
    if best_state is not None and best_epoch != len(history):
        model.load_state_dict(best_state)
        held = best_epoch
    model.eval()
    return FitResult(
        history=history,
        final=dict(history[held - 1]),
        best_epoch=best_epoch,
        epochs_run=len(history),
        stopped_early=stopped_early,
    )


def _train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    X: torch.Tensor,
    y: torch.Tensor,
    cfg: TrainConfig,
    *,
    task: str,
    weights: list[torch.Tensor],
    generator: torch.Generator,
    epoch: int,
    drop_single: bool,
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """One pass of mini-batch gradient descent; returns the step costs, ``(n_steps,)``."""
    m = X.shape[0]
    bs = min(cfg.batch_size, m)
    n_steps = math.ceil(m / bs)
    if drop_single and n_steps > 1 and m % bs == 1:
        # Batch norm cannot normalize a batch of one; the example left over is dropped from
        # this epoch only (the next shuffle puts it in a full batch).
        n_steps -= 1
    perm = torch.randperm(m, generator=generator).to(X.device) if bs < m else None
    losses: list[torch.Tensor] = []  # step costs, kept on the device (stacked once per epoch)
    checked = 0
    for step in range(n_steps):
        if perm is None:
            xb, yb = X, y  # batch gradient descent: the whole training set
        else:
            idx = perm[step * bs : (step + 1) * bs]
            xb, yb = X[idx], y[idx]
        if augment is not None:
            xb = augment(xb)  # training batches only; evaluation sets are never augmented
        cost = data_loss(model(xb), yb, task)
        if weights:
            cost = cost + l2_penalty(weights, cfg.l2, xb.shape[0])
        optimizer.zero_grad(set_to_none=True)
        cost.backward()
        optimizer.step()
        losses.append(cost.detach())
        if step + 1 - checked >= _CHECK_EVERY:
            _check_finite(torch.stack(losses[checked:]), checked, epoch)
            checked = step + 1
    stacked = torch.stack(losses).float()
    _check_finite(stacked[checked:], checked, epoch)
    return stacked


def _check_weights(weights: dict[str, torch.Tensor], sets: dict[str, XY], task: str) -> None:
    if weights and task == "multilabel":
        raise UserError(
            "weighted errors (metrics.weights) need a binary or multiclass task, but got "
            "multilabel; remove metrics.weights",
            key="metrics.weights",
        )
    for name, w in weights.items():
        if name not in sets:
            raise ValueError(f"weights for {name!r}, but the sets are {sorted(sets)}")
        if w.shape != (len(sets[name][0]),) or not bool((w > 0).all()):
            raise ValueError(
                f"the weights of {name!r} must be (N,) = ({len(sets[name][0])},) and > 0, but "
                f"got shape {tuple(w.shape)}"
            )


def _check_finite(losses: torch.Tensor, offset: int, epoch: int) -> None:
    """``losses``: the step costs from step ``offset`` (0-based) on."""
    bad = ~torch.isfinite(losses)
    if bad.any():  # a host sync, every _CHECK_EVERY steps
        i = int(bad.nonzero()[0, 0])
        raise DivergedError(epoch=epoch, step=offset + i + 1, value=float(losses[i]), what="loss")


def _check_metrics(metrics: dict[str, float], epoch: int) -> None:
    for name, value in metrics.items():
        if not math.isfinite(value):
            raise DivergedError(epoch=epoch, step=None, value=value, what=name)


class _Ewma:
    """Bias-corrected EWMA of step losses, kept on the device: v_t = βv + (1−β)L_t."""

    def __init__(self, beta: float, device: torch.device) -> None:
        self.beta = beta
        self.t = 0
        self.v = torch.zeros((), device=device, dtype=torch.float64)

    def update(self, losses: torch.Tensor) -> torch.Tensor:
        """Fold in a whole epoch's losses at once; returns v_t / (1 − β^t)."""
        n = losses.shape[0]
        # v_{t+n} = β^n v_t + (1 − β) Σ_i β^(n−1−i) L_i
        powers = torch.arange(n - 1, -1, -1, device=losses.device, dtype=torch.float64)
        decay = torch.full_like(powers, self.beta).pow(powers)
        self.v = self.v * self.beta**n + (1.0 - self.beta) * (decay * losses.double()).sum()
        self.t += n
        return self.v / (1.0 - self.beta**self.t)


def _prepare(
    model: nn.Module, data: TrainData, task: str, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, dict[str, XY]]:
    """Move every set to the device once, targets in the loss's dtype; check them cheaply."""
    unknown = [k for k in data.evals if k not in EVAL_SETS]
    if unknown:
        raise unknown_name_error("evaluation set", unknown[0], EVAL_SETS)
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    sets: dict[str, XY] = {}
    for name, (X, y) in {"train": data.train, **data.evals}.items():
        X, y = torch.as_tensor(X), torch.as_tensor(y)
        _check_target_shape(name, X, y, task)
        sets[name] = (X.to(device, dtype), prepare_targets(y, task).to(device))
    X, y = sets.pop("train")
    _check_targets(model, X, y, task)
    return X, y, sets


def _check_target_shape(name: str, X: torch.Tensor, y: torch.Tensor, task: str) -> None:
    if task != "multilabel" and y.ndim == 2 and y.shape[1] > 1:
        raise UserError(
            f"the {name} set has {y.shape[1]} labels per example (y of shape "
            f"{tuple(y.shape)}): that is multi-label data; set `task: multilabel`"
        )
    if task == "multilabel" and y.ndim != 2:
        raise UserError(
            f"a multilabel task needs targets of shape (N, T), one column per label, but the "
            f"{name} set has y of shape {tuple(y.shape)}; use task binary or multiclass"
        )
    n_labels = y.shape[0] if task == "multilabel" else y.reshape(-1).shape[0]
    if X.shape[0] != n_labels or X.shape[0] == 0:
        raise UserError(
            f"the {name} set needs as many labels as examples, and at least one: got "
            f"X of shape {tuple(X.shape)} and y of shape {tuple(y.shape)}"
        )


def _label_columns(
    labels: tuple[str, ...], targets: dict[str, torch.Tensor]
) -> dict[str, list[tuple[int, str]]] | None:
    """Multi-label only (2-D targets): per set, ``(column, metric suffix)`` of every label
    with a labeled example there. Computed once, so each epoch needs no host sync for it."""
    t = targets["train"].shape[1] if targets["train"].ndim == 2 else 0
    if not t:
        return None
    if labels and len(labels) != t:
        raise UserError(
            f"the data names {len(labels)} labels ({', '.join(labels)}), but its targets have "
            f"{t} columns"
        )
    suffixes = label_metric_names(labels or [str(j) for j in range(t)])
    columns = {}
    for name, y in targets.items():
        present = label_mask(y).any(dim=0).tolist()  # (T,) one sync, before training
        if not any(present):
            raise UserError(f"the {name} set has no labeled entry: its error would be unknown")
        columns[name] = [(j, s) for j, s in enumerate(suffixes) if present[j]]
    return columns


def _label_metrics(
    model: nn.Module,
    sets: dict[str, XY],
    columns: dict[str, list[tuple[int, str]]],
    names: list[str],
    values: list[torch.Tensor],
) -> None:
    """Append each set's error, loss (not train's) and per-label errors; tensors, no sync."""
    for name, (Xs, ys) in sets.items():
        loss, errors = evaluate_labels(model, Xs, ys)  # errors: (T,)
        cols = [j for j, _ in columns[name]]
        names.append(f"{name}_error")
        values.append(errors[cols].mean())  # mean over the labels labeled in this set
        if name != "train":
            names.append(f"{name}_loss")
            values.append(loss)
        names += [f"{name}_error_{s}" for _, s in columns[name]]
        values += list(errors[cols].unbind())


@torch.no_grad()
def _check_targets(model: nn.Module, X: torch.Tensor, y: torch.Tensor, task: str) -> None:
    """Labels the loss can use; the probe forward (eval mode) checks the output shape too."""
    was_training = model.training
    model.eval()  # no batch-norm statistics are updated, no dropout drawn
    logits = model(X[:2])
    model.train(was_training)
    if task == "multilabel":
        _check_multilabel_targets(logits, y)
        return
    low, high = float(y.min()), float(y.max())
    if task == "binary":
        data_loss(logits, y[:2], task)  # raises a UserError unless the model has one logit
        if not ((y == 0) | (y == 1)).all():
            raise UserError(f"a binary task needs labels 0 / 1, but got values in [{low}, {high}]")
    else:
        low, high = int(low), int(high)
        k = logits.shape[1] if logits.ndim == 2 else 0
        if low < 0 or high >= k:
            raise UserError(
                f"a multiclass task needs labels in 0 … num_outputs−1 = {k - 1} for this "
                f"model, but got labels in [{low}, {high}]"
            )


def _check_multilabel_targets(logits: torch.Tensor, y: torch.Tensor) -> None:
    t = y.shape[1]
    if logits.ndim != 2 or logits.shape[1] != t:
        raise UserError(
            f"a multilabel task with {t} labels needs a model with {t} output logits, shape "
            f"(N, {t}), but the model returned shape {tuple(logits.shape)}; build it with "
            f"num_outputs={t}"
        )
    labeled = ~torch.isnan(y)  # prepare_targets turned -1 into NaN
    if not labeled.any():
        raise UserError(
            "a multilabel task needs labeled entries, but every training entry is unlabeled"
        )
    values = y[labeled]
    if not ((values == 0) | (values == 1)).all():
        raise UserError(
            "a multilabel task needs entries 0 / 1 (NaN or -1: unlabeled), but got values in "
            f"[{float(values.min())}, {float(values.max())}]"
        )
