"""What every run of a sweep records beside its params and metrics: the trained model
(``log_models``), the dataset inputs, the system metrics. Set once per sweep and carried by
the sweep's context, so Ray workers read the same settings as the sweep process."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LOG_MODELS", "TrialTracking"]

#: ``log_models``: every finished trial gets an MLflow model; the best of the sweep; none.
LOG_MODELS = ("all", "best", "none")


@dataclass
class TrialTracking:
    log_models: str = "none"
    system_metrics: bool = False
    datasets: tuple[Any, ...] = ()  # mlflow.entities.DatasetInput, one per split
    objective: str = "dev_error"
    goal: str = "minimize"
    # log_models: best — the best objective value whose weights this process logged
    best: float | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.log_models not in LOG_MODELS:
            raise ValueError(
                f"log_models is one of {', '.join(LOG_MODELS)}, not {self.log_models!r}"
            )

    @property
    def keeps_weights(self) -> bool:
        """Whether a finished trial's weights come back from ``run_trial`` (CPU state_dict)."""
        return self.log_models != "none"

    def improves(self, value: float | None, *, feasible: bool) -> bool:
        """Whether a finished trial with this objective value is the best one so far in this
        process (feasible, finite, strictly better; ties keep the earlier trial); if so, it
        becomes the best."""
        if value is None or not feasible or not math.isfinite(value):
            return False
        if self.best is not None:
            better = value > self.best if self.goal == "maximize" else value < self.best
            if not better:
                return False
        self.best = value
        return True
