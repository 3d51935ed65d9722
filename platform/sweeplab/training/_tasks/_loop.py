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
    | {"device", "seed", "save_checkpoint", "bn_momentum"}
)


def check_task_config(cfg: TrainConfig, *, task: str) -> None:
    """Raise a :class:`UserError` for a setting the ``task`` loop would ignore."""
    defaults = type(cfg)()
    ignored = [
        name
        for name in type(cfg).model_fields
        if name not in _USED_FIELDS and getattr(cfg, name) != getattr(defaults, name)
    ]
    if ignored:
        name = ignored[0]
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
) -> TaskResult:
    """``cfg.epochs`` epochs of ``n_steps`` optimizer steps; evaluate; report; return."""
    check_task_config(cfg, task=task)
    set_bn_momentum(model, cfg.bn_momentum)
    optimizer = make_optimizer(model.parameters(), cfg)
    generator = torch.Generator().manual_seed(cfg.seed)
    history: list[dict[str, float]] = []
    for epoch in range(1, cfg.epochs + 1):
        start = time.perf_counter()
        lr = start_epoch_lr(optimizer, cfg, epoch)
        model.train()
        steps: list[torch.Tensor] = []  # kept on the device: no host sync per step
        for _ in range(n_steps):
            cost = step_loss(generator)
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
    model.eval()
    return TaskResult(history=history, final=dict(history[-1]) if history else {})


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
