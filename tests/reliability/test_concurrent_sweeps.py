"""Two `sweeplab sweep` processes at once on one fresh workspace (same project, different
names): both finish, neither store is corrupted, no "database is locked"."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from tests.reliability.reliability_helpers import (
    child_runs,
    digits_project,
    load_study,
    start_sweep,
)

from sweeplab.cli import main
from sweeplab.tracking import default_tracking_uri


@pytest.mark.slow
def test_two_sweeps_at_once_on_one_workspace(tmp_path, capsys):
    ws = tmp_path / "ws"
    ws.mkdir()
    project = digits_project(tmp_path, epochs=2, trials=3)
    logs = {n: tmp_path / f"{n}.log" for n in ("left", "right")}
    procs = {n: start_sweep([str(project), "--name", n], ws, logs[n]) for n in logs}
    for n, proc in procs.items():
        assert proc.wait(timeout=300) == 0, logs[n].read_text()[-3000:]
    for n, log in logs.items():
        text = log.read_text().lower()
        assert "locked" not in text and "traceback" not in text, text[-2000:]
        study = load_study(ws, n)
        assert Counter(t.state.name for t in study.trials) == {"COMPLETE": 3}
        runs = child_runs(default_tracking_uri(ws), n)
        assert sorted(int(r.data.tags["sweeplab.trial_number"]) for r in runs) == [0, 1, 2]
        assert {r.info.status for r in runs} == {"FINISHED"}
        capsys.readouterr()
        assert main(["runs", n, "--json", "--workspace", str(ws)]) == 0
        assert len(json.loads(capsys.readouterr().out)["trials"]) == 3
    # one experiment for the project, two parent runs in it
    from mlflow import MlflowClient

    client = MlflowClient(default_tracking_uri(ws))
    exp = client.get_experiment_by_name("rel-digits")
    parents = client.search_runs(
        [exp.experiment_id], filter_string="tags.`sweeplab.kind` = 'sweep'"
    )
    assert sorted(r.data.tags["sweeplab.sweep"] for r in parents) == ["left", "right"]
