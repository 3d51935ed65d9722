"""``--jobs N``: N processes on this machine share one sweep — the trials it asks for, each
configuration of its sequence once (the same configurations as one process runs), every
trial a child run of the one parent run; a worker joins with ``--join``."""

from __future__ import annotations

import subprocess

from mlflow import MlflowClient
from tests.reliability.reliability_helpers import (
    SWEEPLAB,
    child_runs,
    digits_project,
    load_study,
    sampled_configs,
    sweeplab_env,
)
from tests.store_checks import assert_store_ok

TRIALS = 6


def _sweep(project, ws, name, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*SWEEPLAB, "sweep", str(project), "--name", name, *extra],
        env=sweeplab_env(ws),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_two_jobs_run_the_one_process_configurations_each_once(tmp_path):
    project = digits_project(tmp_path, trials=TRIALS, epochs=2)
    ws = tmp_path / "ws"
    one = _sweep(project, ws, "one")
    assert one.returncode == 0, one.stderr[-2000:]
    two = _sweep(project, ws, "two", "--jobs", "2")
    assert two.returncode == 0, two.stderr[-2000:]

    uri = f"sqlite:///{ws / 'mlflow.db'}"
    reference, jobs = sampled_configs(uri, "one"), sampled_configs(uri, "two")
    assert sum(jobs.values()) == TRIALS and set(jobs.values()) == {1}
    assert jobs == reference  # the same configurations, each once

    # both processes ran trials, all under the one parent run of the sweep
    study = load_study(ws, "two")
    assert len(study.trials) == TRIALS
    client = MlflowClient(uri)
    runs = child_runs(uri, "two")
    parents = {r.data.tags["mlflow.parentRunId"] for r in runs}
    assert len(parents) == 1
    parent = client.get_run(parents.pop())
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics["trials_finished"] == TRIALS
    assert (ws / "sweeps" / "two" / "worker-1.log").is_file()
    assert_store_ok(uri)


def _workers_alive(name: str) -> list[int]:
    """Pids of `sweeplab sweep … --name NAME --join` processes still running."""
    import os

    alive = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")  # noqa: SIM115
        except OSError:
            continue
        if b"--join" in argv and name.encode() in argv:
            alive.append(int(pid))
    return alive


def test_stopped_jobs_sweep_resumes_to_the_uninterrupted_configurations(tmp_path):
    """SIGTERM to the driver of a --jobs 2 sweep stops its worker too (its trial recorded
    killed); --resume ends with the configurations of an uninterrupted sweep, each once,
    and the store passes the records checks."""
    import signal
    import time

    project = digits_project(tmp_path, trials=TRIALS, epochs=4)
    ws = tmp_path / "ws"
    log = tmp_path / "sweep.log"
    proc = subprocess.Popen(
        [*SWEEPLAB, "sweep", str(project), "--name", "stopped", "--jobs", "2"],
        env=sweeplab_env(ws),
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        study = load_study(ws, "stopped")
        done = [t for t in study.trials if t.state.name == "COMPLETE"] if study else []
        if len(done) >= 2 and _workers_alive("stopped"):
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 143, log.read_text()[-3000:]
    time.sleep(1)
    assert _workers_alive("stopped") == []
    study = load_study(ws, "stopped")
    assert not [t for t in study.trials if t.state.name == "RUNNING"]

    resumed = _sweep(project, ws, "stopped", "--resume", "--jobs", "2")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    reference = _sweep(project, ws, "reference")
    assert reference.returncode == 0
    uri = f"sqlite:///{ws / 'mlflow.db'}"
    assert sampled_configs(uri, "stopped", killed=True) == sampled_configs(uri, "reference")
    assert_store_ok(uri)


def test_resume_without_a_name_finds_the_project_s_last_sweep_for_its_workers(
    tiny_project, tmp_path
):
    """`--resume --jobs N` without --name: the workers are started for the project's last
    sweep, not for a new default name."""
    from sweeplab.cli import main
    from sweeplab.tuning import SweepSettings
    from sweeplab.tuning._sweep import default_sweep_name

    ws = tmp_path / "ws"
    assert main(["sweep", str(tiny_project), "--name", "tiny-digits-a", "-w", str(ws)]) == 0
    settings = SweepSettings(project_path=tiny_project, workspace=ws, resume=True, jobs=2)
    assert default_sweep_name(settings) == "tiny-digits-a"
    new = default_sweep_name(SweepSettings(project_path=tiny_project, workspace=ws))
    assert new.startswith("tiny-digits-") and new != "tiny-digits-a"
