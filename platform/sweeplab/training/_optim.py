"""Optimizers in the course's form, and the learning-rate schedules.

* ``gd``: ``torch.optim.SGD`` without momentum: ``W -= α dW``.
* ``momentum``: :class:`EWMAMomentum`, ``v = β v + (1 − β) dW; W -= α v`` (no bias
  correction, as in the course). PyTorch's SGD momentum is ``v = β v + dW`` — the same
  direction but a step 1/(1 − β) times larger for the same α, so α would not mean the same.
* ``rmsprop``: ``torch.optim.RMSprop(alpha=β2, eps=ε)``, which computes exactly
  ``S = β2 S + (1 − β2) dW²; W -= α dW / (√S + ε)`` (ε outside the root; tested).
* ``adam``: ``torch.optim.Adam(betas=(β1, β2), eps=ε)``, with bias correction; PyTorch's
  fused kernel (one call per step for all parameters) where the parameters allow it: on the
  CPU it makes an MLP step on digits ~25 % faster than the default per-tensor loop, with the
  same update up to float rounding (benchmarks/bench_training.py).

L2 regularization is not an optimizer's weight decay: it is a term of the cost (see ``fit``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn

from sweeplab.config.train import TrainConfig

__all__ = [
    "EWMAMomentum",
    "learning_rate_at",
    "make_optimizer",
    "set_bn_momentum",
    "start_epoch_lr",
]


class EWMAMomentum(torch.optim.Optimizer):
    """Gradient descent with momentum as an exponentially weighted average of gradients.

    ``v = β v + (1 − β) dW`` then ``W -= α v``; ``v`` starts at zero.
    """

    def __init__(self, params: Iterable[torch.Tensor], *, lr: float, beta: float = 0.9) -> None:
        if lr <= 0.0:
            raise ValueError(f"`lr > 0` must hold, but got lr={lr}")
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"`0 <= beta < 1` must hold, but got beta={beta}")
        super().__init__(params, {"lr": lr, "beta": beta})

    @torch.no_grad()
    def step(self, closure=None):  # noqa: ANN001 - torch's signature
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, beta = group["lr"], group["beta"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "velocity" not in state:
                    state["velocity"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                v = state["velocity"]
                v.mul_(beta).add_(p.grad, alpha=1.0 - beta)
                p.add_(v, alpha=-lr)
        return loss


def set_bn_momentum(model: nn.Module, beta: float) -> None:
    """Every batch norm layer keeps running averages with β = ``beta``: PyTorch's
    ``momentum`` is the new batch's weight, 1 − β (``running = (1 − m)·running + m·batch``)."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.momentum = 1.0 - beta


def make_optimizer(params: Iterable[torch.Tensor], cfg: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer ``cfg.optimizer`` at ``cfg.learning_rate`` (schedules set ``lr`` later)."""
    lr = cfg.learning_rate
    if cfg.optimizer == "gd":
        return torch.optim.SGD(params, lr=lr)
    if cfg.optimizer == "momentum":
        return EWMAMomentum(params, lr=lr, beta=cfg.beta)
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=cfg.beta2, eps=cfg.epsilon)
    if cfg.optimizer == "adam":
        params = list(params)
        kwargs = {"lr": lr, "betas": (cfg.beta1, cfg.beta2), "eps": cfg.epsilon}
        try:
            return torch.optim.Adam(params, fused=True, **kwargs)
        except RuntimeError:  # parameters on a device or of a dtype torch cannot fuse
            return torch.optim.Adam(params, **kwargs)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}")  # unreachable: TrainConfig checks


def learning_rate_at(cfg: TrainConfig, epoch: int) -> float:
    """The learning rate of (1-based) ``epoch``, set at its start.

    ``epoch`` counts from 1, as the course's ``epoch_num`` does (so inverse_sqrt never divides
    by zero, and the course's table holds: α0 = 0.2, decay_rate = 1 gives 0.1, 0.067, 0.05 …):

    * ``none``: α0
    * ``inverse_time``: α0 / (1 + decay_rate · epoch)
    * ``exponential``: α0 · decay_base ^ epoch
    * ``inverse_sqrt``: α0 · decay_k / √epoch
    * ``step``: α0 · decay_gamma ^ ⌊(epoch − 1) / decay_step⌋ (epochs 1 … decay_step use α0)
    """
    if epoch < 1:
        raise ValueError(f"`epoch >= 1` must hold (epochs count from 1), but got epoch={epoch}")
    a0 = cfg.learning_rate
    kind = cfg.lr_decay
    if kind == "none":
        return a0
    if kind == "inverse_time":
        return a0 / (1.0 + cfg.decay_rate * epoch)
    if kind == "exponential":
        return a0 * cfg.decay_base**epoch
    if kind == "inverse_sqrt":
        return a0 * cfg.decay_k / math.sqrt(epoch)
    if kind == "step":
        return a0 * cfg.decay_gamma ** ((epoch - 1) // cfg.decay_step)
    raise ValueError(f"unknown lr_decay {kind!r}")  # unreachable: TrainConfig checks


def start_epoch_lr(optimizer: torch.optim.Optimizer, cfg: TrainConfig, epoch: int) -> float:
    """Set the learning rate of (1-based) ``epoch`` on every parameter group; return it."""
    lr = learning_rate_at(cfg, epoch)
    for group in optimizer.param_groups:
        group["lr"] = lr
    return lr
