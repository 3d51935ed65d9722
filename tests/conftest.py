"""Shared fixtures: temp workspaces, small project files written on the fly."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]

# Tests never touch the user's default workspace, and never reach the network.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
os.environ.setdefault("MLFLOW_TRACKING_URI", "sqlite:///:memory:")  # never the cwd's ./mlruns
# CI runs `pytest -n 2` on 2 cores: one torch thread per worker (and per subprocess sweep the
# tests start) instead of 2 x 2 threads fighting over the cores. Results do not depend on it.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    ws = tmp_path / "ws"
    monkeypatch.setenv("SWEEPLAB_WORKSPACE", str(ws))
    return ws


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


@pytest.fixture
def tiny_project(tmp_path: Path) -> Path:
    """A digits MLP project with a small space: trials take a fraction of a second."""
    write(
        tmp_path / "space.yaml",
        """
        parameters:
          learning_rate: {distribution: log_uniform, min: 1.0e-3, max: 3.0e-2}
          optimizer: {values: [adam, momentum]}
          beta: {distribution: one_minus_log_uniform, min: 0.8, max: 0.99, when: {optimizer: momentum}}
          hidden_units: {values: [16, 32]}
        """,
    )
    return write(
        tmp_path / "project.yaml",
        """
        name: tiny-digits
        data:
          source: sklearn:digits
          splits: {train: 0.7, train_dev: 0.1, dev: 0.2}
          seed: 0
        model: {name: mlp, num_layers: 1}
        train: {epochs: 3, batch_size: 128, optimizer: adam}
        human_level_error: 0.01
        search: {space: space.yaml, sampler: random, trials: 3, seed: 0}
        """,
    )


def sweep_into(root: Path, *, project: str, space: str, name: str) -> Path:
    """Write ``project.yaml`` + ``space.yaml`` into ``root``, run a real sweep named ``name``
    in the workspace ``root/ws`` and return the workspace (for module-scoped fixtures)."""
    from sweeplab.cli import main

    (root / "space.yaml").write_text(space)
    (root / "project.yaml").write_text(project)
    ws = root / "ws"
    assert main(["sweep", str(root / "project.yaml"), "--name", name, "--workspace", str(ws)]) == 0
    return ws


@pytest.fixture(scope="session")
def postgres():
    """A throwaway PostgreSQL cluster on 127.0.0.1 for the whole session (tests/postgres_cluster.py).

    Where PostgreSQL or its Python driver is missing the tests that need it are skipped with
    the command that installs them — except under CI (``CI`` set), where ``.ci/run``
    installs both and a missing one is a failure."""
    from tests.postgres_cluster import PostgresCluster, find_pg_bin

    missing = []
    bin_dir = find_pg_bin()
    if bin_dir is None:
        missing.append("PostgreSQL (sudo apt-get install -y postgresql)")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        missing.append("its Python driver (.venv/bin/pip install -e '.[postgres]')")
    if missing:
        message = "needs " + " and ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    cluster = PostgresCluster(bin_dir)
    cluster.start()
    yield cluster
    cluster.stop()
