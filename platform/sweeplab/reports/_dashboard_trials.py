"""A finished (or running) sweep read back for the dashboard and for `sweeplab refine`.

Trials come from MLflow (the same for the Optuna and the Ray backend); their parameters, which
MLflow stores as strings, are turned back into typed values with the sweep's own copy of its
search space (``sweeps/<name>/space.yaml``), so ``32`` is an int and ``1e-3`` a float again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sweeplab.analysis import Constraint
from sweeplab.errors import UserError
from sweeplab.space import Categorical, Constant, IntLogUniform, IntUniform, load_space
from sweeplab.tracking import TrialStatus, client_for, read_sweep
from sweeplab.workspace import Workspace

__all__ = ["SweepTrials", "TrialRow", "load_sweep", "typed_params", "parse_constraints"]


@dataclass
class TrialRow:
    """One trial: typed params (active ones only), final metrics, status, constraint marks."""

    number: int
    status: TrialStatus
    run_id: str
    run_name: str
    params: dict[str, Any]
    metrics: dict[str, float]
    feasible: bool
    reason: str | None = None

    def value(self, metric: str) -> float:
        v = self.metrics.get(metric, math.nan)
        return float(v) if v is not None else math.nan


@dataclass
class SweepTrials:
    """The sweep's identity, its space, objective, constraints and its trials, best first."""

    name: str
    info: dict[str, Any]
    space: Any  # SearchSpace
    objective: str
    goal: str
    constraints: list[Any]  # analysis.Constraint
    trials: list[TrialRow]  # best first (analysis.rank_trials, as `sweeplab runs`)
    parent_params: dict[str, str] = field(default_factory=dict)
    parent_tags: dict[str, str] = field(default_factory=dict)

    def top_feasible(self, k: int) -> list[TrialRow]:
        """The best ``k`` finished trials that satisfy every constraint, best first."""
        ok = [
            t
            for t in self.trials
            if t.status == TrialStatus.FINISHED
            and t.feasible
            and math.isfinite(t.value(self.objective))
        ]
        return ok[:k]


def parse_constraints(text: str | None) -> list[Any]:
    """The parent run's ``constraints`` param (``"latency_ms <= 5; ..."`` or ``"none"``)."""

    if not text or text.strip() == "none":
        return []
    return [Constraint.parse(part.strip()) for part in text.split(";") if part.strip()]


def typed_params(space: Any, raw: dict[str, str]) -> dict[str, Any]:
    """A trial's sampled settings (by name, as MLflow strings: ``sweep_trials``' ``params``) →
    the values the space produces (unknown names kept as text)."""

    out: dict[str, Any] = {}
    for name, text in raw.items():
        if name not in space:
            out[name] = text
            continue
        dist = space[name].distribution
        if isinstance(dist, Categorical | Constant):
            values = dist.values if isinstance(dist, Categorical) else (dist.value,)
            out[name] = next((v for v in values if str(v) == text), text)
        elif isinstance(dist, IntUniform | IntLogUniform):
            out[name] = int(float(text))
        else:
            out[name] = float(text)
    return out


def load_sweep(
    sweep: str | None, *, workspace: Path | None = None, tracking_uri: str | None = None
) -> SweepTrials:
    """Read ``sweep`` (default: the workspace's last sweep) back from the workspace and MLflow."""

    ws = Workspace.at(workspace)
    name = sweep or ws.last_sweep()
    info = ws.read_sweep(name)
    space_file = ws.sweep_dir(name) / "space.yaml"
    if not space_file.is_file():
        raise UserError(f"the sweep folder has no copy of the search space: {space_file}")
    space = load_space(space_file)
    client = client_for(tracking_uri or info["tracking_uri"])
    record = read_sweep(client, info["experiment_id"], info["parent_run_id"])
    parent_params, parent_tags = dict(record.parent.data.params), dict(record.parent.data.tags)
    rows = [
        TrialRow(
            number=t["number"],
            status=t["status"],
            run_id=t["run_id"],
            run_name=t["run_name"] or "",
            params=typed_params(space, t["params"]),
            metrics={k: float(v) for k, v in t["metrics"].items()},
            feasible=bool(t["feasible"]),
            reason=t["reason"],
        )
        for t in record.trials
    ]
    return SweepTrials(
        name=name,
        info=info,
        space=space,
        objective=record.objective.name,
        goal=record.objective.goal.value,
        constraints=parse_constraints(parent_params.get("constraints")),
        trials=rows,
        parent_params=parent_params,
        parent_tags=parent_tags,
    )
