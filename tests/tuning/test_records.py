"""Records you can trust, end to end on the Optuna backend, read back with MLflow's client:
one value per metric per step (early stopping that restores an earlier epoch included), one
key per setting whether a sweep samples it or fixes it, the device on every trial run, the
Optuna study's objective named (tests/store_checks.py holds the store invariants)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.conftest import write
from tests.store_checks import assert_store_ok

from sweeplab.cli import main

pytestmark = pytest.mark.slow

# High learning rates make digits' dev error wander, so early stopping (patience 2 of 4
# epochs) restores an earlier epoch in some trials: the case that logged two values at the
# last step before.
CLASSIFICATION = """
name: records-digits
data:
  source: sklearn:digits
  splits: {train: 0.7, train_dev: 0.1, dev: 0.2}
  seed: 0
model: {name: mlp, num_layers: 1, hidden_units: 16}
train: {epochs: 4, batch_size: 64, optimizer: adam, learning_rate: 0.01, early_stopping_patience: 2}
human_level_error: 0.01
search: {space: lr.yaml, sampler: random, trials: 4, seed: 0}
"""
SEARCH_LR = """
parameters:
  learning_rate: {distribution: log_uniform, min: 1.0e-2, max: 3.0e-1}
  hidden_units: {values: [16, 32]}
"""
FIX_LR = """
parameters:
  hidden_units: {values: [16, 32]}
"""
VISION = """
name: records-localization
data:
  source: generated:shapes_localization
  generate: {n: 100, image_size: 16, min_size: 0.3, max_size: 0.6, seed: 0}
  splits: {train: 0.75, dev: 0.25}
task: localization
model: {name: localizer, filters: 8, stages: 2}
train: {epochs: 2, batch_size: 16, optimizer: adam, learning_rate: 0.003}
search: {space: box.yaml, seed: 0, trials: 1}
"""
BOX = """
parameters:
  lambda_box: {distribution: log_uniform, min: 2.0, max: 8.0}
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """A workspace with three sweeps: one searching learning_rate, one fixing it (same
    project), one vision task."""
    root = tmp_path_factory.mktemp("records")
    for name, text in (("lr.yaml", SEARCH_LR), ("fixed.yaml", FIX_LR), ("box.yaml", BOX)):
        write(root / name, text)
    project, vision = write(root / "p.yaml", CLASSIFICATION), write(root / "v.yaml", VISION)
    ws = root / "ws"
    for args in (
        [str(project), "--name", "search-lr"],
        [str(project), "--name", "fix-lr", "--space", str(root / "fixed.yaml"), "--trials", "2"],
        [str(vision), "--name", "loc"],
    ):
        assert main(["sweep", *args, "--workspace", str(ws)]) == 0
    return ws


def _uri(ws: Path) -> str:
    return f"sqlite:///{ws / 'mlflow.db'}"


def _trials(ws: Path, sweep: str):
    import mlflow

    mlflow.set_tracking_uri(_uri(ws))
    runs = mlflow.search_runs(
        experiment_names=["records-digits", "records-localization"],
        filter_string=f"tags.`sweeplab.sweep` = '{sweep}' and tags.`sweeplab.kind` = 'trial'",
    )
    return runs.set_index("run_id")


def test_every_history_has_one_value_per_step_and_every_setting_one_key(store):
    report = assert_store_ok(_uri(store))
    assert report.trial_runs == 4 + 2 + 1 and report.runs == report.trial_runs + 3


def test_a_restored_epoch_is_recorded_after_the_last_one_and_is_the_runs_value(store, capsys):
    from mlflow import MlflowClient

    client = MlflowClient(_uri(store))
    trials = _trials(store, "search-lr")
    restored = trials[trials["metrics.best_epoch"] < trials["metrics.epochs_run"]]
    assert len(restored) >= 1, "no trial restored an earlier epoch: the case is not exercised"
    for run_id, row in restored.iterrows():
        best, last = int(row["metrics.best_epoch"]), int(row["metrics.epochs_run"])
        for key in ("dev_error", "train_loss", "train_error", "dev_loss"):
            by_step = {m.step: m.value for m in client.get_metric_history(run_id, key)}
            # the epochs 1..last, and the restored figures once more at last + 1 when they differ
            assert set(by_step) - {last + 1} == set(range(1, last + 1))
            kept = by_step.get(last + 1, by_step[last])
            assert kept == by_step[best] == row[f"metrics.{key}"]
        lr_steps = [m.step for m in client.get_metric_history(run_id, "lr")]
        assert max(lr_steps) == last  # a figure of the training, not repeated
    # `sweeplab runs` and Optuna show the kept model's figure
    capsys.readouterr()
    assert main(["runs", "search-lr", "--json", "--workspace", str(store)]) == 0
    rows = {r["run_id"]: r for r in json.loads(capsys.readouterr().out)["trials"]}
    study = _study(store, "search-lr")
    for run_id, row in trials.iterrows():
        assert rows[run_id]["dev_error"] == row["metrics.dev_error"]
        (t,) = [t for t in study.trials if t.user_attrs.get("mlflow_run_id") == run_id]
        assert t.value == row["metrics.dev_error"]
        # `runs` names the sampled settings as the search space does
        assert float(rows[run_id]["learning_rate"]) == float(row["params.train.learning_rate"])


def test_a_searched_and_a_fixed_learning_rate_have_one_key(store):
    searched, fixed = _trials(store, "search-lr"), _trials(store, "fix-lr")
    for runs in (searched, fixed):
        assert runs["params.train.learning_rate"].notna().all()
        assert "params.learning_rate" not in runs or runs["params.learning_rate"].isna().all()
    assert set(fixed["params.train.learning_rate"]) == {"0.01"}
    assert set(fixed["tags.sweeplab.sampled"]) == {"model.hidden_units"}
    assert set(searched["tags.sweeplab.sampled"]) == {"train.learning_rate,model.hidden_units"}
    (vision,) = _trials(store, "loc").to_dict("records")
    assert vision["tags.sweeplab.sampled"] == "task.lambda_box" and vision["params.task.lambda_box"]


def test_the_study_objective_is_named(store):
    assert _study(store, "search-lr").metric_names == ["dev_error"]


def _study(ws: Path, sweep: str):
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    journal = ws / "sweeps" / sweep / "optuna.journal"
    return optuna.load_study(
        study_name=sweep, storage=JournalStorage(JournalFileBackend(str(journal)))
    )
