"""Optuna studies on a shared PostgreSQL database with an MLflow server in front of another
PostgreSQL database: workers on two "machines" (two workspaces that share nothing but the two
servers) run one sweep — exactly its trials, each configuration once, the configurations one
process runs; a second driver is refused across machines; a machine that never saw a sweep
resumes it from the shared stores."""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter

import optuna
import pytest
from tests.reliability.reliability_helpers import (
    SWEEPLAB,
    MlflowServer,
    digits_project,
    sampled_configs,
    sweeplab_env,
)
from tests.store_checks import assert_store_ok

from sweeplab.tuning import load_sweep_study

TRIALS = 8


@pytest.fixture
def team(postgres, tmp_path):
    """(study storage URI, MLflow server) — both on the throwaway PostgreSQL cluster."""
    tag = tmp_path.name[-20:].lower().replace("-", "_")
    study_uri = postgres.create_database(f"optuna_{tag}")
    server = MlflowServer(
        tmp_path / "server", backend_store_uri=postgres.create_database(f"mlflow_{tag}")
    )
    server.start()
    yield study_uri, server
    server.stop()


def _run(project, ws, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*SWEEPLAB, "sweep", str(project), *args],
        env=sweeplab_env(ws),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _alone(project, tmp_path) -> Counter:
    """The configurations the same sweep runs in one process on the embedded stores."""
    done = _run(project, tmp_path / "alone", "--name", "alone")
    assert done.returncode == 0, done.stderr[-2000:]
    return sampled_configs(f"sqlite:///{tmp_path / 'alone' / 'mlflow.db'}", "alone")


def _start(project, ws, *args: str, log) -> subprocess.Popen:
    return subprocess.Popen(
        [*SWEEPLAB, "sweep", str(project), *args],
        env=sweeplab_env(ws),
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def _wait_for_study(uri: str, name: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            optuna.load_study(study_name=name, storage=uri)
            return
        except KeyError:
            time.sleep(0.3)
    raise AssertionError("the driver never created its study")


@pytest.mark.slow
def test_workers_on_two_machines_run_each_configuration_once(team, tmp_path):
    study_uri, server = team
    project = digits_project(tmp_path, trials=TRIALS, epochs=3)
    a, b = tmp_path / "machine-a", tmp_path / "machine-b"
    shared = ["--study-storage", study_uri, "--tracking-uri", server.uri]
    driver = _start(project, a, "--name", "team", *shared, log=tmp_path / "a.log")
    _wait_for_study(study_uri, "team")
    # a second driver of the running sweep, from the other machine, is refused at once. A is
    # frozen meanwhile (its lock held, as by a driver in a long trial): its 8 short trials
    # could otherwise all end before the second process has started.
    driver.send_signal(signal.SIGSTOP)
    try:
        second = _run(project, b, "--name", "team", "--resume", *shared)
    finally:
        driver.send_signal(signal.SIGCONT)
    assert second.returncode == 2, second.stdout + second.stderr
    assert "is running now (pid" in " ".join(second.stderr.split()), second.stderr
    worker = _start(project, b, "--name", "team", "--join", *shared, log=tmp_path / "b.log")
    assert driver.wait(timeout=600) == 0, (tmp_path / "a.log").read_text()[-3000:]
    assert worker.wait(timeout=600) == 0, (tmp_path / "b.log").read_text()[-3000:]

    study = optuna.load_study(study_name="team", storage=study_uri)
    assert len(study.trials) == TRIALS
    # reports and dashboards of either machine find the study where the sweep keeps it
    for machine in (a, b):
        assert len(load_sweep_study(machine, "team").trials) == TRIALS
    assert {t.state.name for t in study.trials} == {"COMPLETE"}
    got = sampled_configs(server.uri, "team")
    assert sum(got.values()) == TRIALS and set(got.values()) == {1}

    # the configurations one process runs on its own (same seed, the embedded stores)
    assert got == _alone(project, tmp_path)
    assert_store_ok(server.uri)


@pytest.mark.slow
def test_machine_that_never_saw_the_sweep_resumes_it_from_the_shared_stores(team, tmp_path):
    study_uri, server = team
    project = digits_project(tmp_path, trials=TRIALS, epochs=3)
    a, b = tmp_path / "machine-a", tmp_path / "machine-b"
    shared = ["--study-storage", study_uri, "--tracking-uri", server.uri]
    log = tmp_path / "a.log"
    driver = _start(project, a, "--name", "moved", *shared, log=log)
    _wait_for_study(study_uri, "moved")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # stop machine A after a first finished trial
        study = optuna.load_study(study_name="moved", storage=study_uri)
        if any(t.state.name == "COMPLETE" for t in study.trials):
            break
        time.sleep(0.2)
    driver.kill()  # a machine that goes away: no chance to record anything
    driver.wait()

    resumed = _run(project, b, "--name", "moved", "--resume", *shared)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    got = sampled_configs(server.uri, "moved", killed=True)
    assert got == _alone(project, tmp_path)
    assert_store_ok(server.uri)


def test_passwords_in_store_uris_never_reach_the_disk(postgres, tiny_project, tmp_path):
    """URIs with a password work; nothing in the workspace holds the password; a --resume
    that needs the URI again asks for it in one line (exit 2)."""
    from sweeplab.cli import main

    def with_password(uri: str) -> str:  # the cluster trusts 127.0.0.1: any password works
        return uri.replace("postgresql://sweeplab@", "postgresql://sweeplab:s3cret-pw@")

    tracking = with_password(postgres.create_database("pw_mlflow"))
    study = with_password(postgres.create_database("pw_optuna"))
    ws = tmp_path / "ws"
    args = ["sweep", str(tiny_project), "--name", "pw", "-w", str(ws)]
    assert main([*args, "--tracking-uri", tracking, "--study-storage", study]) == 0
    for path in ws.rglob("*"):
        if path.is_file():
            assert b"s3cret-pw" not in path.read_bytes(), path
    info = (ws / "sweeps" / "pw" / "sweep.json").read_text()
    assert "sweeplab:***@127.0.0.1" in info
    assert main([*args, "--resume"]) == 2  # the stored URIs have no password: asked again
    assert main([*args, "--resume", "--tracking-uri", tracking, "--study-storage", study]) == 0
