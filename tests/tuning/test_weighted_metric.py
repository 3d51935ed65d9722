"""The weighted error metric (``metrics.weights``): Σ w·[ŷ ≠ y] / Σ w per split, logged by
every trial, optimizable and usable in constraints; real Optuna and MLflow (SQLite)."""

from __future__ import annotations

import pytest
import torch
from mlflow.tracking import MlflowClient
from tests.conftest import sweep_into, write

from sweeplab.cli import main
from sweeplab.training import weighted_error

PROJECT = """
name: weighted
data:
  source: sklearn:breast_cancer
  splits: {train: 0.7, train_dev: 0.1, dev: 0.2}
  seed: 0
task: binary
model: logreg
train: {epochs: 3, batch_size: 64, optimizer: adam}
metrics:
  optimize: weighted_dev_error
  satisfy: ["weighted_train_error <= 1", "dev_error <= 1"]
  weights: {malignant: 10}
search: {space: space.yaml, sampler: random, trials: 2, seed: 0}
"""
SPACE = """
parameters:
  learning_rate: {distribution: log_uniform, min: 1.0e-3, max: 1.0e-1}
"""


def test_weighted_error_is_the_weighted_share_of_mistakes() -> None:
    gen = torch.Generator().manual_seed(0)
    model = torch.nn.Linear(4, 3)
    X, y = torch.randn(50, 4, generator=gen), torch.randint(3, (50,), generator=gen)
    w = torch.rand(50, generator=gen, dtype=torch.float64) + 0.1
    wrong = (model(X).argmax(1) != y).numpy()
    expected = float((w.numpy() * wrong).sum() / w.numpy().sum())
    got = float(weighted_error(model, X, y, w, task="multiclass"))
    assert got == pytest.approx(expected, rel=1e-12)
    # Equal weights: the plain error.
    assert float(weighted_error(model, X, y, torch.ones(50), task="multiclass")) == pytest.approx(
        wrong.mean()
    )


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return sweep_into(tmp_path_factory.mktemp("weighted"), project=PROJECT, space=SPACE, name="w")


def test_every_trial_logs_the_weighted_errors_and_the_best_minimizes_them(ws) -> None:
    client = MlflowClient(f"sqlite:///{ws / 'mlflow.db'}")
    runs = client.search_runs(
        [e.experiment_id for e in client.search_experiments()], "tags.`sweeplab.kind` = 'trial'"
    )
    assert len(runs) == 2
    n_dev = 114  # 20 % of 569 examples
    for run in runs:
        m = run.data.metrics
        for split in ("train", "train_dev", "dev"):
            assert 0.0 <= m[f"weighted_{split}_error"] <= 1.0
        # Weights are 10 (malignant) and 1 (benign): weighted·Σw = 10·(missed malignant) +
        # (false alarms), and missed + false alarms = dev_error·n_dev, for whole counts.
        wrong = round(m["dev_error"] * n_dev)
        fits = [
            (a, wrong - a)
            for a in range(wrong + 1)
            for total in range(n_dev, 10 * n_dev + 1)
            if abs(m["weighted_dev_error"] * total - (10 * a + wrong - a)) < 1e-6
        ]
        assert fits, m
    parent = [
        r
        for r in client.search_runs([runs[0].info.experiment_id])
        if r.info.run_id not in {x.info.run_id for x in runs}
    ]
    best = min(r.data.metrics["weighted_dev_error"] for r in runs)
    assert parent[0].data.metrics["best_weighted_dev_error"] == pytest.approx(best)


def test_weights_name_classes_of_the_data_and_weighted_metrics_need_weights(
    tmp_path, capsys
) -> None:
    write(tmp_path / "space.yaml", SPACE)
    bad = PROJECT.replace("{malignant: 10}", "{malignnt: 10}")
    assert main(["sweep", str(write(tmp_path / "a.yaml", bad)), "-w", str(tmp_path / "ws")]) == 2
    err = capsys.readouterr().err
    assert "Did you mean 'malignant'" in err and "Traceback" not in err
    unweighted = PROJECT.replace("  weights: {malignant: 10}\n", "")
    assert (
        main(["sweep", str(write(tmp_path / "b.yaml", unweighted)), "-w", str(tmp_path / "ws")])
        == 2
    )
    assert "unknown metric 'weighted_dev_error'" in capsys.readouterr().err
