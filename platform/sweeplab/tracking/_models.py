"""A trial's trained network as an MLflow model of the PyTorch flavour.

Two forms, each for its reader:

- ``weights/state_dict.pt`` (run artifact, :data:`sweeplab.models.CHECKPOINT_ARTIFACT`): the
  ``state_dict`` alone, read back by sweeplab with ``torch.load(weights_only=True)`` —
  tensors only, nothing executed — into a network built from the trial's logged parameters.
  Reports, reviews, evaluations and ``train.init_from`` read this one.
- the MLflow model ``model`` (:func:`log_torch_model`, ``mlflow.pytorch.log_model``): the
  pickled module with its input example and signature, in the experiment's Models tab, loaded
  by ``mlflow.pytorch.load_model(f"runs:/{run_id}/model")``. Unpickling runs code: load only
  models from a store you trust. It is pickled rather than exported (``pt2``): export took
  2.5 s per model against 0.15 s and fixes the batch size of the example.

``mlflow.pytorch.log_model`` resolves the store through MLflow's global tracking URI and
creates its LoggedModel in the active experiment; sweeplab passes the run, the experiment and
the store explicitly: the LoggedModel is created with ``MlflowClient.create_logged_model`` in
the run's experiment, and the global URI is set only for the call.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = ["MODEL_NAME", "log_torch_model", "model_signature"]

MODEL_NAME = "model"  # runs:/<run id>/model
#: pip requirements written into the model: given, so MLflow does not infer them (it would
#: load the model in a subprocess, seconds per model).
_REQUIREMENTS = ("torch", "sweeplab")


@contextlib.contextmanager
def _global_tracking_uri(uri: str) -> Iterator[None]:
    """MLflow's global URI set to ``uri`` for a call, then as it was: ``set_tracking_uri``
    also sets ``MLFLOW_TRACKING_URI``, which is what the process had, if anything."""
    import mlflow

    before = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(None)  # unsets the global and the variable
        if before is not None:
            os.environ["MLFLOW_TRACKING_URI"] = before


@contextlib.contextmanager
def _quiet(name: str) -> Iterator[None]:
    """MLflow warns at every pickled log_model; the README says it once."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def model_signature(model: Any, example: Any) -> tuple[np.ndarray | None, Any]:
    """(input example as numpy, signature) of ``model`` on ``example`` (a tensor of a few
    inputs); (None, None) when the network does not take it (a pair classifier)."""
    import torch
    from mlflow.models import infer_signature

    if example is None:
        return None, None
    x = example.detach().cpu()
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(x)
        if not isinstance(out, torch.Tensor):
            return None, None
        return x.numpy(), infer_signature(x.numpy(), out.detach().cpu().numpy())
    except Exception:  # noqa: BLE001 - a network of several inputs: no example, no signature
        return None, None
    finally:
        model.train(was_training)


def log_torch_model(client: Any, run_id: str, model: Any, example: Any, *, step: int = 0) -> str:
    """Log ``model`` (on the CPU) as the run's MLflow model :data:`MODEL_NAME`, with an input
    example and signature from ``example``; returns its model URI (``models:/m-…``). The run's
    params go with it, and its metrics at ``step`` (the last epoch: the final values) are the
    model's metrics in the Models tab."""
    import mlflow

    run = client.get_run(run_id)
    logged = client.create_logged_model(
        run.info.experiment_id,
        name=MODEL_NAME,
        source_run_id=run_id,
        params=dict(run.data.params),
        model_type="pytorch",
    )
    inputs, signature = model_signature(model, example)
    with _global_tracking_uri(client.tracking_uri), _quiet("mlflow.pytorch"):
        info = mlflow.pytorch.log_model(
            model.cpu().eval(),
            name=MODEL_NAME,
            input_example=inputs,
            signature=signature,
            pip_requirements=list(_REQUIREMENTS),
            serialization_format="pickle",
            model_id=logged.model_id,
            run_id=run_id,
            step=step,
        )
    return info.model_uri
