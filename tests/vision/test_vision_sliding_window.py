"""The sliding-window detection task: training crops, the map's cells as boxes, the
detections of one convolutional pass against cropping and classifying each detected window,
and a short sweep end to end (real Optuna, real MLflow SQLite store, generated shapes)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from sweeplab.analysis import box_iou
from sweeplab.cli import main
from sweeplab.data import shapes_detection
from sweeplab.models import build_model
from sweeplab.training import SlidingWindowArgs, window_detect
from sweeplab.training._tasks._windows import window_crops, window_detections


def _scenes(n: int = 12, seed: int = 0):
    return shapes_detection(
        n, image_size=32, min_objects=1, max_objects=2, min_size=0.32, max_size=0.4, seed=seed
    )


def test_training_crops_are_labelled_objects_and_background() -> None:
    data = _scenes()
    args = SlidingWindowArgs(jitter=2, negatives_per_image=3)
    crops = window_crops(data, args, seed=0)
    objects = sum(len(c) for c in data.classes)
    assert crops.images.shape[1:] == (3, 14, 14)
    labels = crops.labels.numpy()
    # Each object gives its centred crop and `jitter` shifted ones, labelled with its class.
    want = np.bincount(np.concatenate(data.classes), minlength=3) * (1 + args.jitter)
    assert np.array_equal(np.bincount(labels, minlength=4)[:3], want)
    assert (labels == 3).sum() <= 3 * len(data) and (labels == 3).sum() > 0
    assert len(labels) == objects * 3 + (labels == 3).sum()


def test_map_cells_become_window_boxes_and_nms_keeps_one() -> None:
    # (1, K + 1 = 4, 3, 3) logits: class 1 wins at cell (1, 2) and, less sure, at its
    # neighbour (1, 1); "no object" wins everywhere else.
    logits = torch.zeros(1, 4, 3, 3)
    logits[0, 3] = 5.0
    logits[0, 3, 1, 2] = logits[0, 3, 1, 1] = -5.0
    logits[0, 1, 1, 2], logits[0, 1, 1, 1] = 6.0, 4.0
    (det,) = window_detections(
        logits, window=14, stride=2, image_hw=(18, 18), score_threshold=0.5, nms_iou=0.3
    )
    # The window at pixel (row 2, col 4): centre ((4 + 7) / 18, (2 + 7) / 18), side 14 / 18.
    np.testing.assert_allclose(det.boxes, [[11 / 18, 9 / 18, 14 / 18, 14 / 18]])
    assert det.classes.tolist() == [1]
    assert det.scores[0] == pytest.approx(torch.softmax(logits[0, :, 1, 2], 0)[1].item())
    # With NMS off (IoU 1), the neighbour 2 px to the left is a second box of that class.
    (both,) = window_detections(
        logits, window=14, stride=2, image_hw=(18, 18), score_threshold=0.5, nms_iou=1.0
    )
    assert len(both.boxes) == 2 and box_iou(both.boxes[:1], both.boxes[1:])[0, 0] > 0.3


def test_one_pass_detections_equal_classifying_each_detected_window() -> None:
    data = _scenes(n=4, seed=3)
    torch.manual_seed(0)
    model = build_model(
        "window_classifier", {"hidden": 16}, input_shape=(3, 14, 14), num_outputs=4
    ).eval()
    args = SlidingWindowArgs(score_threshold=0.0, nms_iou=1.0)  # every window of the map
    preds, truth = window_detect(model, data, args=args)
    assert [len(t.boxes) for t in truth] == [len(b) for b in data.boxes]
    for image, det in zip(data.images, preds, strict=True):
        assert len(det.boxes) == 10 * 10  # (32 − 14) / 2 + 1 windows a side
        corners = np.rint((det.boxes[:, :2] - det.boxes[:, 2:][:, ::-1] / 2) * 32).astype(int)
        crops = torch.stack([image[:, y : y + 14, x : x + 14] for x, y in corners])
        with torch.no_grad():
            probs = torch.softmax(model(crops), dim=1)[:, :3]
        np.testing.assert_allclose(det.scores, probs.max(1).values.numpy(), rtol=1e-4, atol=1e-6)
        assert np.array_equal(det.classes, probs.argmax(1).numpy())


@pytest.mark.slow
def test_sliding_window_sweep_end_to_end(tmp_path: Path) -> None:
    import mlflow
    from mlflow import MlflowClient

    (tmp_path / "space.yaml").write_text("parameters:\n  nms_iou: {values: [0.2, 0.3]}\n")
    (tmp_path / "project.yaml").write_text(
        textwrap.dedent(
            """
            name: win
            data:
              source: generated:shapes_detection
              generate: {n: 120, image_size: 32, max_objects: 2, min_size: 0.32, max_size: 0.4, seed: 0}
              splits: {train: 0.75, dev: 0.25}
            task: sliding_window
            model: {name: window_classifier, hidden: 32}
            train: {epochs: 4, batch_size: 64, optimizer: adam, learning_rate: 0.005}
            search: {space: space.yaml, seed: 0}
            """
        )
    )
    ws = tmp_path / "ws"
    args = ["sweep", str(tmp_path / "project.yaml"), "--name", "s", "--workspace", str(ws)]
    assert main([*args, "--trials", "2"]) == 0
    client = MlflowClient(f"sqlite:///{ws / 'mlflow.db'}")
    mlflow.set_tracking_uri(f"sqlite:///{ws / 'mlflow.db'}")
    runs = mlflow.search_runs(search_all_experiments=True, output_format="pandas")
    trials = runs[runs["tags.sweeplab.kind"] == "trial"]
    assert len(trials) == 2 and set(trials["status"]) == {"FINISHED"}
    for _, row in trials.iterrows():
        assert row["metrics.dev_error"] == pytest.approx(1.0 - row["metrics.dev_map"], abs=1e-12)
        assert 0.0 <= row["metrics.dev_window_error"] <= 1.0
        for c in ("rectangle", "ellipse", "triangle"):
            assert 0.0 <= row[f"metrics.dev_ap_{c}"] <= 1.0
        arts = {a.path for a in client.list_artifacts(row["run_id"], "analysis")}
        assert "analysis/sliding_window_errors.json" in arts
        assert len(client.get_metric_history(row["run_id"], "dev_map")) == 4
    # Boxes placed at random score an mAP near 0; a trained window classifier far above it.
    assert trials["metrics.dev_map"].max() > 0.3, trials["metrics.dev_map"].tolist()
