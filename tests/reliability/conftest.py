"""Fixtures for the reliability tests: a real MLflow server on 127.0.0.1."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from tests.reliability.reliability_helpers import MlflowServer


@pytest.fixture
def mlflow_server(request: pytest.FixtureRequest, tmp_path: Path):
    """A real ``mlflow server``; its store is SQLite, or PostgreSQL with
    ``@pytest.mark.parametrize("mlflow_server", ["postgresql"], indirect=True)``."""
    store = None
    if getattr(request, "param", "sqlite") == "postgresql":
        store = request.getfixturevalue("postgres").create_database(
            f"server_{uuid.uuid4().hex[:12]}"
        )
    server = MlflowServer(tmp_path / "server", backend_store_uri=store)
    server.start()
    yield server
    server.stop()
