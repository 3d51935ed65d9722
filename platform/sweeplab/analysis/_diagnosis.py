"""Bias / variance / data-mismatch diagnosis from the error ladder.

Human-level error is the proxy for Bayes error. With the errors on each set, the gaps between
neighbouring rungs of the ladder name what limits the model::

    human ──avoidable_bias── train ──variance── train_dev ──data_mismatch── dev ──dev_overfit── test

Without a train-dev set, ``variance = dev − train`` (and any data mismatch hides inside it).
The largest gap is the problem to work on; each problem has the curriculum's remedies.

Rules for the edge cases (they are part of the contract and tested):

* **Negative gaps** are kept as measured (signed) in the gaps and the metrics, but a gap that
  is not positive never names the problem. When no gap is positive, ``problem`` is ``None``
  and the verdict says there is nothing left to diagnose with these sets. A negative avoidable
  bias means the training error is below the human-level estimate: that estimate is then too
  high for a Bayes-error proxy (use the best team of experts), which a note says.
* **Ties** (gaps equal within 1e-9) go to the gap lower on the ladder: avoidable bias, then
  variance, then data mismatch, then dev overfit. The curriculum fixes the training-set fit
  first, because reducing a lower gap changes the ones above it. ``largest`` lists every gap
  tied for the top, and the verdict names them all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from sweeplab.errors import UserError

__all__ = ["GAPS", "LEVELS", "REMEDIES", "Diagnosis", "Problem", "check_error_rate", "diagnose"]

Problem = Literal["avoidable_bias", "variance", "data_mismatch", "dev_overfit"]

#: The gaps, bottom of the ladder first (this is also the tie-break order). These names are
#: the MLflow metric names.
GAPS: tuple[Problem, ...] = ("avoidable_bias", "variance", "data_mismatch", "dev_overfit")

#: The rungs of the ladder, in order.
LEVELS: tuple[str, ...] = ("human", "train", "train_dev", "dev", "test")

#: The curriculum's remedies for each problem.
REMEDIES: dict[str, tuple[str, ...]] = {
    "avoidable_bias": (
        "Train a bigger model.",
        "Train longer / use better optimization algorithms (momentum, RMSprop, Adam).",
        "Search NN architectures / hyperparameters.",
    ),
    "variance": (
        "Get more training data.",
        "Use regularization (L2, dropout, data augmentation).",
        "Search NN architectures / hyperparameters.",
    ),
    "data_mismatch": (
        "Carry out manual error analysis to understand how the training and dev/test sets differ.",
        "Make the training data more similar to dev/test (artificial data synthesis).",
        "Collect more training data similar to the dev/test sets.",
    ),
    "dev_overfit": ("Get a bigger dev set.",),
}

_LABELS = {
    "avoidable_bias": "Avoidable bias",
    "variance": "Variance",
    "data_mismatch": "Data mismatch",
    "dev_overfit": "Overfitting to the dev set",
}

_FOCUS = {
    "avoidable_bias": "focus on reducing bias",
    "variance": "focus on reducing variance",
    "data_mismatch": "focus on reducing data mismatch",
    "dev_overfit": "focus on the dev set: it has been overfit",
}

_TIE_TOL = 1e-9


def _pct(x: float) -> str:
    """``0.07 -> '7.0%'``; small gaps keep two decimals (``0.0025 -> '0.25%'``)."""
    digits = 1 if abs(x) >= 0.01 or x == 0 else 2
    return f"{x * 100:.{digits}f}%"


def check_error_rate(name: str, value: object) -> float:
    """Return ``value`` as a float error rate in [0, 1], or raise a :class:`UserError`.

    Values in (1, 100] look like percentages, so the error suggests the fraction.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UserError(f"must be an error rate (a number in [0, 1]), but got {value!r}", key=name)
    v = float(value)
    if not math.isfinite(v):
        raise UserError(f"must be a finite error rate in [0, 1], but got {v}", key=name)
    if v < 0 or v > 1:
        hint = [f"{v / 100:g}"] if 1 < v <= 100 else []
        raise UserError(
            f"must be an error rate in [0, 1] (a fraction, not a percentage), but got {v:g}.",
            key=name,
            suggestions=hint,
        )
    return v


@dataclass(frozen=True)
class Diagnosis:
    """The error ladder, the gaps between its rungs and what to do about the largest.

    Gaps are signed differences (``None`` where a rung is unknown); ``problem`` is the name of
    the largest positive gap (``None`` when no gap is positive); ``largest`` lists every gap
    tied for the top; ``notes`` are caveats about the estimate.
    """

    human: float | None
    train: float
    train_dev: float | None
    dev: float
    test: float | None
    avoidable_bias: float | None
    variance: float
    data_mismatch: float | None
    dev_overfit: float | None
    problem: Problem | None
    largest: tuple[Problem, ...] = ()
    remedies: list[str] = field(default_factory=list, hash=False)
    notes: tuple[str, ...] = ()

    def ladder(self) -> dict[str, float]:
        """The known rungs, in order: ``{"human": 0.01, "train": 0.08, ...}``."""
        return {k: getattr(self, k) for k in LEVELS if getattr(self, k) is not None}

    def gaps(self) -> dict[str, float | None]:
        """Every gap by name, ``None`` where it cannot be measured."""
        return {g: getattr(self, g) for g in GAPS}

    def as_metrics(self) -> dict[str, float]:
        """The measured gaps under their MLflow metric names (unknown ones left out)."""
        return {g: v for g, v in self.gaps().items() if v is not None}

    @property
    def verdict(self) -> str:
        """One sentence: ``"Avoidable bias (7.0%) is the largest gap: focus on reducing bias."``"""
        if self.problem is None:
            return (
                "No gap is positive: the errors do not grow along the ladder, so there is "
                "nothing to diagnose with these sets."
            )
        size = _pct(getattr(self, self.problem))
        if len(self.largest) > 1:
            names = [_LABELS[g].lower() for g in self.largest]
            tied = ", ".join(names[:-1]) + " and " + names[-1]
            first = tied[0].upper() + tied[1:]
            return f"{first} ({size}) are tied as the largest gap: {_FOCUS[self.problem]} first."
        return f"{_LABELS[self.problem]} ({size}) is the largest gap: {_FOCUS[self.problem]}."

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the ladder, the gaps, the problem, the verdict, remedies and notes."""
        return {
            "ladder": self.ladder(),
            "gaps": self.gaps(),
            "problem": self.problem,
            "largest": list(self.largest),
            "verdict": self.verdict,
            "remedies": list(self.remedies),
            "notes": list(self.notes),
        }


def diagnose(
    *,
    human: float | None,
    train: float,
    train_dev: float | None,
    dev: float,
    test: float | None = None,
) -> Diagnosis:
    """Diagnose a model from its errors (fractions in [0, 1]) on each set.

    >>> diagnose(human=0.01, train=0.08, train_dev=None, dev=0.10).verdict
    'Avoidable bias (7.0%) is the largest gap: focus on reducing bias.'
    """
    tr = check_error_rate("train", train)
    dv = check_error_rate("dev", dev)
    hu = None if human is None else check_error_rate("human", human)
    td = None if train_dev is None else check_error_rate("train_dev", train_dev)
    te = None if test is None else check_error_rate("test", test)

    # rounded to 12 decimals so that 0.10 - 0.08 reports 0.02, not 0.020000000000000004
    bias = None if hu is None else round(tr - hu, 12)
    variance = round((td if td is not None else dv) - tr, 12)
    mismatch = None if td is None else round(dv - td, 12)
    overfit = None if te is None else round(te - dv, 12)
    gaps: dict[Problem, float | None] = dict(
        zip(GAPS, (bias, variance, mismatch, overfit), strict=True)
    )

    positive = {g: v for g, v in gaps.items() if v is not None and v > _TIE_TOL}
    largest: tuple[Problem, ...] = ()
    problem: Problem | None = None
    if positive:
        top = max(positive.values())
        # dict order is GAPS order, so the first tied gap is the lowest on the ladder
        largest = tuple(g for g, v in positive.items() if top - v <= _TIE_TOL)
        problem = largest[0]

    notes: list[str] = []
    if hu is None:
        notes.append("Human-level error unknown: avoidable bias is not measured.")
    elif bias is not None and bias < -_TIE_TOL:
        notes.append(
            "Training error is below the human-level error: that estimate is too high for a "
            "Bayes-error proxy (use the error of the best team of experts)."
        )
    if td is None:
        notes.append("No train-dev set: variance is dev − train and includes any data mismatch.")

    return Diagnosis(
        human=hu,
        train=tr,
        train_dev=td,
        dev=dv,
        test=te,
        avoidable_bias=bias,
        variance=variance,
        data_mismatch=mismatch,
        dev_overfit=overfit,
        problem=problem,
        largest=largest,
        remedies=list(REMEDIES[problem]) if problem else [],
        notes=tuple(notes),
    )


# Display names of the ladder's rungs and of the gaps (the CLI table and the reports).
LEVEL_LABELS = {
    "human": "Human-level",
    "train": "Train",
    "train_dev": "Train-dev",
    "dev": "Dev",
    "test": "Test",
}
GAP_LABELS = {
    "avoidable_bias": "avoidable bias",
    "variance": "variance",
    "data_mismatch": "data mismatch",
    "dev_overfit": "overfitting to dev",
}
