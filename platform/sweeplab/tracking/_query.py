"""Reading a sweep back from MLflow (for `sweeplab runs`, reports, dashboards)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sweeplab.analysis import Objective, rank_trials
from sweeplab.tracking._runs import TAG, split_params
from sweeplab.tracking._status import TrialStatus
from sweeplab.tracking._store import client_for
from sweeplab.workspace import Workspace

__all__ = [
    "SweepRecord",
    "load_sweep_table",
    "objective_params",
    "read_sweep",
    "sweep_objective",
    "sweep_trials",
]

#: A sweep without a recorded objective (older than the ``objective`` param) optimized this.
_DEFAULT_OBJECTIVE = Objective("dev_error", "minimize")


def objective_params(objective: Objective) -> dict[str, str]:
    """The parent run's params that record the sweep's optimizing metric: ``objective_name``
    and ``objective_goal``, and the readable ``objective`` ("minimize dev_error") users
    know (and that sweeps before the two typed params have alone)."""
    return {
        "objective": f"{objective.goal.value} {objective.name}",
        "objective_name": objective.name,
        "objective_goal": objective.goal.value,
    }


def sweep_objective(params: Mapping[str, str]) -> Objective:
    """The sweep's optimizing metric, from its parent run's params (``objective_params``)."""
    if params.get("objective_name") and params.get("objective_goal"):
        return Objective(params["objective_name"], params["objective_goal"])
    # an older sweep: only the readable form "goal name"
    goal, _, name = params.get("objective", "").strip().partition(" ")
    return Objective(name.strip(), goal) if name.strip() else _DEFAULT_OBJECTIVE


def sweep_trials(client, experiment_id: str, parent_run_id: str) -> list[dict[str, Any]]:
    """One dict per child run: number, status (a TrialStatus), run_id, params (the sampled
    settings by their search-space names, as MLflow strings), fixed (the other settings by
    their keys: ``train.epochs``), metrics (latest values), failure reason, feasible,
    diagnosis, device, duration."""
    out = []
    page_token = None
    while True:
        page = client.search_runs(
            [experiment_id],
            filter_string=f"tags.`{TAG['parent']}` = '{parent_run_id}'",
            max_results=1000,
            page_token=page_token,
        )
        for r in page:
            tags = r.data.tags
            status = TrialStatus.of_run(tags.get(TAG["status"]), r.info.status)
            duration = (
                ((r.info.end_time or r.info.start_time) - r.info.start_time) / 1000.0
                if r.info.start_time
                else 0.0
            )
            sampled, fixed = split_params(r.data.params, tags)
            out.append(
                {
                    "number": int(tags.get(TAG["trial"], -1)),
                    "status": status,
                    "run_id": r.info.run_id,
                    "run_name": r.info.run_name,
                    "params": sampled,
                    "fixed": fixed,
                    "metrics": dict(r.data.metrics),
                    "reason": tags.get(TAG["failure"]),
                    "feasible": tags.get("sweeplab.feasible", "true") == "true",
                    "diagnosis": tags.get("sweeplab.diagnosis"),
                    "device": tags.get(TAG["device"]),
                    "duration_s": duration,
                }
            )
        page_token = page.token
        if not page_token:
            break
    return out


@dataclass(frozen=True)
class SweepRecord:
    """A sweep read back from MLflow."""

    parent: Any  # the parent run (mlflow.entities.Run): params, tags
    objective: Objective
    trials: list[dict[str, Any]]  # ``sweep_trials``' dicts, best first (``rank_trials``)


def read_sweep(client, experiment_id: str, parent_run_id: str) -> SweepRecord:
    """The sweep's parent run, its objective and its trials, best first by the one rule
    (:func:`sweeplab.analysis.rank_trials`: what `sweeplab runs` lists, top row the best)."""
    parent = client.get_run(parent_run_id)
    objective = sweep_objective(parent.data.params)
    trials = sweep_trials(client, experiment_id, parent_run_id)
    order = rank_trials(
        [t["metrics"] for t in trials],
        objective,
        status=[t["status"] for t in trials],
        feasible=[t["feasible"] for t in trials],
        order=[t["number"] for t in trials],
    )
    return SweepRecord(parent, objective, [trials[i] for i in order])


def load_sweep_table(
    sweep: str | None, workspace: Path | None, tracking_uri: str | None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(sweep info, ranked trial dicts) for ``sweep`` (default: the workspace's last sweep):
    what `sweeplab runs`, reports and evaluations start from."""
    ws = Workspace.at(workspace)
    name = sweep or ws.last_sweep()
    info = ws.read_sweep(name)
    client = client_for(tracking_uri or info["tracking_uri"])
    record = read_sweep(client, info["experiment_id"], info["parent_run_id"])
    info = {
        **info,
        "objective": record.objective.name,
        "goal": record.objective.goal.value,
        # the sets' sizes as the sweep logged them ("train=1257 train_dev=180 dev=180 ...")
        "splits": record.parent.data.params.get("splits", ""),
    }
    return info, record.trials
