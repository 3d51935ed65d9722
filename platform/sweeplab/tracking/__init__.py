"""MLflow tracking: an experiment per project, a parent run per sweep, a child run per trial."""

from sweeplab.tracking._checkpoints import load_checkpoint, run_weights
from sweeplab.tracking._datasets import log_datasets, split_datasets, split_digest
from sweeplab.tracking._models import MODEL_NAME, log_torch_model
from sweeplab.tracking._outbox import (
    RUN_KEY_TAG,
    Outbox,
    new_run_key,
    quiet_http_retries,
    sync_directory,
)
from sweeplab.tracking._query import (
    SweepRecord,
    load_sweep_table,
    objective_params,
    read_sweep,
    sweep_objective,
    sweep_trials,
)
from sweeplab.tracking._runs import (
    FIXED_TASK_PREFIX,
    GROUP_PREFIXES,
    TAG,
    SweepRun,
    TrialRun,
    flatten_params,
    split_params,
)
from sweeplab.tracking._status import TrialStatus
from sweeplab.tracking._store import (
    artifact_root,
    client_for,
    default_tracking_uri,
    get_or_create_experiment,
    is_local_uri,
)
from sweeplab.tracking._system import SystemMetrics
from sweeplab.tracking._trial_tracking import LOG_MODELS, TrialTracking

__all__ = [
    "LOG_MODELS",
    "MODEL_NAME",
    "SystemMetrics",
    "TrialTracking",
    "log_datasets",
    "log_torch_model",
    "split_datasets",
    "split_digest",
    "FIXED_TASK_PREFIX",
    "GROUP_PREFIXES",
    "load_sweep_table",
    "RUN_KEY_TAG",
    "TAG",
    "Outbox",
    "SweepRecord",
    "SweepRun",
    "TrialRun",
    "TrialStatus",
    "artifact_root",
    "client_for",
    "default_tracking_uri",
    "flatten_params",
    "get_or_create_experiment",
    "is_local_uri",
    "load_checkpoint",
    "run_weights",
    "new_run_key",
    "objective_params",
    "quiet_http_retries",
    "read_sweep",
    "sweep_objective",
    "split_params",
    "sweep_trials",
    "sync_directory",
]
