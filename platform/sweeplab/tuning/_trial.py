"""``run_trial``: the one function both backends call to do a trial's work.

The backend asks its sampler for parameters, calls ``run_trial(ctx, params, reporter)`` and
records what comes back. Nothing here knows about Optuna or Ray: pruning reaches us as a
:class:`TrialPruned` raised by the reporter, and we let it through.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from sweeplab.errors import SweeplabError, UserError
from sweeplab.tuning._context import SweepContext, route_params

__all__ = ["Reporter", "TrialPruned", "TrialResult", "run_trial", "measure_latency_ms"]


_VISION_TASKS = frozenset(
    {"detection", "segmentation", "verification", "style_transfer", "localization", "landmarks"}
)


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
    metrics: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)
    model_args: dict[str, Any] = field(default_factory=dict)
    train_args: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"
    model: Any = None  # the trained nn.Module (kept only when asked)
    state_dict: Any = None  # CPU weights to log as model/state_dict.pt (train.save_checkpoint)
    # artifact path -> content, logged to the trial's run (style/generated.png, analysis/*.csv)
    artifacts: dict[str, bytes] = field(default_factory=dict)


def run_trial(
    ctx: SweepContext,
    params: dict[str, Any],
    reporter: Reporter | None = None,
    *,
    keep_model: bool = False,
    device: str | None = None,
) -> TrialResult:
    """Build the model from the registry, train it, evaluate train / train-dev / dev."""
    if ctx.task in _VISION_TASKS:  # detection, segmentation, … (config.project.VISION_TASKS)
        from sweeplab.tuning._task_trials import run_task_trial

        return run_task_trial(ctx, params, reporter, keep_model=keep_model, device=device)
    from pydantic import ValidationError

    from sweeplab.models import build_model
    from sweeplab.training import TrainData, fit, resolve_device, seed_everything

    model_params, train_params = route_params(ctx, params)
    try:
        cfg = ctx.project.train.model_copy(update={})
        cfg = type(cfg)(**{**cfg.model_dump(), **train_params})
    except ValidationError as exc:
        err = exc.errors()[0]
        raise UserError(
            f"invalid training setting {'.'.join(map(str, err['loc']))}: {err['msg']} (found {err.get('input')!r})"
        ) from None
    if device is not None:
        cfg = type(cfg)(**{**cfg.model_dump(), "device": device})
    dev = resolve_device(cfg.device)
    seed_everything(cfg.seed)
    model_args = {**ctx.model_args, **model_params}
    model = build_model(
        ctx.model_name,
        model_args,
        input_shape=ctx.tensors.input_shape,
        num_outputs=1 if ctx.task == "binary" else ctx.tensors.num_classes,
    ).to(dev)
    if cfg.init_from is not None:
        _start_from_checkpoint(ctx, model, cfg)
    splits = ctx.splits_on(dev)
    data = TrainData(
        train=splits["train"],
        evals={k: v for k, v in splits.items() if k in ("train_dev", "dev")},
        labels=tuple(ctx.tensors.classes),  # names the per-label metrics of a multilabel task
    )

    on_epoch = None
    if reporter is not None:

        def on_epoch(result: Any) -> None:
            reporter.epoch(result.epoch, result.metrics)

    fitted = fit(model, data, cfg, task=ctx.task, on_epoch=on_epoch)
    metrics = dict(fitted.final)
    metrics["params_count"] = float(sum(p.numel() for p in model.parameters()))
    if "dev" in splits:
        metrics["latency_ms"] = measure_latency_ms(model, splits["dev"][0])
    metrics["epochs_run"] = float(fitted.epochs_run)
    metrics["best_epoch"] = float(fitted.best_epoch)
    metrics.update(diagnosis_metrics(ctx, metrics))
    return TrialResult(
        metrics=metrics,
        history=fitted.history,
        model_args=model_args,
        train_args=cfg.model_dump(mode="json"),
        device=str(dev),
        model=model if keep_model else None,
        state_dict={k: v.detach().cpu() for k, v in model.state_dict().items()}
        if cfg.save_checkpoint
        else None,
    )


def _start_from_checkpoint(ctx: SweepContext, model: Any, cfg: Any) -> None:
    """Transfer learning: the checkpoint's weights, a new output layer, frozen layers.

    ``transfer: scratch`` keeps the fresh initialization (the sweep's baseline trials); the
    seeds are the same, so scratch and fine-tune trials differ only in the start.
    """
    from sweeplab.models._transfer import apply_transfer, load_checkpoint

    if cfg.transfer == "scratch":
        return
    state = ctx.init_state
    if state is None or cfg.init_from != ctx.project.train.init_from:  # searched init_from
        state = load_checkpoint(cfg.init_from, base_dir=ctx.base_dir)
    apply_transfer(
        model,
        state,
        mode=cfg.transfer,
        last_k=cfg.fine_tune_last_k,
        model_name=repr(ctx.model_name),
    )


def diagnosis_metrics(ctx: SweepContext, metrics: dict[str, float]) -> dict[str, float]:
    try:
        from sweeplab.analysis import diagnose
    except ImportError:  # pragma: no cover - analysis is part of the package
        return {}
    train = metrics.get("train_error")
    dev = metrics.get("dev_error")
    if train is None or dev is None or not (math.isfinite(train) and math.isfinite(dev)):
        return {}
    d = diagnose(
        human=ctx.human_level_error, train=train, train_dev=metrics.get("train_dev_error"), dev=dev
    )
    return {k: float(v) for k, v in d.as_metrics().items()}


def measure_latency_ms(model: Any, X: Any, *, repeats: int = 15) -> float:
    """Median time of a single-example forward pass in eval mode, in milliseconds.

    One example at a time, as a product serving requests sees it (batch throughput is a
    different question: see benchmarks/).
    """
    import torch

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
