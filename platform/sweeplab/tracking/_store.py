"""Where runs are stored: the embedded default (SQLite in the workspace) or a server."""

from __future__ import annotations

import os
from pathlib import Path

from sweeplab.errors import UserError
from sweeplab.tracking._relocate import follow_workspace, workspace_of_store
from sweeplab.workspace import Workspace

__all__ = ["default_tracking_uri", "is_local_uri", "client_for", "get_or_create_experiment"]


def default_tracking_uri(workspace: Path) -> str:
    return Workspace(workspace.resolve()).tracking_uri


def artifact_root(workspace: Path) -> str:
    return (workspace / "mlartifacts").resolve().as_uri()


def is_local_uri(uri: str) -> bool:
    """True for stores only this machine can reach (SQLite files, plain folders)."""
    return uri.startswith(("sqlite:", "file:", "/", ".")) or "://" not in uri


def client_for(uri: str):
    """An MlflowClient for ``uri`` (imported lazily: mlflow takes a while to import)."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # MLflow 3 sends usage telemetry from a consumer thread; beside a training trial that is a
    # thread competing for the GIL (and a network attempt per sweep). Users can set it back.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    # With a tracking server MLflow prints "🏃 View run … / 🧪 View experiment" for every run
    # it ends: two lines per trial in the sweep's output. The sweep prints where to look.
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    import logging

    # MLflow announces its SQLite schema migrations at INFO; a sweep's output is ours.
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from mlflow import MlflowClient

    ws = workspace_of_store(uri)
    if ws is not None:  # a workspace that was moved or copied: its store follows it
        follow_workspace(ws)
    return MlflowClient(tracking_uri=uri)


def get_or_create_experiment(client, name: str, *, artifact_location: str | None) -> str:
    from mlflow.exceptions import MlflowException

    exp = client.get_experiment_by_name(name)
    if exp is not None:
        if exp.lifecycle_stage == "deleted":
            raise UserError(
                f"the MLflow experiment {name!r} was deleted; restore it in the MLflow UI or "
                "give the project another name"
            )
        return exp.experiment_id
    try:
        return client.create_experiment(name, artifact_location=artifact_location)
    except MlflowException:
        # Another process created it between our lookup and our create.
        exp = client.get_experiment_by_name(name)
        if exp is None:
            raise
        return exp.experiment_id
