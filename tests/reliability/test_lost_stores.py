"""A sweep whose Optuna journal is gone, or whose MLflow store was wiped or lost its parent
run, is not resumed: exit 2 with one line naming the store, and nothing is written."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess

import pytest
from tests.conftest import write
from tests.reliability.reliability_helpers import SWEEPLAB, child_runs, load_study, sweeplab_env

from sweeplab.cli import main
from sweeplab.tracking import default_tracking_uri


@pytest.fixture
def finished(tmp_path):
    """A finished 2-trial sweep ``lost`` in ``tmp_path/ws`` (and its project file)."""
    project = write(
        tmp_path / "p.yaml",
        """
        name: lost-stores
        data: {source: sklearn:iris, splits: {train: 0.6, dev: 0.4}, seed: 0}
        model: {name: mlp, num_layers: 1, hidden_units: 8}
        train: {epochs: 1}
        search: {trials: 2, sampler: random}
        """,
    )
    ws = tmp_path / "ws"
    assert main(["sweep", str(project), "--name", "lost", "-w", str(ws)]) == 0
    return ws, project


def _resume(ws, project, capsys) -> str:
    capsys.readouterr()
    assert main(["sweep", str(project), "--resume", "--name", "lost", "-w", str(ws)]) == 2
    out = capsys.readouterr()
    text = (out.out + out.err).strip().splitlines()
    errors = [line for line in text if line.startswith("sweeplab: error")]
    assert len(errors) == 1 and not any("Traceback" in line for line in text), text
    return errors[0]


def test_a_lost_journal_is_refused_and_nothing_runs_again(finished, capsys):
    ws, project = finished
    journal = ws / "sweeps" / "lost" / "optuna.journal"
    for wipe in (journal.unlink, lambda: journal.write_bytes(b"")):
        shutil.copy(journal, journal.with_suffix(".bak")) if journal.exists() else None
        wipe()
        line = _resume(ws, project, capsys)
        assert "optuna.journal" in line and "2 of its trials" in line, line
        assert not journal.exists() or journal.stat().st_size == 0  # not re-created
        assert len(child_runs(default_tracking_uri(ws), "lost")) == 2
        shutil.copy(journal.with_suffix(".bak"), journal)
    # with the journal back, the finished sweep resumes to no new trial
    assert main(["sweep", str(project), "--resume", "--name", "lost", "-w", str(ws)]) == 0
    assert [t.state.name for t in load_study(ws, "lost").trials] == ["COMPLETE", "COMPLETE"]
    assert len(child_runs(default_tracking_uri(ws), "lost")) == 2


def test_a_wiped_tracking_store_or_a_lost_parent_run_is_refused(finished, capsys):
    ws, project = finished
    db = ws / "mlflow.db"
    parent = json.loads((ws / "sweeps" / "lost" / "sweep.json").read_text())["parent_run_id"]
    backup = db.with_suffix(".bak")
    shutil.copy(db, backup)
    with sqlite3.connect(db) as con:  # the parent run alone is gone
        con.execute("delete from tags where run_uuid = ?", (parent,))
        con.execute("delete from runs where run_uuid = ?", (parent,))
    line = _resume(ws, project, capsys)
    assert parent in line and "not in the tracking store" in line, line
    db.write_bytes(b"")  # the whole store truncated: a new process (this one caches the store)
    proc = subprocess.run(
        [*SWEEPLAB, "sweep", str(project), "--resume", "--name", "lost"],
        env=sweeplab_env(ws),
        capture_output=True,
        text=True,
        timeout=240,
    )
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    errors = [line for line in lines if line.startswith("sweeplab: error")]
    assert proc.returncode == 2 and len(errors) == 1, lines
    assert not any("Traceback" in line for line in lines), lines
    assert "experiment 'lost-stores'" in errors[0] and "mlflow.db" in errors[0], errors
    journal = ws / "sweeps" / "lost" / "optuna.journal"
    assert [t.state.name for t in load_study(ws, "lost").trials] == ["COMPLETE", "COMPLETE"]
    assert journal.stat().st_size > 0
    shutil.copy(backup, db)
    assert len(child_runs(default_tracking_uri(ws), "lost")) == 2
