"""Recording a trial's life in MLflow; shared by the Optuna and the Ray backends."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sweeplab.tracking import SweepRun, TrialRun

__all__ = ["TrialRecorder", "failure_reason", "trial_run_name", "finite_summary"]


def trial_run_name(sweep: str, number: int, params: dict[str, Any], *, keys: int = 2) -> str:
    """``digits-mlp-20261126-0912 #7 lr=3.2e-03 optimizer=adam`` — says what the run is."""
    shown = []
    for name, value in list(params.items())[:keys]:
        if isinstance(value, float):
            shown.append(f"{name}={value:.2g}")
        else:
            shown.append(f"{name}={value}")
    return f"{sweep} #{number}" + (" " + " ".join(shown) if shown else "")


def failure_reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    name = type(exc).__name__
    if "out of memory" in text.lower() or name in ("OutOfMemoryError", "MemoryError"):
        return f"out of memory: {text.splitlines()[0][:300]}"
    if name in ("UserError", "DivergedError"):
        return text[:1000]
    return f"{name}: {text.splitlines()[0][:1000]}"


def finite_summary(metrics: dict[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if v is not None and math.isfinite(float(v))}


@dataclass
class TrialRecorder:
    """A trial's child run: params at the start, buffered epoch metrics, status at the end."""

    run: TrialRun

    @classmethod
    def start(cls, sweep: SweepRun, *, number: int, params: dict[str, Any], tags: dict[str, Any] | None = None) -> TrialRecorder:
        run = sweep.start_trial(number=number, name=trial_run_name(sweep.name, number, params), tags=tags)
        run.log_params(params)
        return cls(run)

    @property
    def run_id(self) -> str:
        return self.run.run_id

    def epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        self.run.log_metrics(metrics, step=epoch)

    def finished(self, metrics: dict[str, float], *, tags: dict[str, Any] | None = None) -> None:
        if tags:
            self.run.set_tags(tags)
        self.run.finish("finished", summary=finite_summary(metrics))

    def pruned(self, epoch: int) -> None:
        self.run.finish("pruned", reason=f"stopped early by the pruner after epoch {epoch}")

    def failed(self, reason: str) -> None:
        self.run.finish("failed", reason=reason)

    def killed(self, reason: str = "the sweep was interrupted while this trial ran") -> None:
        self.run.finish("killed", reason=reason)
