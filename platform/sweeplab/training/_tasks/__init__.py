"""Vision tasks beyond classification: losses and small training loops, one module per task.

``_losses`` (every loss), ``_loop`` (the shared epoch loop), ``_localization``, ``_detection``,
``_segmentation``, ``_verification``, ``_windows`` (sliding windows); the public names are re-exported here.

Losses (pure functions of tensors):

* :func:`localization_loss` -- classification with localization, the course's rule: when an
  object is present (``p_c = 1``) every term counts (object-ness, box, class); when not, only
  ``p_c``. Object-ness is a logistic loss, the box a squared error on ``σ(outputs)``, the class
  a cross-entropy (the course's "different sub-errors for each entry").
* :func:`landmark_loss` -- the same with ``L`` points ``(l_x, l_y)`` instead of a box.
* :func:`yolo_loss` -- the grid detector: object-ness for every anchor of every cell
  (weighted ``lambda_noobj`` where there is no object), and box and class terms only where
  :func:`~sweeplab.analysis.assign_anchors` put an object (weighted ``lambda_coord``).
* :func:`triplet_loss` -- ``max(‖f(A)−f(P)‖² − ‖f(A)−f(N)‖² + α, 0)``, averaged over triplets,
  on triplets from :func:`mine_triplets` (those that still violate the margin).
* :func:`pair_loss` -- the binary head: logistic loss on ``same identity``.

Training loops (``train_localizer``, ``train_landmarks``, ``train_detector``,
``train_segmenter``, ``train_siamese``, ``train_window_detector``) take a model built by the caller (seed first with
``seed_everything``), in-memory data and a :class:`~sweeplab.training.TrainConfig` (epochs,
batch size, optimizer, learning rate and its schedule, seed, device), call ``on_epoch`` with
an :class:`~sweeplab.training.EpochResult` after every epoch (a reporter may raise to prune)
and return a :class:`TaskResult`. Every epoch reports ``epoch``, ``lr``, ``train_loss``,
``train_error``, ``dev_error`` (when a dev set is given) and ``epoch_time_s``; ``dev_error``
is the task's error measure: 1 − mAP@0.5 (detection, sliding windows), 1 − mean IoU (segmentation),
1 − verification accuracy at the best dev threshold (verification), the localization error
(wrong presence, class or IoU < 0.5) and the mean landmark distance.
"""

from sweeplab.training._tasks._detection import DetectionArgs, detect, detection_map, train_detector
from sweeplab.training._tasks._localization import (
    localization_result,
    localize,
    predict_landmarks,
    train_landmarks,
    train_localizer,
)
from sweeplab.training._tasks._loop import TaskResult, check_task_config
from sweeplab.training._tasks._losses import (
    landmark_loss,
    localization_loss,
    mine_triplets,
    pair_loss,
    triplet_loss,
    yolo_loss,
)
from sweeplab.training._tasks._segmentation import (
    predict_masks,
    segmentation_iou,
    train_segmenter,
)
from sweeplab.training._tasks._verification import (
    SiameseArgs,
    VerificationReport,
    choose_threshold,
    dissimilarities,
    embed,
    evaluate_verification,
    one_shot_recognition,
    train_siamese,
    verification_pairs,
)
from sweeplab.training._tasks._windows import (
    SlidingWindowArgs,
    train_window_detector,
    window_crops,
    window_detect,
    window_detections,
)

__all__ = [
    "DetectionArgs",
    "SiameseArgs",
    "SlidingWindowArgs",
    "TaskResult",
    "VerificationReport",
    "check_task_config",
    "choose_threshold",
    "detect",
    "detection_map",
    "dissimilarities",
    "embed",
    "evaluate_verification",
    "landmark_loss",
    "localization_loss",
    "localization_result",
    "localize",
    "predict_landmarks",
    "mine_triplets",
    "one_shot_recognition",
    "pair_loss",
    "predict_masks",
    "segmentation_iou",
    "train_detector",
    "train_landmarks",
    "train_localizer",
    "train_segmenter",
    "train_siamese",
    "triplet_loss",
    "train_window_detector",
    "verification_pairs",
    "window_crops",
    "window_detect",
    "window_detections",
    "yolo_loss",
]
