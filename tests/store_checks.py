"""Invariants of an MLflow store that sweeplab wrote, checked by reading it back with MLflow's
own client (reusable by any test: ``assert_store_ok(tracking_uri)``).

- one value per (run, metric, step) in every run's history (``get_metric_history``);
- one key per setting across the sweeps of an experiment: no param is logged both as
  ``name`` and as ``<group>.name`` (group: model, train, task); the keys a trial run's
  ``sweeplab.sampled`` tag lists are params of that run;
- every run has ended (FINISHED, FAILED or KILLED);
- every trial run has its ``sweeplab.device`` tag.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from mlflow import MlflowClient
from mlflow.entities import ViewType

__all__ = ["StoreReport", "assert_store_ok", "check_store"]

GROUPS = ("model", "train", "task")
KIND_TAG, SAMPLED_TAG, DEVICE_TAG = "sweeplab.kind", "sweeplab.sampled", "sweeplab.device"
TERMINAL = ("FINISHED", "FAILED", "KILLED")


@dataclass
class StoreReport:
    """What the walk saw (for a test's own assertions) and what broke an invariant."""

    runs: int = 0
    trial_runs: int = 0
    histories: int = 0  # (run, metric) histories read
    values: int = 0  # metric values read
    problems: list[str] = field(default_factory=list)


def _all_runs(client: MlflowClient, experiment_ids: list[str]) -> list:
    runs, token = [], None
    while True:
        page = client.search_runs(
            experiment_ids, run_view_type=ViewType.ACTIVE_ONLY, max_results=1000, page_token=token
        )
        runs += list(page)
        token = page.token
        if not token:
            return runs


def check_store(tracking_uri: str, experiment_ids: list[str] | None = None) -> StoreReport:
    """Walk every run of ``experiment_ids`` (default: every experiment but MLflow's default
    one) and collect what breaks an invariant (see the module docstring)."""
    client = MlflowClient(tracking_uri)
    if experiment_ids is None:
        experiment_ids = [
            e.experiment_id for e in client.search_experiments() if e.name != "Default"
        ]
    report = StoreReport()
    for exp in experiment_ids:
        _check_experiment(client, exp, report)
    return report


def _check_experiment(client: MlflowClient, experiment_id: str, report: StoreReport) -> None:
    keys: set[str] = set()  # every param key of every trial run of the experiment
    for run in _all_runs(client, [experiment_id]):
        report.runs += 1
        rid, tags = run.info.run_id, run.data.tags
        name = f"run {run.info.run_name!r} ({rid})"
        if run.info.status not in TERMINAL:
            report.problems.append(f"{name} is {run.info.status}, not ended")
        for key in run.data.metrics:
            history = client.get_metric_history(rid, key)
            report.histories += 1
            report.values += len(history)
            twice = {s: n for s, n in Counter(m.step for m in history).items() if n > 1}
            if twice:
                report.problems.append(
                    f"{name}: metric {key!r} has several values at steps {twice}"
                )
        if tags.get(KIND_TAG) != "trial":
            continue
        report.trial_runs += 1
        keys |= set(run.data.params)
        if not tags.get(DEVICE_TAG):
            report.problems.append(f"{name} has no {DEVICE_TAG} tag")
        if SAMPLED_TAG not in tags:
            report.problems.append(f"{name} has no {SAMPLED_TAG} tag")
        sampled = [k for k in tags.get(SAMPLED_TAG, "").split(",") if k]
        missing = [k for k in sampled if k not in run.data.params]
        if missing:
            report.problems.append(f"{name}: sampled keys {missing} are not params of the run")
    for key in sorted(keys):
        twins = [f"{g}.{key}" for g in GROUPS if f"{g}.{key}" in keys]
        if twins:
            report.problems.append(
                f"experiment {experiment_id}: setting logged as {key!r} and as {twins}"
            )


def assert_store_ok(tracking_uri: str, experiment_ids: list[str] | None = None) -> StoreReport:
    """:func:`check_store`, failing with every problem found; returns the report."""
    report = check_store(tracking_uri, experiment_ids)
    assert report.runs, f"no runs in {tracking_uri}"
    assert not report.problems, "\n".join(report.problems)
    return report
