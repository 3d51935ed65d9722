"""Learning curves for the dashboard: per-epoch histories and their bias-corrected EWMA.

``ewma`` is the curriculum's exponentially weighted average: v_t = β v_{t−1} + (1 − β) x_t
with v_0 = 0, reported as v_t / (1 − β^t) so the first points are not pulled towards zero.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["CURVE_METRICS", "Curve", "ewma", "load_curves"]

# (training, dev) pairs drawn against each other
CURVE_METRICS = (("train_loss", "dev_loss"), ("train_error", "dev_error"))


def ewma(values: Sequence[float], beta: float) -> list[float]:
    """Bias-corrected exponentially weighted average of ``values`` (NaN values are skipped:
    they leave the average as it was and are reported as NaN)."""
    if not 0 <= beta < 1:
        raise ValueError(f"`0 <= beta < 1` must hold, but got (beta={beta!r})")
    out: list[float] = []
    v, t = 0.0, 0
    for x in values:
        x = float(x)
        if not math.isfinite(x):
            out.append(math.nan)
            continue
        t += 1
        v = beta * v + (1.0 - beta) * x
        out.append(v / (1.0 - beta**t))
    return out


@dataclass
class Curve:
    """One metric's history of one trial: epochs and values, in step order."""

    trial: int
    metric: str
    steps: list[int]
    values: list[float]


def load_curves(client, run_id: str, trial: int, *, last_epoch: int | None = None) -> list[Curve]:
    """The per-epoch histories of ``CURVE_METRICS`` of one run, epochs 1 … ``last_epoch``.

    When early stopping restored an earlier epoch, its figures are logged once more at the
    step after the last epoch (so MLflow's "latest" value is the kept model's): ``last_epoch``
    (the run's ``epochs_run``) drops that step. Sweeps of older versions logged them at the
    last epoch's step instead, after its own values: the first value at a step is the epoch's.
    """
    curves = []
    for pair in CURVE_METRICS:
        for metric in pair:
            history = sorted(
                client.get_metric_history(run_id, metric), key=lambda m: (m.step, m.timestamp)
            )
            by_step: dict[int, float] = {}
            for m in history:
                if last_epoch is None or m.step <= last_epoch:
                    by_step.setdefault(int(m.step), float(m.value))
            steps = sorted(by_step)
            curves.append(Curve(trial, metric, steps, [by_step[s] for s in steps]))
    return curves
