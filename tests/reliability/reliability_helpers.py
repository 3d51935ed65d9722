"""Helpers for the reliability tests (imported by them and by conftest.py): the sweeplab command as a subprocess, a real MLflow
server, and readers for the two stores (the Optuna journal and MLflow)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.conftest import write

SWEEPLAB = [str(Path(sys.executable).parent / "sweeplab")]
MLFLOW = str(Path(sys.executable).parent / "mlflow")


def sweeplab_env(workspace: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "MLFLOW_TRACKING"))}
    env.update({"SWEEPLAB_WORKSPACE": str(workspace), "COLUMNS": "200", "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


def start_sweep(args: list[str], workspace: Path, log: Path, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [*SWEEPLAB, "sweep", *args],
        env=sweeplab_env(workspace, **env),
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        cwd=workspace.parent,
    )


def digits_project(
    tmp_path: Path, *, name: str = "rel-digits", epochs: int = 3, trials: int = 6
) -> Path:
    write(
        tmp_path / "space.yaml",
        """
        parameters:
          learning_rate: {distribution: log_uniform, min: 1.0e-3, max: 3.0e-2}
          hidden_units: {values: [16, 32]}
        """,
    )
    return write(
        tmp_path / f"{name}.yaml",
        f"""
        name: {name}
        data:
          source: sklearn:digits
          splits: {{train: 0.7, train_dev: 0.1, dev: 0.2}}
          seed: 0
        model: {{name: mlp, num_layers: 1}}
        train: {{epochs: {epochs}, batch_size: 128, optimizer: adam}}
        search: {{space: space.yaml, sampler: random, trials: {trials}, seed: 0}}
        """,
    )


def load_study(workspace: Path, name: str):
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    path = workspace / "sweeps" / name / "optuna.journal"
    if not path.exists():
        return None
    storage = JournalStorage(JournalFileBackend(str(path)))
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        return None


def child_runs(tracking_uri: str, sweep: str) -> list:
    """Every trial run of ``sweep`` in the store, whatever its status."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    out = []
    for exp in client.search_experiments():
        out += client.search_runs(
            [exp.experiment_id],
            filter_string=f"tags.`sweeplab.sweep` = '{sweep}' and tags.`sweeplab.kind` = 'trial'",
            max_results=5000,
        )
    return out


def sampled_configs(tracking_uri: str, sweep: str, *, killed: bool = False):
    """A Counter of the configurations (sampled params, as MLflow holds them) of the sweep's
    FINISHED trial runs; every other run must be FINISHED too — or, with ``killed``, may be
    KILLED (a trial a stopped process was running: its configuration ran again)."""
    from collections import Counter

    out = Counter()
    for run in child_runs(tracking_uri, sweep):
        if killed and run.info.status == "KILLED":
            continue
        assert run.info.status == "FINISHED", run.data.tags.get("sweeplab.failure")
        keys = run.data.tags["sweeplab.sampled"].split(",")
        out[tuple(sorted((k, run.data.params[k]) for k in keys))] += 1
    return out


def trial_run_states(db: Path, sweep: str | None = None) -> list[tuple[str, str, str]]:
    """(run id, MLflow status, ``sweeplab.status`` tag or "") of the trial runs in a SQLite
    store (of ``sweep``, else every sweep), by creation. Read with sqlite3, read-only: fast
    enough to poll while a sweep process writes the store; [] before its tables exist."""
    import sqlite3

    if not db.exists():
        return []
    query = (
        "select r.run_uuid, r.status, coalesce((select value from tags s where "
        "s.run_uuid = r.run_uuid and s.key = 'sweeplab.status'), '') from runs r "
        "join tags k on k.run_uuid = r.run_uuid and k.key = 'sweeplab.kind' and k.value = 'trial'"
    )
    args: tuple[str, ...] = ()
    if sweep is not None:
        query += (
            " join tags n on n.run_uuid = r.run_uuid and n.key = 'sweeplab.sweep' and n.value = ?"
        )
        args = (sweep,)
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as con:
            return con.execute(query + " order by r.start_time", args).fetchall()
    except sqlite3.OperationalError:  # the store's tables are being created
        return []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MlflowServer:
    """``mlflow server`` on 127.0.0.1 with a SQLite store in a temp folder (or the database
    ``backend_store_uri``, e.g. PostgreSQL); stop / start it."""

    def __init__(self, root: Path, *, backend_store_uri: str | None = None) -> None:
        self.root = root
        self.backend_store_uri = backend_store_uri or f"sqlite:///{root / 'server.db'}"
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log = root / "mlflow-server.log"

    def start(self, timeout: float = 90.0) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                MLFLOW,
                "server",
                "--backend-store-uri",
                self.backend_store_uri,
                "--artifacts-destination",
                str(self.root / "artifacts"),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                "1",
            ],
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            env={k: v for k, v in os.environ.items() if not k.startswith("PYTEST")},
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError("mlflow server did not start")

    def stop(self) -> None:
        """Kill the server's whole process group at once (as a crash or a pulled cable would)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        self.proc = None
