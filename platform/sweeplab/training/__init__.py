"""Training: the loop, optimizers, learning-rate schedules, early stopping, devices.

``fit(model, data, cfg, task=...)`` trains a model built by the caller (seed first with
:func:`seed_everything`) and reports the per-epoch metrics named in the design brief
(``train_loss``, ``train_loss_ewma``, ``train_error``, ``train_dev_error``, ``dev_error``,
``dev_loss``, ``lr``, ``epoch_time_s``).
"""

from sweeplab.training._config import TrainConfig
from sweeplab.training._device import resolve_device, seed_everything
from sweeplab.training._fit import (
    EVAL_SETS,
    DivergedError,
    EpochResult,
    FitResult,
    TrainData,
    fit,
)
from sweeplab.training._gradcheck import GradcheckResult, gradcheck
from sweeplab.training._optim import EWMAMomentum, learning_rate_at, make_optimizer
from sweeplab.training._predict import predict
from sweeplab.training._task import TASKS

__all__ = [
    "EVAL_SETS",
    "TASKS",
    "DivergedError",
    "EWMAMomentum",
    "EpochResult",
    "FitResult",
    "GradcheckResult",
    "TrainConfig",
    "TrainData",
    "fit",
    "gradcheck",
    "learning_rate_at",
    "make_optimizer",
    "predict",
    "resolve_device",
    "seed_everything",
]
