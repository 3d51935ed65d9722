"""What the records say about noise and lineage: the sets' sizes a sweep logged, its best trial's
diagnosis, its chain of parent sweeps (`sweeplab next` / `refine`), and the stop rule.

The dev set's size comes from the sweep's parent run (its ``splits`` param:
``"train=1257 train_dev=180 dev=180 test=180"``), never from the project file as it is now.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from sweeplab.analysis import (
    Diagnosis,
    StopAdvice,
    diagnose,
    distinguishable,
    stop_rule,
    wilson_interval,
)
from sweeplab.errors import UserError
from sweeplab.reports._dashboard_trials import SweepTrials, TrialRow, load_sweep

__all__ = [
    "LINEAGE_TAGS",
    "NEXT_FROM_TAG",
    "best_diagnosis",
    "chain_rows",
    "error_interval",
    "lineage",
    "lineage_of",
    "parent_of",
    "split_sizes",
    "sweep_advice",
]

NEXT_FROM_TAG = "sweeplab.next_from"
"""Tag on a sweep's parent run: the sweep `sweeplab next` derived it from."""

#: Tags that name a sweep's parent sweep, in the order they are looked for.
LINEAGE_TAGS = (NEXT_FROM_TAG, "sweeplab.refined_from")

_MAX_CHAIN = 50  # a chain longer than this is a loop in hand-edited tags


def split_sizes(params: dict[str, str]) -> dict[str, int]:
    """The example count of each set from the parent run's ``splits`` param ({} if absent)."""
    out: dict[str, int] = {}
    for part in str(params.get("splits", "")).split():
        name, _, count = part.partition("=")
        try:
            n = int(count)
        except ValueError:
            continue
        if n > 0:
            out[name] = n
    return out


def error_interval(error: float | None, n: int | None):
    """The Wilson 95 % interval of an error rate, or None when it cannot be computed."""
    if error is None or not n or not (isinstance(error, int | float) and 0 <= error <= 1):
        return None
    return wilson_interval(float(error), int(n))


def best_diagnosis(trial: TrialRow | None) -> Diagnosis | None:
    """The diagnosis of a trial from its logged errors (human-level error = train error −
    its logged avoidable bias); None when the trial has no train and dev error."""
    if trial is None:
        return None
    m = trial.metrics
    train, dev = m.get("train_error"), m.get("dev_error")
    if train is None or dev is None or not all(map(math.isfinite, (train, dev))):
        return None
    human = None
    if m.get("avoidable_bias") is not None:
        human = round(train - m["avoidable_bias"], 10)
    try:
        return diagnose(
            human=human if human is None or 0 <= human <= 1 else None,
            train=train,
            train_dev=m.get("train_dev_error"),
            dev=dev,
        )
    except UserError:
        return None


def parent_of(sweep: SweepTrials) -> str | None:
    """The name of the sweep this one was derived from (by `next` or `refine`), if any."""
    for tag in LINEAGE_TAGS:
        if sweep.parent_tags.get(tag):
            return sweep.parent_tags[tag]
    return None


def lineage(
    sweep: str | None, *, workspace: Path | None = None, tracking_uri: str | None = None
) -> list[SweepTrials]:
    """The chain of sweeps ending at ``sweep``, the first ancestor first. A parent sweep that
    is no longer in the workspace ends the chain."""
    first = load_sweep(sweep, workspace=workspace, tracking_uri=tracking_uri)
    return lineage_of(first, workspace=workspace, tracking_uri=tracking_uri)


def lineage_of(
    sweep: SweepTrials, *, workspace: Path | None = None, tracking_uri: str | None = None
) -> list[SweepTrials]:
    """:func:`lineage` from a sweep already read back."""
    chain = [sweep]
    seen = {sweep.name}
    while len(chain) < _MAX_CHAIN:
        parent = parent_of(chain[-1])
        if parent is None or parent in seen:
            break
        try:
            chain.append(load_sweep(parent, workspace=workspace, tracking_uri=tracking_uri))
        except UserError:
            break
        seen.add(parent)
    return chain[::-1]


def sweep_advice(sweep: SweepTrials, parent: SweepTrials | None = None) -> StopAdvice | None:
    """The stop rule for ``sweep`` (its best feasible trial, against ``parent``'s best)."""
    if sweep.objective != "dev_error":
        return None
    best = sweep.top_feasible(1)
    if not best:
        return None
    sizes = split_sizes(sweep.parent_params)
    parent_best = parent.top_feasible(1) if parent is not None else []
    return stop_rule(
        best_diagnosis(best[0]),
        sizes,
        best=best[0].value("dev_error"),
        parent_best=parent_best[0].value("dev_error") if parent_best else None,
        parent_n=split_sizes(parent.parent_params).get("dev") if parent is not None else None,
    )


def chain_rows(chain: list[SweepTrials]) -> list[dict[str, Any]]:
    """One row per sweep of a chain: its name, parent, how it was derived, its best dev error
    with the interval, and whether it beats its parent beyond noise."""
    rows: list[dict[str, Any]] = []
    prev: SweepTrials | None = None
    for s in chain:
        best = s.top_feasible(1)
        value = best[0].value(s.objective) if best else None
        n = split_sizes(s.parent_params).get("dev")
        ci = error_interval(value, n) if s.objective.endswith("_error") else None
        row: dict[str, Any] = {
            "sweep": s.name,
            "parent": parent_of(s),
            "how": "next"
            if s.parent_tags.get(NEXT_FROM_TAG)
            else ("refine" if parent_of(s) else "start"),
            "diagnosis": s.parent_tags.get("sweeplab.derived_for"),
            "trials": len(s.trials),
            "best": value,
            "ci_low": ci.low if ci else None,
            "ci_high": ci.high if ci else None,
            "dev_n": n,
            "vs_parent": None,
        }
        pbest = prev.top_feasible(1) if prev is not None else []
        if pbest and value is not None and n and ci is not None:
            pv = pbest[0].value(s.objective)
            pn = split_sizes(prev.parent_params).get("dev") or n
            if distinguishable(value, pv, n, n_b=pn):
                row["vs_parent"] = "better" if value < pv else "worse"
            else:
                row["vs_parent"] = "within noise"
        rows.append(row)
        prev = s
    return rows
