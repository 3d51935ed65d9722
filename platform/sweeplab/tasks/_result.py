"""What a trial hands back to its backend: :class:`TrialResult`, and the pieces every task's
runner uses to make one (the parameter count, the single-example latency, the diagnosis).
Pruning reaches a runner as :class:`TrialPruned`, raised by the backend's reporter."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import nn

from sweeplab.analysis import diagnose
from sweeplab.errors import SweeplabError
from sweeplab.tasks._context import SweepContext

__all__ = [
    "Reporter",
    "TrialPruned",
    "TrialResult",
    "best_epoch",
    "diagnosis_metrics",
    "measure_latency_ms",
    "network_result",
]


class TrialPruned(SweeplabError):
    """Raised by a reporter when the backend's pruner stops the trial early."""

    def __init__(self, epoch: int, message: str = "") -> None:
        self.epoch = epoch
        super().__init__(message or f"pruned after epoch {epoch}")


class Reporter(Protocol):
    def epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        """Called after every epoch; may raise :class:`TrialPruned`."""


@dataclass
class TrialResult:
    """What a trial hands back. ``metrics`` are the figures of the model the trial kept (with
    early stopping, the restored epoch's); every trial with a per-epoch ``history`` has
    ``epochs_run`` and ``best_epoch`` among them (see :func:`best_epoch`)."""

    metrics: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)
    model_args: dict[str, Any] = field(default_factory=dict)
    train_args: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"
    model: nn.Module | None = None  # the trained network (kept only when asked)
    state_dict: dict[str, torch.Tensor] | None = None  # CPU weights (train.save_checkpoint)
    # artifact path -> content, logged to the trial's run (style/generated.png, analysis/*.csv)
    artifacts: dict[str, bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.history:  # the same two figures for every task
            self.metrics = {
                "epochs_run": float(len(self.history)),
                "best_epoch": float(best_epoch(self.history)),
                **self.metrics,
            }


def best_epoch(history: list[dict[str, float]]) -> int:
    """The epoch (1-based) with the lowest ``dev_error``, the first one on ties; the last
    epoch when the history has no finite ``dev_error``. Early stopping restores this epoch's
    weights (``train.early_stopping_patience``)."""
    best, best_dev = len(history), math.inf
    for i, metrics in enumerate(history, 1):
        dev = metrics.get("dev_error", math.nan)
        if math.isfinite(dev) and dev < best_dev:
            best, best_dev = i, dev
    return int(history[best - 1].get("epoch", best))


def network_result(
    ctx: SweepContext,
    model: nn.Module,
    final: dict[str, float],
    history: list[dict[str, float]],
    *,
    dev_inputs: torch.Tensor | None,
    extra: dict[str, float] | None = None,
) -> TrialResult:
    """The result of a trial that trained ``model``: its final metrics, the parameter count,
    the single-example latency on dev inputs, and the diagnosis."""
    metrics = dict(final)
    metrics.update(extra or {})
    metrics["params_count"] = float(sum(p.numel() for p in model.parameters()))
    device = next(model.parameters()).device
    if dev_inputs is not None:
        metrics["latency_ms"] = measure_latency_ms(model, dev_inputs.to(device))
    metrics.update(diagnosis_metrics(ctx, metrics))
    return TrialResult(metrics=metrics, history=history, device=str(device), model=model)


def diagnosis_metrics(ctx: SweepContext, metrics: dict[str, float]) -> dict[str, float]:
    train = metrics.get("train_error")
    dev = metrics.get("dev_error")
    if train is None or dev is None or not (math.isfinite(train) and math.isfinite(dev)):
        return {}
    d = diagnose(
        human=ctx.human_level_error, train=train, train_dev=metrics.get("train_dev_error"), dev=dev
    )
    return {k: float(v) for k, v in d.as_metrics().items()}


def measure_latency_ms(model: nn.Module, X: torch.Tensor, *, repeats: int = 15) -> float:
    """Median time of a single-example forward pass in eval mode, in milliseconds.

    One example at a time, as a product serving requests sees it (batch throughput is a
    different question: see benchmarks/).
    """
    was_training = model.training
    model.eval()
    x = X[:1]
    times = []
    with torch.no_grad():
        model(x)  # warm-up
        sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(x)
            sync()
            times.append(time.perf_counter() - t0)
    model.train(was_training)
    times.sort()
    return 1000.0 * times[len(times) // 2]
