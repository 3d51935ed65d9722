"""kill -9 a sweep at random moments (fixed seed), resume it each time: nothing finished is
lost or doubled, nothing is left RUNNING, and the sweep ends with the trials it was asked for:
the configurations the same sweep runs without a kill."""

from __future__ import annotations

import json
import random
import signal
import time
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
from sweeplab.tuning._optuna import interrupted_trials

TRIALS = 6


def _kill_at(proc, *, after_s: float, when=None) -> None:
    deadline = time.monotonic() + 180
    if when is not None:
        while not when() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
    time.sleep(after_s)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)


def _phase(ws, name: str) -> str:
    """Where the kill landed, read back from what the stores hold."""
    d = ws / "sweeps" / name
    if not (d / "sweep.json").exists():
        return "setup (loading data / creating the parent run)"
    study = load_study(ws, name)
    if study is None or not study.trials:
        return "before the first trial"
    if any(t.state.name == "RUNNING" for t in study.trials):
        return "during a trial"
    return "between trials"


def _config(run) -> tuple:
    return run.data.params["train.learning_rate"], run.data.params["model.hidden_units"]


def _snapshot(ws, name: str) -> dict[int, float]:
    study = load_study(ws, name)
    return {t.number: t.value for t in study.trials if t.state.name == "COMPLETE"} if study else {}


@pytest.mark.slow
def test_kill_9_at_random_moments_then_resume_keeps_every_finished_trial_once(tmp_path):
    rng = random.Random(20261126)
    ws = tmp_path / "ws"
    ws.mkdir()
    project = digits_project(tmp_path, epochs=3, trials=TRIALS)
    log = tmp_path / "sweep.log"
    name = "killed"
    sweep_dir = ws / "sweeps" / name
    kept: dict[int, float] = {}
    phases = []

    # 1. during data loading: the sweep folder exists, the sweep is not recorded yet
    proc = start_sweep([str(project), "--name", name], ws, log)
    _kill_at(proc, after_s=0.0, when=lambda: sweep_dir.is_dir())
    phases.append(_phase(ws, name))

    # 2..5. resume, wait until this process has written to the study (a trial began), then
    # kill after a random delay: inside a trial, between trials, at the end of one
    journal = sweep_dir / "optuna.journal"

    def grew(size0: int):
        return lambda: journal.exists() and journal.stat().st_size > size0

    for _ in range(4):
        size0 = journal.stat().st_size if journal.exists() else 0
        proc = start_sweep([str(project), "--resume", "--name", name], ws, log)
        _kill_at(proc, after_s=rng.uniform(0.0, 2.5), when=grew(size0))
        phases.append(_phase(ws, name))
        now = _snapshot(ws, name)
        assert {k: v for k, v in now.items() if k in kept} == kept, (
            "a finished trial changed or vanished"
        )
        kept = now

    # the last resume runs to the end
    proc = start_sweep([str(project), "--resume", "--name", name], ws, log)
    assert proc.wait(timeout=300) == 0, log.read_text()[-3000:]
    # the same sweep without a kill (in this process), for the configurations it runs
    assert main(["sweep", str(project), "--name", "reference", "-w", str(ws)]) == 0

    study = load_study(ws, name)
    states = Counter(t.state.name for t in study.trials)
    assert states["RUNNING"] == 0 and states["WAITING"] == 0
    complete = {t.number: t.value for t in study.trials if t.state.name == "COMPLETE"}
    assert len(complete) == TRIALS
    assert {k: complete.get(k) for k in kept} == kept, (
        "trials finished before a kill were re-run or lost"
    )
    interrupted = interrupted_trials(study)
    failed = {t.number for t in study.trials if t.state.name == "FAIL"}
    assert failed == interrupted  # only interrupted trials failed, and all of them did

    runs = child_runs(default_tracking_uri(ws), name)
    statuses = Counter(r.info.status for r in runs)
    assert statuses["RUNNING"] == 0 and statuses["SCHEDULED"] == 0
    finished = Counter(
        int(r.data.tags["sweeplab.trial_number"]) for r in runs if r.info.status == "FINISHED"
    )
    assert set(finished.values()) == {1}, f"a trial has several FINISHED runs: {finished}"
    assert set(finished) == set(complete), "Optuna and MLflow disagree on the finished trials"
    configs = [_config(r) for r in runs if r.info.status == "FINISHED"]
    reference = [
        _config(r)
        for r in child_runs(default_tracking_uri(ws), "reference")
        if r.info.status == "FINISHED"
    ]
    assert len(set(configs)) == TRIALS, f"a configuration ran twice: {configs}"
    assert sorted(configs) == sorted(reference), "the kills changed the configurations run"
    for number in interrupted:  # its run (if the kill came after it was created) was killed
        assert {
            r.info.status for r in runs if int(r.data.tags["sweeplab.trial_number"]) == number
        } <= {"KILLED"}

    info = json.loads((sweep_dir / "sweep.json").read_text())
    from mlflow import MlflowClient

    parent = MlflowClient(default_tracking_uri(ws)).get_run(info["parent_run_id"])
    assert parent.info.status == "FINISHED"
    assert info["status"] == "finished"
    figures = {"kill_points": phases, "trials_lost": 0, "interrupted_reruns": len(interrupted)}
    (tmp_path / "kill-figures.json").write_text(json.dumps(figures))
    print(figures)
