"""The vision tasks as sweep trials, end to end through the CLI: a real Optuna study, a real
MLflow SQLite store, two trials per task on tiny generated data (fixed seeds)."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import pytest

from sweeplab.cli import main

pytestmark = pytest.mark.slow


def _sweep(tmp_path: Path, project: str, space: str) -> tuple[object, object]:
    """Run a 2-trial sweep; return (MLflow runs frame of the trials, MlflowClient)."""
    import mlflow
    from mlflow import MlflowClient

    (tmp_path / "space.yaml").write_text(textwrap.dedent(space).lstrip())
    (tmp_path / "project.yaml").write_text(textwrap.dedent(project).lstrip())
    ws = tmp_path / "ws"
    args = ["sweep", str(tmp_path / "project.yaml"), "--name", "s", "--workspace", str(ws)]
    assert main([*args, "--trials", "2"]) == 0
    mlflow.set_tracking_uri(f"sqlite:///{ws / 'mlflow.db'}")
    runs = mlflow.search_runs(search_all_experiments=True, output_format="pandas")
    parents = runs[runs["tags.sweeplab.kind"] == "sweep"]
    trials = runs[runs["tags.sweeplab.kind"] == "trial"]
    assert len(parents) == 1 and len(trials) == 2
    assert set(trials["tags.mlflow.parentRunId"]) == {parents["run_id"].iloc[0]}
    assert set(trials["status"]) == {"FINISHED"}
    return trials, MlflowClient()


def _artifacts(client, run_id: str, folder: str) -> set[str]:
    return {a.path for a in client.list_artifacts(run_id, folder)}


def test_detection_sweep_learns_well_above_chance(tmp_path: Path) -> None:
    trials, client = _sweep(
        tmp_path,
        """
        name: det
        data:
          source: generated:shapes_detection
          generate: {n: 300, image_size: 32, max_objects: 2, seed: 0}
          splits: {train: 0.8, dev: 0.2}
        task: detection
        model: {name: grid_detector, filters: 8, stages: 3}
        task_args: {score_threshold: 0.05}
        train: {epochs: 8, batch_size: 32, optimizer: adam}
        search: {space: space.yaml, seed: 0}
        """,
        """
        parameters:
          learning_rate: {values: [0.003, 0.005]}
          lambda_coord: {distribution: log_uniform, min: 2.0, max: 8.0}
          nms_iou: {values: [0.4, 0.5]}
        """,
    )
    assert (
        trials["params.task.lambda_coord"].notna().all()
        and trials["params.task.nms_iou"].notna().all()
    )
    m = trials.set_index("run_id")
    for run_id, row in m.iterrows():
        assert row["metrics.dev_error"] == pytest.approx(1.0 - row["metrics.dev_map"], abs=1e-12)
        for c in ("rectangle", "ellipse", "triangle"):
            assert 0.0 <= row[f"metrics.dev_ap_{c}"] <= 1.0
        assert row["metrics.params_count"] > 0 and row["metrics.latency_ms"] > 0
        assert "metrics.test_error" not in m or row.isna()["metrics.test_error"]
        assert {"analysis/detection_errors.csv", "analysis/detection_errors.json"} <= _artifacts(
            client, run_id, "analysis"
        )
        history = client.get_metric_history(run_id, "dev_map")
        assert sorted(h.step for h in history)[:2] == [1, 2]  # per-epoch curves
    # Chance mAP of a detector that boxes at random is ~0; 0.2 is far above it.
    assert m["metrics.dev_map"].max() > 0.2, m["metrics.dev_map"].tolist()


def test_segmentation_sweep_learns_well_above_chance(tmp_path: Path) -> None:
    trials, client = _sweep(
        tmp_path,
        """
        name: seg
        data:
          source: generated:shapes_segmentation
          generate: {n: 160, image_size: 32, seed: 0}
          splits: {train: 0.75, dev: 0.25}
        task: segmentation
        model: {name: unet, filters: 8, depth: 2}
        train: {epochs: 6, batch_size: 16, optimizer: adam, learning_rate: 0.005}
        search: {space: space.yaml, seed: 0}
        """,
        """
        parameters:
          filters: {values: [8, 12]}
        """,
    )
    m = trials.set_index("run_id")
    for run_id, row in m.iterrows():
        assert row["metrics.dev_error"] == pytest.approx(1.0 - row["metrics.dev_mean_iou"])
        assert "analysis/segmentation_iou.csv" in _artifacts(client, run_id, "analysis")
        assert 0.0 <= row["metrics.dev_iou_background"] <= 1.0
    # Predicting one class everywhere scores ~ IoU(background)/4 <= 0.25; 1/K + 0.2 is far above.
    assert m["metrics.dev_mean_iou"].max() > 0.25 + 0.2, m["metrics.dev_mean_iou"].tolist()


def test_verification_sweep_on_unseen_identities(tmp_path: Path) -> None:
    trials, client = _sweep(
        tmp_path,
        """
        name: ver
        data:
          source: generated:identities
          generate: {num_identities: 80, per_identity: 6, image_size: 16, seed: 0}
          splits: {train: 50, dev: 16, test: 14}
        task: verification
        model: {name: siamese_encoder, embedding_dim: 32, filters: 8, hidden: 32}
        train: {epochs: 6, batch_size: 32, optimizer: adam, learning_rate: 0.003}
        search: {space: space.yaml, seed: 0}
        """,
        """
        parameters:
          head: {values: [triplet, binary]}
          margin: {distribution: log_uniform, min: 0.1, max: 0.5, when: {head: triplet}}
        """,
    )
    m = trials.set_index("run_id")
    assert set(m["params.task.head"]) <= {"triplet", "binary"}
    for run_id, row in m.iterrows():
        acc = row["metrics.dev_verification_accuracy"]
        assert row["metrics.dev_error"] == pytest.approx(1.0 - acc)
        assert 0.0 <= row["metrics.one_shot_accuracy"] <= 1.0
        assert "analysis/verification_confusion.json" in _artifacts(client, run_id, "analysis")
    # Pairs are balanced: chance is 0.5. Dev identities were never seen in training.
    assert m["metrics.dev_verification_accuracy"].max() > 0.6


def test_style_transfer_sweep_lowers_the_cost_and_logs_the_image(tmp_path: Path) -> None:
    from PIL import Image

    trials, client = _sweep(
        tmp_path,
        """
        name: style
        data:
          source: generated:shapes
          generate: {n: 120, image_size: 24, seed: 0}
          splits: {train: 0.8, dev: 0.2}
          style_images: {content: skimage:astronaut, style: generated:stripes, size: 24}
        task: style_transfer
        model: {name: feature_net, filters: 8}
        task_args: {steps: 60, learning_rate: 0.05}
        train: {epochs: 3, batch_size: 32, learning_rate: 0.003}
        metrics: {optimize: cost_ratio}
        search: {space: space.yaml, seed: 0}
        """,
        """
        parameters:
          beta: {distribution: log_uniform, min: 300.0, max: 3000.0}
          content_layer: {values: [conv1, conv2]}
        """,
    )
    m = trials.set_index("run_id")
    for run_id, row in m.iterrows():
        j0, j1 = row["metrics.initial_cost"], row["metrics.total_cost"]
        assert row["metrics.cost_ratio"] == pytest.approx(j1 / j0)
        assert j1 < j0 / 10  # a large factor
        assert {"style/generated.png", "style/content.png", "style/style.png"} <= _artifacts(
            client, run_id, "style"
        )
        local = client.download_artifacts(run_id, "style/generated.png", str(tmp_path / run_id))
        data = Path(local).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        with Image.open(io.BytesIO(data)) as im:
            assert im.size == (24, 24) and im.mode == "RGB"


def test_localization_sweep_beats_the_majority_answer(tmp_path: Path) -> None:
    import numpy as np

    from sweeplab.data._task_data import GENERATED

    trials, client = _sweep(
        tmp_path,
        """
        name: loc
        data:
          source: generated:shapes_localization
          generate: {n: 400, image_size: 16, min_size: 0.3, max_size: 0.6, seed: 0}
          splits: {train: 0.75, dev: 0.25}
        task: localization
        model: {name: localizer, filters: 8, stages: 2}
        train: {epochs: 10, batch_size: 16, optimizer: adam, learning_rate: 0.003}
        search: {space: space.yaml, seed: 0}
        """,
        """
        parameters:
          lambda_box: {distribution: log_uniform, min: 2.0, max: 8.0}
        """,
    )
    assert trials["params.task.lambda_box"].notna().all()
    m = trials.set_index("run_id")
    for run_id, row in m.iterrows():
        # dev_error counts presence errors and wrong classes / bad boxes of found objects
        assert row["metrics.dev_presence_error"] <= row["metrics.dev_error"] <= 1.0
        assert 0.0 <= row["metrics.dev_box_iou"] <= 1.0
        assert {"analysis/localization_errors.csv", "analysis/localization_errors.json"} <= (
            _artifacts(client, run_id, "analysis")
        )
    # Always answering the most common outcome (no object, or one class with its mean box at
    # best) errs on every other image: about half of them.
    full = GENERATED["shapes_localization"].make(
        n=400, image_size=16, min_size=0.3, max_size=0.6, seed=0
    )
    groups = np.array([int(c[0]) + 1 if len(c) else 0 for c in full.classes])
    majority_error = 1.0 - np.bincount(groups).max() / len(groups)
    assert majority_error > 0.4
    assert m["metrics.dev_error"].min() < 0.5 * majority_error, m["metrics.dev_error"].tolist()


def test_landmark_sweep_beats_the_mean_positions(tmp_path: Path) -> None:
    from sweeplab.data._generated import shapes_landmarks

    trials, client = _sweep(
        tmp_path,
        """
        name: lm
        data:
          source: generated:shapes_landmarks
          generate: {n: 300, image_size: 16, seed: 0}
          splits: {train: 0.75, dev: 0.25}
        task: landmarks
        model: {name: landmark_regressor, filters: 8, stages: 2}
        train: {epochs: 8, batch_size: 16, optimizer: adam, learning_rate: 0.005}
        search: {space: space.yaml, seed: 0}
        """,
        """
        parameters:
          hidden: {values: [32, 64]}
        """,
    )
    assert trials["params.model.hidden"].notna().all()
    m = trials.set_index("run_id")
    names = ("apex", "lower_left", "lower_right")
    for run_id, row in m.iterrows():
        # dev_error is the mean distance (relative to the image side), averaged over landmarks
        assert row["metrics.dev_error"] == pytest.approx(row["metrics.dev_landmark_distance"])
        per = [row[f"metrics.dev_distance_{n}"] for n in names]
        assert row["metrics.dev_error"] == pytest.approx(sum(per) / 3, rel=1e-5)
        assert "analysis/landmark_distances.csv" in _artifacts(client, run_id, "analysis")
    # Predicting every landmark's mean position (here the mean of the whole set: optimistic)
    points = shapes_landmarks(300, image_size=16, seed=0).points
    mean_guess = float((points - points.mean(0)).norm(dim=-1).mean())
    assert m["metrics.dev_error"].min() < 0.6 * mean_guess, (mean_guess, m["metrics.dev_error"])
