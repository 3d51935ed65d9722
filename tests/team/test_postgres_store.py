"""MLflow on PostgreSQL: a seeded sweep's records on ``--tracking-uri postgresql://…`` equal the
same sweep's on the workspace's SQLite store, with the bulk metric writer on and off, and both
stores pass the records checker (tests/store_checks.py). Read back with MLflow's own client."""

from __future__ import annotations

import math

import pytest
from mlflow import MlflowClient
from tests.store_checks import assert_store_ok

from sweeplab.cli import main
from sweeplab.tracking._mlflow_internals import sql_store

# the records that differ between any two runs of one sweep: ids, times, where it ran
VOLATILE_TAGS = ("mlflow.user", "mlflow.source", "mlflow.parentRunId", "mlflow.log-model")
VOLATILE_PREFIXES = (
    "sweeplab.best_model_uri",
    "sweeplab.model_uri",
    "sweeplab.run_key",
    "mlflow.runColor",
)


def _records(uri: str, sweep: str) -> dict:
    """Per trial number: status, params, tags, final metrics and every metric history."""
    client = MlflowClient(uri)
    runs = client.search_runs(
        [e.experiment_id for e in client.search_experiments()],
        filter_string=f"tags.`sweeplab.sweep` = '{sweep}' and tags.`sweeplab.kind` = 'trial'",
        max_results=1000,
    )
    out = {}
    for run in runs:
        number = int(run.data.tags["sweeplab.trial_number"])
        tags = {
            k: v
            for k, v in run.data.tags.items()
            if k not in VOLATILE_TAGS and not k.startswith(VOLATILE_PREFIXES)
        }
        histories = {
            key: [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, key)]
            for key in run.data.metrics
            if key not in ("epoch_time_s", "latency_ms", "trial_time_s")
            and not key.startswith("system/")
        }
        out[number] = {
            "status": run.info.status,
            "params": run.data.params,
            "tags": {k: v for k, v in tags.items() if "time" not in k},
            "histories": histories,
        }
    return out


def _assert_same(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for number in a:
        ra, rb = a[number], b[number]
        assert ra["status"] == rb["status"], number
        assert ra["params"] == rb["params"], number
        assert ra["tags"] == rb["tags"], number
        assert sorted(ra["histories"]) == sorted(rb["histories"]), number
        for key, points in ra["histories"].items():
            other = rb["histories"][key]
            assert [s for s, _ in points] == [s for s, _ in other], (number, key)
            for (_, x), (_, y) in zip(points, other, strict=True):
                # PostgreSQL stores MLflow's metric values as double precision, as SQLite does
                assert (math.isnan(x) and math.isnan(y)) or x == y, (number, key, x, y)


@pytest.mark.parametrize("bulk", ["1", "0"], ids=["bulk", "log_batch"])
def test_sweep_records_on_postgres_equal_sqlite(
    postgres, tiny_project, tmp_path, monkeypatch, bulk
):
    monkeypatch.setenv("SWEEPLAB_BULK_METRICS", bulk)
    pg_uri = postgres.create_database(f"mlflow_{bulk}")
    assert main(["sweep", str(tiny_project), "--name", "same", "-w", str(tmp_path / "a")]) == 0
    assert (
        main(
            [
                "sweep",
                str(tiny_project),
                "--name",
                "same",
                "-w",
                str(tmp_path / "b"),
                "--tracking-uri",
                pg_uri,
            ]
        )
        == 0
    )
    sqlite_uri = f"sqlite:///{tmp_path / 'a' / 'mlflow.db'}"
    # the bulk writer's premise: this process holds MLflow's SQL store for PostgreSQL too
    assert sql_store(MlflowClient(pg_uri)) is not None
    on_sqlite, on_postgres = _records(sqlite_uri, "same"), _records(pg_uri, "same")
    assert len(on_postgres) == 3
    _assert_same(on_sqlite, on_postgres)
    for uri in (sqlite_uri, pg_uri):
        report = assert_store_ok(uri)
        assert report.trial_runs == 3 and report.values > 0
