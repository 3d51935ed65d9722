"""Reading a sweep back from MLflow (for `sweeplab runs`, reports, dashboards)."""

from __future__ import annotations

import math
from typing import Any

from sweeplab.tracking._runs import TAG

__all__ = ["sweep_trials", "rank_trials"]


def sweep_trials(client, experiment_id: str, parent_run_id: str) -> list[dict[str, Any]]:
    """One dict per child run: number, status, run_id, params, metrics (latest values), tags."""
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
            status = tags.get(TAG["status"]) or {
                "RUNNING": "running",
                "FAILED": "failed",
                "KILLED": "killed",
            }.get(r.info.status, r.info.status.lower())
            duration = (
                ((r.info.end_time or r.info.start_time) - r.info.start_time) / 1000.0
                if r.info.start_time
                else 0.0
            )
            out.append(
                {
                    "number": int(tags.get(TAG["trial"], -1)),
                    "status": status,
                    "run_id": r.info.run_id,
                    "run_name": r.info.run_name,
                    "params": dict(r.data.params),
                    "metrics": dict(r.data.metrics),
                    "reason": tags.get(TAG["failure"]),
                    "feasible": tags.get("sweeplab.feasible", "true") == "true",
                    "diagnosis": tags.get("sweeplab.diagnosis"),
                    "duration_s": duration,
                }
            )
        page_token = page.token
        if not page_token:
            break
    return out


def rank_trials(trials: list[dict[str, Any]], objective: str, goal: str) -> list[dict[str, Any]]:
    """Best first: finished feasible trials by the objective, then infeasible, pruned, failed."""
    sign = 1.0 if goal == "minimize" else -1.0

    def key(t: dict[str, Any]) -> tuple:
        value = t["metrics"].get(objective, math.nan)
        finite = isinstance(value, float) and math.isfinite(value)
        group = (
            0
            if t["status"] == "finished" and t["feasible"] and finite
            else 1
            if t["status"] == "finished" and finite
            else 2
            if t["status"] == "pruned"
            else 3
            if t["status"] == "running"
            else 4
        )
        return (group, sign * value if finite else math.inf, t["number"])

    return sorted(trials, key=key)
