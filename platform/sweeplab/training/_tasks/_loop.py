"""The shared training loop of the vision tasks: epochs of optimizer steps, evaluation, report."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from sweeplab.config.train import TrainConfig
from sweeplab.errors import UserError
from sweeplab.training._fit import DivergedError, EpochResult
from sweeplab.training._optim import make_optimizer, set_bn_momentum, start_epoch_lr
from sweeplab.training._task import l2_penalty, penalized_weights
from sweeplab.training._tasks._moves import BOX_TASKS

__all__ = ["OnEpoch", "TaskResult", "check_task_config"]

OnEpoch = Callable[[EpochResult], None] | None
_EVAL_BATCH = 256


@dataclass
class TaskResult:
    """Per-epoch metrics (``history``) and those of the last epoch (``final``)."""

    history: list[dict[str, float]]
    final: dict[str, float] = field(default_factory=dict)


# The TrainConfig fields these loops use; any other field set away from its default
# (L2, early stopping, augmentation, transfer …) would be silently ignored, so it is an error.
_USED_FIELDS = frozenset(
    {"epochs", "batch_size", "optimizer", "learning_rate", "beta", "beta1", "beta2", "epsilon"}
    | {"lr_decay", "decay_rate", "decay_base", "decay_k", "decay_step", "decay_gamma"}
    | {"device", "seed", "save_checkpoint", "bn_momentum", "l2", "early_stopping_patience"}
    | {"augment_flip", "augment_crop", "augment_rotate", "augment_shear", "augment_color"}
    | {"init_from", "transfer", "fine_tune_last_k"}  # applied by the task before the loop
)


def check_task_config(cfg: TrainConfig, *, task: str) -> None:
    """Raise a :class:`UserError` for a setting the ``task`` loop would ignore."""
    defaults = type(cfg)()
    ignored = [
        name
        for name in type(cfg).model_fields
        if name not in _USED_FIELDS and getattr(cfg, name) != getattr(defaults, name)
    ]
    if task in BOX_TASKS:
        ignored += [n for n in ("augment_rotate", "augment_shear") if getattr(cfg, n) > 0]
    if ignored:
        name = ignored[0]
        if name in ("augment_rotate", "augment_shear"):
            raise UserError(
                f"the {task} task cannot rotate or shear its boxes (a rotated box is not the "
                f"object's box); remove {name} (found {getattr(cfg, name)!r}) or use "
                "augment_flip / augment_crop",
                key=f"train.{name}",
            )
        raise UserError(
            f"the {task} training loop does not support {name!r} (found "
            f"{getattr(cfg, name)!r}); remove it or leave it at {getattr(defaults, name)!r}",
            key=f"train.{name}",
        )


def _loop(
    model: nn.Module,
    cfg: TrainConfig,
    *,
    task: str,
    n_steps: int,
    step_loss: Callable[[torch.Generator], torch.Tensor],
    evaluate: Callable[[], dict[str, float]],
    on_epoch: OnEpoch,
    batch: int | None = None,
) -> TaskResult:
    """``cfg.epochs`` epochs of ``n_steps`` optimizer steps; evaluate; report; return.

    ``train.l2`` adds ``(λ/2m)·Σ‖W‖²_F`` to every step's cost (``m = batch``, the mini-batch
    size; weights only). ``train.early_stopping_patience`` stops after that many epochs
    without a lower ``dev_error`` and restores the best epoch's weights (its metrics are
    ``final``).
    """
    check_task_config(cfg, task=task)
    set_bn_momentum(model, cfg.bn_momentum)
    optimizer = make_optimizer(model.parameters(), cfg)
    generator = torch.Generator().manual_seed(cfg.seed)
    weights = penalized_weights(model) if cfg.l2 > 0 else []
    m = batch or cfg.batch_size
    stopper = _EarlyStopping(cfg.early_stopping_patience)
    history: list[dict[str, float]] = []
    for epoch in range(1, cfg.epochs + 1):
        start = time.perf_counter()
        lr = start_epoch_lr(optimizer, cfg, epoch)
        model.train()
        steps: list[torch.Tensor] = []  # kept on the device: no host sync per step
        for _ in range(n_steps):
            cost = step_loss(generator)
            if weights:
                cost = cost + l2_penalty(weights, cfg.l2, m)
            optimizer.zero_grad(set_to_none=True)
            cost.backward()
            optimizer.step()
            steps.append(cost.detach())
        losses = torch.stack(steps).float().cpu()  # one sync per epoch
        if not torch.isfinite(losses).all():
            i = int((~torch.isfinite(losses)).nonzero()[0, 0])
            raise DivergedError(epoch=epoch, step=i + 1, value=float(losses[i]))
        model.eval()
        metrics = {"epoch": float(epoch), "lr": lr, "train_loss": float(losses.mean())}
        metrics.update(evaluate())
        metrics["epoch_time_s"] = time.perf_counter() - start
        history.append(metrics)
        if on_epoch is not None:
            on_epoch(EpochResult(epoch=epoch, metrics=dict(metrics)))
        if stopper.stop(model, metrics, epoch) and epoch < cfg.epochs:
            break
    model.eval()
    best = stopper.restore(model, len(history))
    return TaskResult(history=history, final=dict(history[best - 1]) if history else {})


class _EarlyStopping:
    """Watches ``dev_error``; keeps the best epoch's weights (None patience: never stops)."""

    def __init__(self, patience: int | None) -> None:
        self.patience, self.best_epoch, self.best = patience, 0, math.inf
        self.state: dict[str, torch.Tensor] | None = None

    def stop(self, model: nn.Module, metrics: dict[str, float], epoch: int) -> bool:
        if self.patience is None:
            return False
        if "dev_error" not in metrics:
            raise UserError(
                "early stopping watches dev_error, but there is no dev set; add a dev split "
                "or remove early_stopping_patience",
                key="train.early_stopping_patience",
            )
        if metrics["dev_error"] < self.best:
            self.best, self.best_epoch = metrics["dev_error"], epoch
            self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return epoch - self.best_epoch >= self.patience

    def restore(self, model: nn.Module, epochs_run: int) -> int:
        """Load the best epoch's weights; the epoch (1-based) whose metrics are final."""
        if self.state is None or self.best_epoch == epochs_run:
            return epochs_run
        model.load_state_dict(self.state)
        return self.best_epoch


def _batches(m: int, batch_size: int) -> tuple[int, int]:
    """(batch size, steps per epoch); a last batch of one is skipped (batch norm needs two)."""
    bs = min(batch_size, m)
    steps = math.ceil(m / bs)
    if steps > 1 and m % bs == 1:
        steps -= 1
    return bs, steps


def _sampler(m: int, bs: int, device: torch.device) -> Callable[[torch.Generator], torch.Tensor]:
    """Mini-batch indices, a fresh permutation every epoch (sampling without replacement)."""
    state = {"perm": torch.empty(0, dtype=torch.long), "pos": 0}

    def next_idx(gen: torch.Generator) -> torch.Tensor:
        if state["pos"] + min(bs, 2) > len(state["perm"]):
            state["perm"], state["pos"] = torch.randperm(m, generator=gen), 0
        idx = state["perm"][state["pos"] : state["pos"] + bs]
        state["pos"] += bs
        return idx.to(device)

    return next_idx


@torch.no_grad()
def _outputs(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    model.eval()
    return torch.cat([model(x[i : i + _EVAL_BATCH]) for i in range(0, len(x), _EVAL_BATCH)])
