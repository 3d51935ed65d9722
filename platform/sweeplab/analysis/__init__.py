"""Pure analysis functions: diagnosis, error-analysis tables, label checks, trial selection.

Everything here takes numbers, labels and predictions and returns dataclasses or pandas
DataFrames; nothing trains, logs or reads files (:func:`read_review` parses the bytes of a
review CSV that the caller read, within its size limit).
"""

from sweeplab.analysis._boxes import (
    AnchorAssignment,
    Detections,
    MAPResult,
    assign_anchors,
    average_precision,
    box_iou,
    iou,
    mean_average_precision,
    mean_iou,
    non_max_suppression,
    to_corners,
)
from sweeplab.analysis._diagnosis import (
    GAP_LABELS,
    GAPS,
    LEVEL_LABELS,
    LEVELS,
    REMEDIES,
    Diagnosis,
    diagnose,
)
from sweeplab.analysis._error_table import ErrorTable, confusion, error_table, per_class_errors
from sweeplab.analysis._label_check import (
    LabelCheck,
    check_labels,
    check_labels_per_label,
    clopper_pearson,
)
from sweeplab.analysis._label_errors import multilabel_error_table, multilabel_table_from_rates
from sweeplab.analysis._labels import confident_thresholds, suspect_labels
from sweeplab.analysis._noise import (
    Interval,
    StopAdvice,
    difference_interval,
    distinguishable,
    gaps_within_noise,
    noise_note,
    stop_rule,
    wilson_interval,
)
from sweeplab.analysis._review import merge_review, read_review, review_template, safe_example_id
from sweeplab.analysis._selection import (
    Constraint,
    Goal,
    Objective,
    Selection,
    rank_trials,
    select_best,
    violation,
)
from sweeplab.analysis._spreadsheet import (
    csv_rows,
    neutralise_cell,
    restore_cell,
    restore_frame,
    spreadsheet_csv,
)
from sweeplab.analysis._sweep_errors import SweepErrors, sweep_errors
from sweeplab.analysis._tags import bucketize, class_tags, image_quality, quality_tags
from sweeplab.analysis._vision_errors import (
    LOCALIZATION_OUTCOMES,
    SIZE_BUCKETS,
    detection_error_table,
    landmark_distance_table,
    localization_error_table,
    localization_outcomes,
    segmentation_iou_table,
    size_bucket,
    verification_confusion,
)

__all__ = [
    "Interval",
    "StopAdvice",
    "difference_interval",
    "distinguishable",
    "gaps_within_noise",
    "noise_note",
    "stop_rule",
    "wilson_interval",
    "csv_rows",
    "neutralise_cell",
    "restore_cell",
    "restore_frame",
    "spreadsheet_csv",
    "LOCALIZATION_OUTCOMES",
    "SIZE_BUCKETS",
    "detection_error_table",
    "landmark_distance_table",
    "localization_error_table",
    "localization_outcomes",
    "segmentation_iou_table",
    "size_bucket",
    "verification_confusion",
    "AnchorAssignment",
    "Detections",
    "MAPResult",
    "assign_anchors",
    "average_precision",
    "box_iou",
    "iou",
    "mean_average_precision",
    "mean_iou",
    "non_max_suppression",
    "to_corners",
    "GAPS",
    "GAP_LABELS",
    "LEVELS",
    "LEVEL_LABELS",
    "REMEDIES",
    "Constraint",
    "Diagnosis",
    "ErrorTable",
    "Goal",
    "Objective",
    "Selection",
    "LabelCheck",
    "SweepErrors",
    "bucketize",
    "check_labels",
    "check_labels_per_label",
    "clopper_pearson",
    "sweep_errors",
    "class_tags",
    "confident_thresholds",
    "confusion",
    "diagnose",
    "error_table",
    "image_quality",
    "merge_review",
    "multilabel_error_table",
    "multilabel_table_from_rates",
    "per_class_errors",
    "quality_tags",
    "rank_trials",
    "read_review",
    "review_template",
    "safe_example_id",
    "select_best",
    "suspect_labels",
    "violation",
]
