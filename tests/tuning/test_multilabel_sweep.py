"""A multi-label sweep end to end: real Optuna, a real MLflow SQLite store, generated data."""

from __future__ import annotations

import numpy as np
import pytest
from tests.conftest import sweep_into

pytestmark = pytest.mark.slow

LABELS = ("rectangle", "ellipse", "triangle")
SPACE = """
parameters:
  learning_rate: {distribution: log_uniform, min: 5.0e-3, max: 1.5e-2}
  conv2_filters: {values: [8, 12]}
"""
PROJECT = """
name: tiny-multilabel
data:
  source: generated:shapes_multilabel
  generate: {n: 600, image_size: 12, unlabeled: 0.2}
  splits: {train: 0.6, train_dev: 0.1, dev: 0.3}
  seed: 0
task: multilabel
model: {name: lenet5, padding: same, kernel_size: 3, pooling: max, conv1_filters: 6, fc1_units: 24, fc2_units: 16}
train: {epochs: 10, batch_size: 32, optimizer: adam, seed: 0}
human_level_error: 0.01
# seed 4: its two draws have conv2_filters 8, which clears the bar below in 10 epochs
# (conv2_filters 12 with a learning rate above 0.01 does not: dev error 0.27-0.29)
search: {space: space.yaml, sampler: random, trials: 2, seed: 4}
"""


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return sweep_into(
        tmp_path_factory.mktemp("multilabel"), project=PROJECT, space=SPACE, name="ml"
    )


def _children(ws):
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{ws / 'mlflow.db'}")
    runs = mlflow.search_runs(search_all_experiments=True, output_format="pandas")
    return runs[runs["tags.sweeplab.kind"] == "trial"]


def _majority_dev_error(ws) -> float:
    """Chance baseline: predict each label's majority value of train, on dev (mean over labels)."""
    from sweeplab.data import DataConfig, SplitManifest, load_dataset

    cfg = DataConfig(
        source="generated:shapes_multilabel",
        generate={"n": 600, "image_size": 12, "unlabeled": 0.2},
        splits={"train": 0.6, "train_dev": 0.1, "dev": 0.3},
    )
    ds = load_dataset(cfg, base_dir=".")
    m = SplitManifest.from_json(ws / "sweeps" / "ml" / "splits.json")
    m.verify(ds)
    majority = np.nanmean(ds.y[m.splits["train"]], axis=0) > 0.5
    dev = ds.y[m.splits["dev"]]
    return float(np.mean([np.mean(dev[~np.isnan(dev[:, j]), j] != majority[j]) for j in range(3)]))


def test_every_trial_logs_per_label_errors_and_beats_chance(ws) -> None:
    from mlflow import MlflowClient

    children = _children(ws)
    assert len(children) == 2 and set(children["status"]) == {"FINISHED"}
    for split in ("train", "train_dev", "dev"):
        per_label = children[[f"metrics.{split}_error_{name}" for name in LABELS]].astype(float)
        assert per_label.notna().all().all() and ((per_label >= 0) & (per_label <= 1)).all().all()
        # the task's error is the mean of the per-label errors
        np.testing.assert_allclose(
            per_label.mean(axis=1), children[f"metrics.{split}_error"].astype(float), rtol=1e-9
        )
    history = MlflowClient().get_metric_history(children["run_id"].iloc[0], "dev_error_triangle")
    assert sorted(m.step for m in history)[:3] == [1, 2, 3]  # every epoch, not just the end

    chance = _majority_dev_error(ws)
    assert chance > 0.3  # every label is present in some scenes, absent in others
    best = children["metrics.dev_error"].astype(float).min()
    assert best < chance - 0.1


def test_report_has_a_per_label_table_and_evaluate_logs_per_label_test_errors(ws, capsys) -> None:
    import json

    from mlflow import MlflowClient

    from sweeplab.cli import main
    from sweeplab.data import DataConfig, SplitManifest, load_dataset

    assert main(["report", "--workspace", str(ws)]) == 0
    (folder,) = list((ws / "reports").iterdir())
    summary = json.loads((folder / "report.json").read_text())
    run_id = summary["run_id"]
    client = MlflowClient(tracking_uri=f"sqlite:///{ws / 'mlflow.db'}")
    logged = client.get_run(run_id).data.metrics
    rows = summary["tables"]["multilabel-errors"]
    assert [r["label"] for r in rows] == list(LABELS)
    cfg = DataConfig(
        source="generated:shapes_multilabel",
        generate={"n": 600, "image_size": 12, "unlabeled": 0.2},
        splits={"train": 0.6, "train_dev": 0.1, "dev": 0.3},
    )
    dev = load_dataset(cfg, base_dir=".").y[
        SplitManifest.from_json(ws / "sweeps" / "ml" / "splits.json").splits["dev"]
    ]
    for j, r in enumerate(rows):  # counts from the data, errors from the logged rates
        assert r["labeled"] == int((~np.isnan(dev[:, j])).sum())
        assert r["labeled"] + r["unlabeled"] == len(dev)
        assert r["positives"] == int((dev[:, j] == 1).sum())
        assert r["errors"] / r["labeled"] == pytest.approx(logged[f"dev_error_{r['label']}"])
        assert r["train_dev_error"] == pytest.approx(logged[f"train_dev_error_{r['label']}"])
    assert sum(r["ceiling"] for r in rows) == pytest.approx(logged["dev_error"])
    assert summary["diagnosis"]["ladder"]["train_dev"] == pytest.approx(logged["train_dev_error"])

    # probable label errors, one check per label, from out-of-sample probabilities cached in
    # the trial's run (the rules of a suspect: tests/analysis/test_label_check.py)
    checks = summary["tables"]["multilabel-label-errors"]
    assert [r["label"] for r in checks] == list(LABELS)
    artifacts = [a.path for a in client.list_artifacts(run_id, "labels")]
    assert artifacts == ["labels/out_of_sample.npz"]
    ds = load_dataset(cfg, base_dir=".")
    dev_ids = {
        str(ds.ids[i])
        for i in SplitManifest.from_json(ws / "sweeps" / "ml" / "splits.json").splits["dev"]
    }
    for r, table_row in zip(checks, rows, strict=True):
        assert r["labeled"] == table_row["labeled"]
        assert r["low"] <= r["suspects"] <= r["high"] <= r["labeled"]
        assert 0 <= r["model_error"] <= 1
        for item in filter(None, r["examples"].split(", ")):
            example, change = item.rsplit(" (", 1)
            assert example in dev_ids and change in ("0→1)", "1→0)")
    assert "computed for this report" in (folder / "report.md").read_text()
    # a second report reads the cached probabilities: nothing re-trained
    assert main(["report", "--workspace", str(ws)]) == 0
    again = json.loads((folder / "report.json").read_text())["tables"]["multilabel-label-errors"]
    assert again == checks
    assert "cached in the run's labels/out_of_sample.npz" in (folder / "report.md").read_text()
    assert [a.path for a in client.list_artifacts(run_id, "labels")] == artifacts

    capsys.readouterr()
    # what needs one class per example says so in one line
    assert main(["review", "--workspace", str(ws)]) == 2
    assert "sweeplab report gives them" in capsys.readouterr().err
    assert main(["report", "--workspace", str(ws), "--top", "2"]) == 2
    assert "--top analyses binary and multiclass" in capsys.readouterr().err
    # the tiny project has no test split: a clear refusal, nothing logged
    assert main(["evaluate", "--workspace", str(ws)]) == 2
    assert "no test split" in capsys.readouterr().err
    assert "test_error" not in client.get_run(run_id).data.metrics
