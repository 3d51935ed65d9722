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
    assert trials["params.lambda_coord"].notna().all() and trials["params.nms_iou"].notna().all()
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
    assert set(m["params.head"]) <= {"triplet", "binary"}
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
