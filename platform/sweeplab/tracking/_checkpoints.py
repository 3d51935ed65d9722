"""Checkpoints named by an MLflow run: ``train.init_from: RUN_ID | runs:/ID | best:PROJECT``.

The weights themselves are read by :func:`sweeplab.models.read_state_dict` (``torch.load``
with ``weights_only=True``); this module finds them in the tracking store.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import torch

from sweeplab.errors import UserError
from sweeplab.models import CHECKPOINT_ARTIFACT, LEGACY_CHECKPOINT_ARTIFACT, read_state_dict
from sweeplab.tracking._store import client_for, default_tracking_uri
from sweeplab.workspace import Workspace

__all__ = ["load_checkpoint", "run_weights"]

_RUN_ID = re.compile(r"^[0-9a-f]{32}$")


def _default_tracking_uri() -> str:
    return default_tracking_uri(Workspace.at(None).root)  # as `sweeplab sweep` without flags


def _best_run_id(client, project: str) -> str:
    exp = client.get_experiment_by_name(project)
    if exp is None:
        raise UserError(
            f"init_from best:{project}: there is no MLflow experiment named {project!r}; run "
            "its sweep first (with train.save_checkpoint: true)",
            key="train.init_from",
        )
    runs = client.search_runs(
        [exp.experiment_id],
        filter_string="tags.`sweeplab.kind` = 'sweep'",
        order_by=["attributes.start_time DESC"],
        max_results=50,
    )
    for run in runs:
        best = run.data.tags.get("sweeplab.best_run_id")
        if best:
            return best
    raise UserError(
        f"init_from best:{project}: no finished sweep of {project!r} has a best trial yet",
        key="train.init_from",
    )


def load_checkpoint(
    source: str, *, base_dir: str | Path = ".", tracking_uri: str | None = None
) -> dict[str, torch.Tensor]:
    """The state_dict ``source`` names, on the CPU.

    ``source``: a file path (relative to ``base_dir``); an MLflow run id or ``runs:/ID``
    (the run's artifact ``weights/state_dict.pt``); or ``best:PROJECT``, the best trial of
    that project's latest sweep. Runs are looked up at ``tracking_uri`` (default: the
    default workspace's store, as ``sweeplab sweep`` uses it).
    """
    source = source.strip()
    path = Path(source)
    if not path.is_absolute():
        path = Path(base_dir) / path
    if path.is_file():
        return read_state_dict(path, str(path))
    run_id = source.removeprefix("runs:/").split("/")[0]
    if not (source.startswith(("runs:/", "best:")) or _RUN_ID.match(run_id)):
        raise UserError(
            f"checkpoint {source!r} is neither a file ({path} does not exist) nor an MLflow "
            "run id (32 hex digits, or runs:/ID) nor best:PROJECT",
            key="train.init_from",
        )
    uri = tracking_uri or _default_tracking_uri()
    client = client_for(uri)
    if source.startswith("best:"):
        run_id = _best_run_id(client, source.removeprefix("best:"))
    try:
        client.get_run(run_id)
    except Exception:  # noqa: BLE001 - mlflow raises MlflowException for an unknown id
        raise UserError(
            f"init_from: no MLflow run {run_id!r} in the tracking store {uri}",
            key="train.init_from",
        ) from None
    state = run_weights(client, run_id)
    if state is None:
        raise UserError(
            f"MLflow run {run_id} has no artifact {CHECKPOINT_ARTIFACT}; train it with "
            "train.save_checkpoint: true (or pick a trial with a model: tracking.log_models)",
            key="train.init_from",
        )
    return state


def run_weights(client: Any, run_id: str) -> dict[str, torch.Tensor] | None:
    """The run's ``state_dict`` on the CPU (``weights/state_dict.pt``, or ``model/state_dict.pt``
    for runs of earlier versions), read with ``torch.load(weights_only=True)``; None when the
    run has none."""
    with tempfile.TemporaryDirectory() as tmp:
        for artifact in (CHECKPOINT_ARTIFACT, LEGACY_CHECKPOINT_ARTIFACT):
            try:
                local = client.download_artifacts(run_id, artifact, tmp)
            except Exception:  # noqa: BLE001 - a missing artifact: OSError or MlflowException
                continue
            return read_state_dict(Path(local), f"{artifact} of run {run_id}")
    return None
