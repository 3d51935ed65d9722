"""Fixtures for the reliability tests: a real MLflow server on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.reliability.reliability_helpers import MlflowServer


@pytest.fixture
def mlflow_server(tmp_path: Path):
    server = MlflowServer(tmp_path / "server")
    server.start()
    yield server
    server.stop()
