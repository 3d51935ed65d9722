"""What a run trained and was judged on, as MLflow dataset inputs (the UI's Dataset column).

Each split of the sweep's split manifest is one dataset input: its name (``digits-train``),
a digest made of the manifest's data fingerprint and a hash of the split's indices (so it
changes when the data or the split changes), its source (the project's ``data.source``, as
an :class:`mlflow.data.code_dataset_source.CodeDatasetSource`: the examples come from a
loader, a generator or the user's file, never from the store) and its context, the split
name (the input tag ``mlflow.data.context``). Only this metadata is stored, never the data:
:class:`mlflow.data.meta_dataset.MetaDataset`. A run records them in one ``log_inputs``
call.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["CONTEXT_TAG", "log_datasets", "split_datasets", "split_digest"]

CONTEXT_TAG = "mlflow.data.context"  # mlflow.utils.mlflow_tags.MLFLOW_DATASET_CONTEXT

_log = logging.getLogger(__name__)


def split_digest(fingerprint: str, indices: np.ndarray) -> str:
    """``<data fingerprint[:8]>-<sha256 of the split's sorted indices[:8]>`` (MLflow stores
    at most 36 characters)."""
    idx = np.sort(np.asarray(indices, dtype="<i8"))
    return f"{fingerprint[:8]}-{hashlib.sha256(idx.tobytes()).hexdigest()[:8]}"


def split_datasets(manifest: Any, source: str) -> list[Any]:
    """One :class:`mlflow.entities.DatasetInput` per split of ``manifest`` (a
    :class:`sweeplab.data.SplitManifest`), in the manifest's order."""
    from mlflow.data.code_dataset_source import CodeDatasetSource
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.entities import Dataset, DatasetInput, InputTag

    inputs = []
    for split, indices in manifest.splits.items():
        meta = MetaDataset(
            CodeDatasetSource({"source": source, "dataset": manifest.dataset, "split": split}),
            name=f"{manifest.dataset}-{split}",
            digest=split_digest(manifest.fingerprint, indices),
        )
        entity = Dataset(**meta.to_dict(), profile=json.dumps({"num_rows": len(indices)}))
        inputs.append(DatasetInput(entity, tags=[InputTag(CONTEXT_TAG, split)]))
    return inputs


def log_datasets(client: Any, run_id: str | None, inputs: Sequence[Any]) -> bool:
    """Record ``inputs`` on the run in one call; False (and a warning) when the store did not
    take them: the dataset column is a convenience that must not cost a trial its record."""
    if not inputs or run_id is None:
        return False
    try:
        client.log_inputs(run_id, datasets=list(inputs))
    except Exception as exc:  # noqa: BLE001 - the store went away; the run's records go on
        _log.warning("sweeplab: dataset inputs not logged to run %s: %s", run_id, exc)
        return False
    return True
