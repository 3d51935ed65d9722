"""Metric names in `metrics:` are checked against what the project's trials report: the
task's own metrics and the per-class / per-label ones named after the classes of its data."""

from __future__ import annotations

import pytest
from tests.conftest import write

from sweeplab.config.project import known_metrics
from sweeplab.data import load_checked_project
from sweeplab.errors import UserError

MULTILABEL = """
name: ml
data:
  source: generated:shapes_multilabel
  generate: {n: 50, image_size: 12}
  splits: {train: 0.6, train_dev: 0.1, dev: 0.3}
task: multilabel
model: {name: lenet5, padding: same, kernel_size: 3}
metrics:
  satisfy: [{constraint}]
"""
SEGMENTATION = """
name: seg
data:
  source: generated:shapes_segmentation
  splits: {train: 0.8, dev: 0.2}
task: segmentation
model: unet
metrics:
  optimize: {optimize}
  satisfy: [{constraint}]
"""


def _load(tmp_path, text: str, **fields: str):
    for k, v in fields.items():
        text = text.replace("{" + k + "}", v)
    return load_checked_project(write(tmp_path / "p.yaml", text))


def test_per_label_constraint_is_known_and_a_typo_gets_the_close_match(tmp_path) -> None:
    pf = _load(tmp_path, MULTILABEL, constraint='"dev_error_triangle <= 0.1"')
    assert pf.project.metrics.satisfy == ["dev_error_triangle <= 0.1"]
    assert {f"dev_error_{c}" for c in ("rectangle", "ellipse", "triangle")} <= set(
        known_metrics(pf.project)
    )
    with pytest.raises(UserError) as exc:
        _load(tmp_path, MULTILABEL, constraint='"dev_error_triangel <= 0.1"')
    assert "dev_error_triangle" in exc.value.suggestions
    assert exc.value.key == "metrics.satisfy.0" or "satisfy" in str(exc.value)


@pytest.mark.parametrize(
    ("optimize", "constraint", "ok"),
    [
        ("{name: dev_mean_iou, goal: maximize}", '"dev_iou_background >= 0.9"', True),
        ("{name: dev_iou_triangle, goal: maximize}", '"latency_ms <= 5"', True),
        ("dev_error", '"dev_ap_triangle >= 0.5"', False),  # a detection metric
        ("dev_map", '"latency_ms <= 5"', False),  # not reported by segmentation
        ("dev_error", '"dev_iou_hexagon >= 0.5"', False),  # no such class in the data
    ],
)
def test_segmentation_metrics_follow_task_and_classes(tmp_path, optimize, constraint, ok) -> None:
    if ok:
        _load(tmp_path, SEGMENTATION, optimize=optimize, constraint=constraint)
    else:
        with pytest.raises(UserError, match="unknown metric"):
            _load(tmp_path, SEGMENTATION, optimize=optimize, constraint=constraint)
