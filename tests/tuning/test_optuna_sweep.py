"""End to end through the CLI: a real Optuna study, a real MLflow SQLite store."""

from __future__ import annotations

import json
import math

import pytest

from sweeplab.cli import main

pytestmark = pytest.mark.slow


def _mlflow_runs(ws):
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{ws / 'mlflow.db'}")
    return mlflow.search_runs(search_all_experiments=True, output_format="pandas")


def test_sweep_creates_parent_and_nested_children(tiny_project, workspace, capsys):
    assert main(["sweep", str(tiny_project), "--name", "s1", "--trials", "3"]) == 0
    runs = _mlflow_runs(workspace)
    parents = runs[runs["tags.sweeplab.kind"] == "sweep"]
    children = runs[runs["tags.sweeplab.kind"] == "trial"]
    assert len(parents) == 1 and len(children) == 3
    parent_id = parents["run_id"].iloc[0]
    assert set(children["tags.mlflow.parentRunId"]) == {parent_id}
    assert set(children["status"]) == {"FINISHED"}
    # every setting under one key <group>.<name>, sampled or fixed, defaults included; the
    # sampled keys in the tag sweeplab.sampled; the run named by its number and settings
    for col in (
        "params.train.learning_rate",
        "params.train.optimizer",
        "params.model.hidden_units",
    ):
        assert children[col].notna().all()
    assert not {"params.learning_rate", "params.optimizer", "params.hidden_units"} & set(children)
    for col in (
        "metrics.train_error",
        "metrics.train_dev_error",
        "metrics.dev_error",
        "metrics.params_count",
        "metrics.latency_ms",
        "metrics.best_epoch",
    ):
        values = children[col].astype(float)
        assert values.notna().all() and (values >= 0).all()
    assert set(children["params.model.num_layers"]) == {"1"}  # the project's fixed arg
    assert set(children["params.train.epochs"]) == {"3"}
    assert set(children["params.train.batch_size"]) == {"128"}
    assert children["params.model.activation"].notna().all()  # a default
    assert set(children["tags.sweeplab.device"]) == {"cpu"}
    # beta is sampled exactly in the momentum trials (the others log Adam's default beta)
    for _, child in children.iterrows():
        sampled = child["tags.sweeplab.sampled"].split(",")
        momentum = child["params.train.optimizer"] == "momentum"
        assert sampled[0] == "train.learning_rate" and "model.hidden_units" in sampled
        assert ("train.beta" in sampled) == momentum
        number, lr, *rest = child["tags.mlflow.runName"].split()  # "#0 lr=3.2e-3 adam h=16"
        assert number == f"#{child['tags.sweeplab.trial_number']}" and lr.startswith("lr=")
        assert float(lr[3:]) == pytest.approx(float(child["params.train.learning_rate"]), rel=0.02)
        assert rest[0] == child["params.train.optimizer"]

    # per-epoch histories, not just final values
    from mlflow import MlflowClient

    client = MlflowClient()
    history = client.get_metric_history(children["run_id"].iloc[0], "dev_error")
    assert sorted(m.step for m in history)[:3] == [1, 2, 3]

    # the split manifest and the space copy are in the sweep folder
    assert (workspace / "sweeps" / "s1" / "splits.json").is_file()
    assert (workspace / "sweeps" / "s1" / "optuna.journal").is_file()


def test_runs_lists_trials_best_first(tiny_project, workspace, capsys):
    assert main(["sweep", str(tiny_project), "--name", "s2", "--trials", "3"]) == 0
    capsys.readouterr()
    assert main(["runs", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["sweep"] == "s2" and len(out["trials"]) == 3
    errors = [t["dev_error"] for t in out["trials"]]
    finite = [e for e in errors if e is not None and math.isfinite(e)]
    assert finite == sorted(finite)
    assert main(["runs", "s2", "--csv"]) == 0
    csv = capsys.readouterr().out.splitlines()
    assert csv[0].startswith("rank,trial,status") and len(csv) == 4


def test_resume_runs_only_the_missing_trials(tiny_project, workspace):
    assert main(["sweep", str(tiny_project), "--name", "s3", "--trials", "2"]) == 0
    assert main(["sweep", str(tiny_project), "--name", "s3", "--trials", "4", "--resume"]) == 0
    runs = _mlflow_runs(workspace)
    children = runs[runs["tags.sweeplab.kind"] == "trial"]
    assert sorted(children["tags.sweeplab.trial_number"].astype(int)) == [0, 1, 2, 3]
    assert len(runs[runs["tags.sweeplab.kind"] == "sweep"]) == 1
    # In-process trials keep torch's threads (the whole machine) and record the count.
    import torch

    assert set(children["tags.sweeplab.threads"]) == {str(torch.get_num_threads())}


def test_a_failing_trial_is_recorded_and_the_sweep_goes_on(tmp_path, workspace):
    from tests.conftest import write

    write(
        tmp_path / "space.yaml",
        "parameters:\n  learning_rate: {values: [1.0e+30, 0.01]}\n  optimizer: {value: gd}\n",
    )
    project = write(
        tmp_path / "p.yaml",
        """
        name: diverge
        data: {source: sklearn:iris, splits: {train: 0.6, dev: 0.4}}
        model: mlp
        train: {epochs: 5, batch_size: 16}
        search: {space: space.yaml, sampler: grid}
        """,
    )
    assert main(["sweep", str(project), "--name", "g"]) == 0
    runs = _mlflow_runs(workspace)
    children = runs[runs["tags.sweeplab.kind"] == "trial"]
    assert len(children) == 2
    failed = children[children["status"] == "FAILED"]
    assert len(failed) == 1
    assert float(failed["params.train.learning_rate"].iloc[0]) == 1e30
    assert failed["tags.sweeplab.device"].iloc[0] == "cpu"  # tagged when the trial starts
    assert "diverged" in failed["tags.sweeplab.failure"].iloc[0].lower()
    ok = children[children["status"] == "FINISHED"]
    assert len(ok) == 1 and math.isfinite(float(ok["metrics.dev_error"].iloc[0]))
