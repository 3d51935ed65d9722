"""Training: the loop, optimizers, learning-rate schedules, early stopping, devices.

``fit(model, data, cfg, task=...)`` (``binary``, ``multiclass`` or ``multilabel``) trains a
model built by the caller (seed first with :func:`seed_everything`) and reports the
per-epoch metrics named in the design brief (``train_loss``, ``train_loss_ewma``,
``train_error``, ``train_dev_error``, ``dev_error``, ``dev_loss``, ``lr``, ``epoch_time_s``;
multi-label adds ``<set>_error_<label>``).
"""

from sweeplab.config.train import TrainConfig
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
from sweeplab.training._predict import evaluate_labels, predict
from sweeplab.training._style import (
    FeatureNet,
    StyleArgs,
    StyleResult,
    content_cost,
    gram_matrix,
    layer_style_cost,
    style_cost,
    style_transfer,
    train_feature_net,
)
from sweeplab.training._task import (
    TASKS,
    UNLABELED,
    label_errors,
    masked_bce_loss,
    multilabel_error,
)
from sweeplab.training._tasks import (
    DetectionArgs,
    SiameseArgs,
    TaskResult,
    VerificationReport,
    choose_threshold,
    detection_map,
    evaluate_verification,
    landmark_loss,
    localization_loss,
    mine_triplets,
    one_shot_recognition,
    pair_loss,
    segmentation_iou,
    train_detector,
    train_landmarks,
    train_localizer,
    train_segmenter,
    train_siamese,
    triplet_loss,
    yolo_loss,
)

__all__ = [
    "DetectionArgs",
    "FeatureNet",
    "SiameseArgs",
    "StyleArgs",
    "StyleResult",
    "TaskResult",
    "VerificationReport",
    "choose_threshold",
    "content_cost",
    "detection_map",
    "evaluate_verification",
    "gram_matrix",
    "landmark_loss",
    "layer_style_cost",
    "localization_loss",
    "mine_triplets",
    "one_shot_recognition",
    "pair_loss",
    "segmentation_iou",
    "style_cost",
    "style_transfer",
    "train_detector",
    "train_feature_net",
    "train_landmarks",
    "train_localizer",
    "train_segmenter",
    "train_siamese",
    "triplet_loss",
    "yolo_loss",
    "EVAL_SETS",
    "TASKS",
    "UNLABELED",
    "evaluate_labels",
    "label_errors",
    "masked_bce_loss",
    "multilabel_error",
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
