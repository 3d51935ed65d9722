"""How much an error rate measured on ``n`` examples can be trusted, and when tuning should stop.

An error rate on a dev set of ``n`` examples is a binomial proportion: on digits' 180 dev
examples one example is 0.56 %, so 0.0111 and 0.0167 differ by one example. We use:

* the **Wilson score interval** (95 %, z = 1.96) for one error rate: centre
  ``(p + z²/2n) / (1 + z²/n)``, half-width ``z / (1 + z²/n) · √(p(1 − p)/n + z²/4n²)``;
  unlike ``p ± z√(p(1 − p)/n)`` it stays inside [0, 1] and is not empty at ``p = 0``;
* **Newcombe's hybrid score interval** for the difference of two error rates (method 10 of
  Newcombe 1998): ``d − √((p1 − l1)² + (u2 − p2)²)`` … ``d + √((u1 − p1)² + (p2 − l2)²)`` with
  ``(l, u)`` each rate's Wilson interval. Two errors are *distinguishable* when it excludes 0.
  Two trials scored on the same dev set are paired, so this is conservative (it treats them as
  independent samples): "not distinguishable" means "do not rank them on this dev set".

The stop rule (:func:`stop_rule`): stop tuning hyperparameters when avoidable bias and
variance are both within noise (human-level error inside the training error's interval, and
the train-dev − train gap not distinguishable from 0), or when a sweep's best is not better
than its parent sweep's best beyond noise; the advice names what to do instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sweeplab.analysis._diagnosis import Diagnosis

__all__ = [
    "Interval",
    "StopAdvice",
    "difference_interval",
    "distinguishable",
    "gaps_within_noise",
    "noise_note",
    "stop_rule",
    "wilson_interval",
]

Z95 = 1.959963984540054  # the standard normal's 97.5 % quantile


@dataclass(frozen=True)
class Interval:
    """A confidence interval ``[low, high]`` around ``value``."""

    value: float
    low: float
    high: float

    def __contains__(self, x: float) -> bool:
        return self.low - 1e-12 <= x <= self.high + 1e-12

    def text(self) -> str:
        """``'0.0111 [0.0031, 0.0396]'``."""
        return f"{self.value:.4g} [{self.low:.4f}, {self.high:.4f}]"


def _check_n(n: object) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"`n >= 1` (an example count) must hold, but got (n={n!r})")
    return n


def wilson_interval(error: float, n: int, *, z: float = Z95) -> Interval:
    """The Wilson score interval of an error rate ``error`` measured on ``n`` examples.

    >>> wilson_interval(0.1, 10).text()
    '0.1 [0.0179, 0.4042]'
    """
    n = _check_n(n)
    if not (isinstance(error, int | float) and 0.0 <= error <= 1.0):
        raise ValueError(f"`0 <= error <= 1` must hold, but got (error={error!r})")
    p = float(error)
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z / denom * math.sqrt(max(p * (1.0 - p) / n + z2 / (4.0 * n * n), 0.0))
    # the interval always holds p (float rounding at p = 0 or 1 aside)
    return Interval(p, min(p, max(0.0, centre - half)), max(p, min(1.0, centre + half)))


def difference_interval(a: float, n_a: int, b: float, n_b: int, *, z: float = Z95) -> Interval:
    """Newcombe's hybrid score interval of ``a − b`` (error rates on ``n_a`` and ``n_b``)."""
    ia, ib = wilson_interval(a, n_a, z=z), wilson_interval(b, n_b, z=z)
    d = a - b
    low = d - math.sqrt((a - ia.low) ** 2 + (ib.high - b) ** 2)
    high = d + math.sqrt((ia.high - a) ** 2 + (b - ib.low) ** 2)
    return Interval(d, low, high)


def distinguishable(a: float, b: float, n: int, *, n_b: int | None = None) -> bool:
    """Whether error rates ``a`` (on ``n`` examples) and ``b`` (on ``n_b``, default ``n``) differ
    beyond noise: the 95 % interval of their difference excludes 0."""
    return 0.0 not in difference_interval(a, n, b, n if n_b is None else n_b)


def gaps_within_noise(diagnosis: Diagnosis, sizes: dict[str, int]) -> dict[str, bool]:
    """For each measured gap of ``diagnosis``: True when it is within noise, from the sets'
    example counts ``sizes`` (``{"train": 1257, "train_dev": 180, "dev": 180, ...}``). Avoidable
    bias compares the training error with the human-level number (not a measurement); the other
    gaps compare two measured errors. Gaps whose sets have no known size are left out."""
    out: dict[str, bool] = {}
    if diagnosis.human is not None and sizes.get("train"):
        out["avoidable_bias"] = diagnosis.human in wilson_interval(diagnosis.train, sizes["train"])
    pairs = {
        "variance": ("train_dev" if diagnosis.train_dev is not None else "dev", "train"),
        "data_mismatch": ("dev", "train_dev"),
        "dev_overfit": ("test", "dev"),
    }
    for gap, (upper, lower) in pairs.items():
        hi, lo = getattr(diagnosis, upper), getattr(diagnosis, lower)
        if hi is None or lo is None or not sizes.get(upper) or not sizes.get(lower):
            continue
        out[gap] = not distinguishable(hi, lo, sizes[upper], n_b=sizes[lower])
    return out


def noise_note(diagnosis: Diagnosis, sizes: dict[str, int]) -> str | None:
    """One sentence naming the gaps that are within noise (None when none is), and saying so
    when the largest gap — the one the verdict acts on — is among them."""
    within = [g for g, w in gaps_within_noise(diagnosis, sizes).items() if w]
    if not within:
        return None
    names = ", ".join(f"{g.replace('_', ' ')} ({getattr(diagnosis, g) * 100:.2g}%)" for g in within)
    text = (
        f"Within noise (95 % intervals from the set sizes): {names}; these sets cannot tell "
        "such a gap from zero."
    )
    if diagnosis.problem in within:
        text += " The largest gap is within noise: a bigger dev / train-dev set would say more."
    return text


@dataclass(frozen=True)
class StopAdvice:
    """Whether to stop tuning hyperparameters, why, and what to do instead."""

    stop: bool
    reason: str
    instead: tuple[str, ...] = ()

    def text(self) -> str:
        if not self.stop:
            return f"keep tuning: {self.reason}"
        return f"stop tuning: {self.reason} Instead: " + " ".join(self.instead)


_INSTEAD_AT_HUMAN = (
    "Get more (or cleaner) data: review the dev set's mislabeled examples (sweeplab review).",
    "Get a bigger dev set, so that smaller differences become measurable.",
)
_INSTEAD_PLATEAU = (
    "Do error analysis on the best trial's mistakes (sweeplab report) and fix the largest category.",
    "Get more or cleaner training data, or a bigger dev set to measure smaller gains.",
)


def stop_rule(
    diagnosis: Diagnosis | None,
    sizes: dict[str, int],
    *,
    best: float | None = None,
    parent_best: float | None = None,
    parent_n: int | None = None,
) -> StopAdvice:
    """Stop tuning when (1) avoidable bias and variance are both within noise of human-level
    error, or (2) this sweep's best error ``best`` is not lower than its parent sweep's
    ``parent_best`` beyond noise (dev set of ``sizes["dev"]`` / ``parent_n`` examples)."""
    noise = gaps_within_noise(diagnosis, sizes) if diagnosis is not None else {}
    if noise.get("avoidable_bias") and noise.get("variance"):
        instead = _INSTEAD_AT_HUMAN
        if diagnosis is not None and noise.get("data_mismatch") is False:
            instead = (
                "Work on data mismatch: error analysis of train-dev against dev, and training "
                "data made more like dev (synthesis, more target-domain examples).",
            ) + instead
        return StopAdvice(
            True,
            "avoidable bias and variance are both within noise of human-level error.",
            instead,
        )
    n = sizes.get("dev")
    better = (
        best is not None
        and parent_best is not None
        and n
        and best < parent_best
        and distinguishable(best, parent_best, n, n_b=parent_n or n)
    )
    if best is not None and parent_best is not None and n and not better:
        return StopAdvice(
            True,
            f"the best dev error {best:.4f} is not better than the parent sweep's "
            f"{parent_best:.4f} beyond noise (95 % interval, {n} dev examples).",
            _INSTEAD_PLATEAU,
        )
    if diagnosis is not None and diagnosis.problem is not None:
        return StopAdvice(False, f"{diagnosis.verdict}")
    return StopAdvice(False, "no gap to report.")
