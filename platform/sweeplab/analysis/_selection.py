"""Optimizing and satisficing metrics: pick the best trial among those that are good enough.

The curriculum: choose one *optimizing* metric (the dev error, to minimize) and any number of
*satisficing* metrics that only need to pass a bar (``latency_ms <= 5``). The best trial is the
one with the best optimizing value among the trials that satisfy every constraint.

Rules: a NaN or infinite objective is never best; a trial without a constraint's metric, or
with a NaN there, does not satisfy it; ties go to the earliest trial. For the trials of a
sweep, only a finished trial whose recorded feasibility holds can be best. This is the one
rule: :func:`select_best` picks by it, :func:`rank_trials` orders every trial by it (what
``sweeplab runs`` lists, the sweep's best trial, the dashboards).
"""

from __future__ import annotations

import math
import re
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from sweeplab.errors import UserError, close_matches, unknown_name_error

__all__ = [
    "Constraint",
    "Goal",
    "Objective",
    "Selection",
    "rank_trials",
    "select_best",
    "violation",
]

_OPS = ("<=", "<", ">=", ">")
_FLIPPED = {"=>": ">=", "=<": "<="}
_PATTERN = re.compile(
    r"^\s*(?P<metric>[A-Za-z_][\w.\-/]*)\s*(?P<op>=>|=<|[<>=!]=?)\s*(?P<bound>\S.*?)\s*$"
)


class Goal(StrEnum):
    """Direction of the optimizing metric."""

    MINIMIZE = "minimize"
    MAXIMIZE = "maximize"


@dataclass(frozen=True)
class Objective:
    """The optimizing metric: ``Objective("dev_error", "minimize")``."""

    name: str
    goal: Goal = Goal.MINIMIZE

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise UserError(f"objective name must be a non-empty string, got {self.name!r}")
        if not isinstance(self.goal, Goal):
            try:
                goal = Goal(str(self.goal).lower())
            except ValueError:
                raise unknown_name_error("goal", self.goal, [g.value for g in Goal]) from None
            object.__setattr__(self, "goal", goal)

    def __str__(self) -> str:
        return f"{self.goal.value} {self.name}"


@dataclass(frozen=True)
class Constraint:
    """A satisficing metric: ``metric op bound`` with op one of ``<=``, ``<``, ``>=``, ``>``.

    ``Constraint.parse("latency_ms <= 5")``; ``str()`` gives the text back.
    """

    metric: str
    op: str
    bound: float

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise UserError(
                f"unknown operator {self.op!r} in constraint; expected one of {', '.join(_OPS)}"
            )
        if isinstance(self.bound, bool) or not isinstance(self.bound, int | float):
            raise UserError(f"constraint bound must be a number, but got {self.bound!r}")
        if not math.isfinite(self.bound):
            raise UserError(f"constraint bound must be finite, but got {self.bound}")
        object.__setattr__(self, "bound", float(self.bound))

    @classmethod
    def parse(cls, text: str, *, known: Iterable[str] | None = None) -> Constraint:
        """Parse ``"metric op number"``; with ``known`` metric names, reject others."""
        if isinstance(text, Constraint):
            return text
        if not isinstance(text, str):
            raise UserError(f"a constraint must be a string like 'latency_ms <= 5', got {text!r}")
        m = _PATTERN.match(text)
        if not m:
            raise UserError(
                f"cannot parse constraint {text!r}; expected 'metric op number' with op one of "
                f"{', '.join(_OPS)}, e.g. 'latency_ms <= 5'"
            )
        metric, op, raw = m.group("metric", "op", "bound")
        if op not in _OPS:
            raise UserError(
                f"unknown operator {op!r} in constraint {text!r}; expected one of {', '.join(_OPS)}",
                suggestions=[f"{metric} {_FLIPPED[op]} {raw}"] if op in _FLIPPED else [],
            )
        if raw.endswith("%"):
            try:
                value = float(raw[:-1])
            except ValueError:
                value = None
            raise UserError(
                f"bound {raw!r} in constraint {text!r} must be a plain number (fractions, not %)",
                suggestions=[f"{metric} {op} {value / 100:g}"] if value is not None else [],
            )
        try:
            bound = float(raw)
        except ValueError:
            raise UserError(
                f"bound in constraint {text!r} must be a number, but got {raw!r}"
            ) from None
        if not math.isfinite(bound):
            raise UserError(f"bound in constraint {text!r} must be finite, but got {raw!r}")
        if known is not None:
            names = list(known)
            if metric not in names:
                raise unknown_name_error("metric", metric, names).located(key=text)
        return cls(metric, op, bound)

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.bound:g}"

    def violation(self, value: object) -> float:
        """``<= 0`` when ``value`` satisfies the constraint, the amount it is off otherwise;
        ``inf`` for a missing, non-numeric or NaN value."""
        try:
            v = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return math.inf
        if math.isnan(v):
            return math.inf
        d = v - self.bound if self.op in ("<=", "<") else self.bound - v
        if math.isinf(d):
            return d if d > 0 else -math.inf
        # strict: equality must violate; x - y == 0 iff x == y (IEEE subnormals), so one ulp up
        return math.nextafter(d, math.inf) if self.op in ("<", ">") else d

    def satisfied(self, value: object) -> bool:
        return self.violation(value) <= 0


def _constraints(constraints: Iterable[Constraint | str]) -> list[Constraint]:
    if isinstance(constraints, str | Constraint):
        constraints = [constraints]
    return [Constraint.parse(c) for c in constraints]


def violation(trial: Mapping[str, Any], constraints: Iterable[Constraint | str]) -> list[float]:
    """One value per constraint, ``<= 0`` when satisfied (Optuna's ``constraints_func`` form).

    A metric missing from ``trial`` counts as violated (``inf``).
    """
    return [c.violation(trial.get(c.metric, math.nan)) for c in _constraints(constraints)]


@dataclass(frozen=True)
class Selection:
    """The outcome of :func:`select_best`.

    ``index`` is the label of the best trial (``None`` when no trial is feasible, and then
    ``reason`` says why); ``row`` is that trial; ``feasible`` marks every trial that satisfies
    all constraints and has a finite objective. ``bool(selection)`` is whether one was found.
    """

    index: Hashable | None
    row: pd.Series | None
    feasible: pd.Series
    reason: str

    def __bool__(self) -> bool:
        return self.index is not None


def _trial_frame(trials: Sequence[Mapping[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    if isinstance(trials, pd.DataFrame):
        return trials
    if isinstance(trials, Mapping | str):
        raise UserError("trials must be a list of dicts or a DataFrame, got a single mapping")
    rows = list(trials)
    if not all(isinstance(r, Mapping) for r in rows):
        raise UserError("trials must be a list of dicts (metric name -> value) or a DataFrame")
    return pd.DataFrame(rows)


def _reported(
    df: pd.DataFrame, objective: Objective, cons: list[Constraint], *, strict: bool
) -> pd.DataFrame:
    """``df`` with a column for every metric the rule reads. ``strict``: a metric that no
    trial reports is a :class:`UserError` (a typo, close matches listed); otherwise it is a
    column of NaN (every trial of a sweep whose trials all failed lacks the objective)."""
    columns = [str(c) for c in df.columns]
    for name in [objective.name, *(c.metric for c in cons)]:
        if name in df.columns:
            continue
        if strict and len(df):
            raise UserError(
                f"no trial reports metric {name!r}; trials have: {', '.join(columns)}.",
                key=name,
                suggestions=close_matches(name, columns),
            )
        df = df.assign(**{name: math.nan})
    return df


def _per_trial(df: pd.DataFrame, values: Sequence[Any] | None, default: Any) -> pd.Series:
    if values is None:
        return pd.Series(default, index=df.index)
    values = list(values)
    if len(values) != len(df):
        raise UserError(f"expected one value per trial ({len(df)}), got {len(values)}")
    return pd.Series(values, index=df.index)


@dataclass(frozen=True)
class _Standing:
    """What the rule reads of each trial (each a Series on the trials' index)."""

    df: pd.DataFrame  # the trials, a column for every metric the rule reads
    values: pd.Series  # the objective (NaN where missing or not a number)
    finite: pd.Series
    finished: pd.Series
    ok: pd.Series  # finished, recorded feasible, every constraint holds, finite objective
    order: pd.Series  # ties go to the smallest
    failures: list[str]  # the constraints some trial breaks, for the reason


def _standing(
    trials: Sequence[Mapping[str, Any]] | pd.DataFrame,
    objective: Objective,
    constraints: Iterable[Constraint | str],
    status: Sequence[str] | None,
    feasible: Sequence[bool] | None,
    order: Sequence[Any] | None,
    *,
    strict: bool,
) -> _Standing:
    if not isinstance(objective, Objective):
        raise UserError(f"objective must be an Objective(name, goal), got {objective!r}")
    cons = _constraints(constraints)
    df = _reported(_trial_frame(trials), objective, cons, strict=strict)
    values = pd.to_numeric(df[objective.name], errors="coerce").astype(float)
    finite = pd.Series(np.isfinite(values.to_numpy()), index=df.index, dtype=bool)
    finished = _per_trial(df, status, "finished") == "finished"
    ok = finite & finished & _per_trial(df, feasible, True).astype(bool)
    failures: list[str] = []
    for c in cons:
        sat = pd.Series([c.satisfied(v) for v in df[c.metric]], index=df.index, dtype=bool)
        if not sat.all():
            failures.append(f"'{c}' fails for {int((~sat).sum())} of {len(df)}")
        ok &= sat
    positions = range(len(df)) if order is None else order
    return _Standing(df, values, finite, finished, ok, _per_trial(df, positions, 0), failures)


def _by_objective(s: _Standing, objective: Objective) -> pd.Series:
    """The sort key: the objective, best first (``inf`` when it is not finite)."""
    sign = 1.0 if objective.goal is Goal.MINIMIZE else -1.0
    return (sign * s.values).where(s.finite, math.inf)


def select_best(
    trials: Sequence[Mapping[str, Any]] | pd.DataFrame,
    objective: Objective,
    constraints: Iterable[Constraint | str] = (),
    *,
    status: Sequence[str] | None = None,
    feasible: Sequence[bool] | None = None,
    order: Sequence[Any] | None = None,
) -> Selection:
    """The trial with the best ``objective`` among those satisfying every constraint.

    A list of dicts is indexed by position; a DataFrame keeps its index. An objective or a
    constraint metric that no trial reports is a :class:`UserError` (close matches listed);
    a metric missing from some trials makes those trials infeasible.

    For trials of a sweep, one value per trial: ``status`` (only ``"finished"`` trials can
    be best), ``feasible`` (feasibility recorded when the trial ended, on top of
    ``constraints``) and ``order`` (the trial numbers: ties go to the smallest; by default
    to the first row).
    """
    s = _standing(trials, objective, constraints, status, feasible, order, strict=True)
    df = s.df
    if not len(df):
        return Selection(None, None, pd.Series(dtype=bool), "no trials to select from")
    if not s.ok.any():
        parts = list(s.failures)
        if not s.finished.all():
            parts.append(f"{int((~s.finished).sum())} of {len(df)} did not finish")
        if feasible is not None and not all(feasible):
            parts.append(f"{len(df) - sum(map(bool, feasible))} of {len(df)} were infeasible")
        if not s.finite.all():
            parts.append(
                f"{int((~s.finite).sum())} of {len(df)} have a non-finite {objective.name}"
            )
        reason = "no trial is feasible: " + "; ".join(parts) if parts else "no trial is feasible"
        return Selection(None, None, s.ok, reason)

    key = pd.DataFrame({"value": _by_objective(s, objective), "order": s.order})[s.ok]
    best = key.sort_values(["value", "order"], kind="stable").index[0]
    reason = f"best {objective} among {int(s.ok.sum())} feasible of {len(df)} trials"
    return Selection(best, df.loc[best], s.ok, reason)


def rank_trials(
    trials: Sequence[Mapping[str, Any]] | pd.DataFrame,
    objective: Objective,
    constraints: Iterable[Constraint | str] = (),
    *,
    status: Sequence[str] | None = None,
    feasible: Sequence[bool] | None = None,
    order: Sequence[Any] | None = None,
) -> list[Hashable]:
    """Every trial's label (position for a list), best first, by :func:`select_best`'s rule.

    First the trials ``select_best`` chooses among (its choice first), then finished trials
    with a finite objective that break a constraint, then pruned, running, and the rest
    (failed, killed, finished without a finite objective). Within each group by the
    objective (non-finite last), ties by ``order``. Arguments as for ``select_best``, except
    that a metric no trial reports is not an error here: the trials lack it.
    """
    s = _standing(trials, objective, constraints, status, feasible, order, strict=False)
    state = _per_trial(s.df, status, "finished")
    group = np.select(
        [s.ok, s.finished & s.finite, state == "pruned", state == "running"],
        [0, 1, 2, 3],
        default=4,
    )
    key = pd.DataFrame({"group": group, "value": _by_objective(s, objective), "order": s.order})
    return list(key.sort_values(["group", "value", "order"], kind="stable").index)
