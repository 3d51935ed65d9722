"""A real `mlflow server` stops in the middle of a sweep and comes back on the same port with
the same store: no metric point is lost, none is duplicated, every trial's run is complete."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pytest
from tests.reliability.reliability_helpers import (
    child_runs,
    digits_project,
    load_study,
    start_sweep,
)

from sweeplab.cli import main

EPOCHS = 4
PER_EPOCH = ("train_loss", "train_error", "dev_error", "lr")


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _finished_runs(uri: str, sweep: str) -> int:
    try:
        return sum(r.info.status == "FINISHED" for r in child_runs(uri, sweep))
    except Exception:  # noqa: BLE001 - the server may be starting
        return 0


def _check_every_point_once(uri: str, sweep: str, study) -> int:
    """One FINISHED run per finished trial; each per-epoch metric has each epoch exactly once."""
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    runs = child_runs(uri, sweep)
    assert {r.info.status for r in runs} == {"FINISHED"}
    by_number = Counter(int(r.data.tags["sweeplab.trial_number"]) for r in runs)
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert sorted(by_number) == sorted(t.number for t in complete)
    assert set(by_number.values()) == {1}, f"duplicate runs: {by_number}"
    points = 0
    for run in runs:
        number = int(run.data.tags["sweeplab.trial_number"])
        trial = next(t for t in complete if t.number == number)
        for key in PER_EPOCH:
            history = client.get_metric_history(run.info.run_id, key)
            seen = Counter((h.step, h.timestamp, h.value) for h in history)
            assert max(seen.values()) == 1, f"{key} of trial {number} has duplicate points"
            steps = sorted({h.step for h in history})
            assert len(steps) == EPOCHS, f"{key} of trial {number}: steps {steps}"
            points += len(history)
        # the run's final value is the one the study holds
        assert run.data.metrics["dev_error"] == pytest.approx(
            trial.user_attrs["metrics"]["dev_error"]
        )
    return points


@pytest.mark.slow
@pytest.mark.parametrize("mlflow_server", ["sqlite", "postgresql"], indirect=True)
def test_server_outage_mid_sweep_loses_and_duplicates_no_metric_point(tmp_path, mlflow_server):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    project = digits_project(tmp_path, epochs=EPOCHS, trials=6)
    log = tmp_path / "sweep.log"
    proc = start_sweep(
        [str(project), "--name", "outage", "--tracking-uri", mlflow_server.uri],
        workspace,
        log,
        SWEEPLAB_OUTBOX_WAIT_S="120",
    )
    try:
        _wait(
            lambda: _finished_runs(mlflow_server.uri, "outage") >= 1, 120, "a first finished trial"
        )
        mlflow_server.stop()
        down = time.monotonic()
        time.sleep(4.0)  # trials run, finish and queue their records meanwhile
        assert proc.poll() is None, "the sweep should still be running through the outage"
        mlflow_server.start()
        outage_s = time.monotonic() - down
        assert proc.wait(timeout=180) == 0, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
    study = load_study(workspace, "outage")
    assert sum(t.state.name == "COMPLETE" for t in study.trials) == 6
    points = _check_every_point_once(mlflow_server.uri, "outage", study)
    assert points == 6 * EPOCHS * len(PER_EPOCH)
    assert not list((workspace / "outbox" / "outage").glob("*.jsonl")), "everything was delivered"
    (tmp_path / "outage-figures.json").write_text(
        json.dumps({"outage_s": outage_s, "points": points})
    )
    print(f"outage {outage_s:.1f} s, {points} metric points, 0 lost, 0 duplicated")


@pytest.mark.slow
def test_server_that_never_returns_leaves_an_outbox_that_sync_delivers_once(
    tmp_path, mlflow_server
):
    """The server goes away for good: the sweep finishes and says where the records are;
    `sweeplab sync` sends them (here straight into the server's store), and a second sync
    sends nothing twice."""
    workspace = tmp_path / "ws"
    workspace.mkdir()
    project = digits_project(tmp_path, epochs=EPOCHS, trials=3)
    log = tmp_path / "sweep.log"
    proc = start_sweep(
        [str(project), "--name", "gone", "--tracking-uri", mlflow_server.uri],
        workspace,
        log,
        SWEEPLAB_OUTBOX_WAIT_S="1",
    )
    try:
        # the server goes as soon as the sweep has its parent run, before any trial logs
        _wait(
            lambda: (workspace / "sweeps" / "gone" / "sweep.json").exists(),
            120,
            "the sweep to start",
        )
        mlflow_server.stop()
        assert proc.wait(timeout=180) == 0, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
    out = " ".join(log.read_text().split())
    outbox = workspace / "outbox" / "gone"
    assert "outbox/gone" in out and "sweeplab sync gone" in out, out[-2000:]
    assert list(outbox.glob("*.jsonl"))

    # while the store is away, sync says so (exit 1) and keeps the records
    assert main(["sync", "gone", "--workspace", str(workspace)]) == 1
    assert list(outbox.glob("*.jsonl"))

    store = mlflow_server.backend_store_uri
    args = ["sync", "gone", "--workspace", str(workspace), "--tracking-uri", store]
    assert main(args) == 0
    assert not list(outbox.glob("*.jsonl"))
    assert main(args) == 0  # idempotent: nothing left, nothing sent twice
    study = load_study(workspace, "gone")
    assert sum(t.state.name == "COMPLETE" for t in study.trials) == 3
    points = _check_every_point_once(store, "gone", study)
    assert points == 3 * EPOCHS * len(PER_EPOCH)


def test_mlflow_http_retries_are_bounded_in_the_sweep_process(monkeypatch):
    from sweeplab.tracking import quiet_http_retries

    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", raising=False)
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_TIMEOUT", raising=False)
    quiet_http_retries()
    from mlflow.environment_variables import (
        MLFLOW_HTTP_REQUEST_MAX_RETRIES,
        MLFLOW_HTTP_REQUEST_TIMEOUT,
    )

    assert MLFLOW_HTTP_REQUEST_MAX_RETRIES.get() == 0
    assert 0 < MLFLOW_HTTP_REQUEST_TIMEOUT.get() <= 30
    assert Path  # imported for the helpers' annotations
