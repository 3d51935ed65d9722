"""What a sweep keeps in MLflow beside params and metrics — the best trial's model, every run's
dataset inputs, the trials' system metrics — and the test set as a final check. Real Optuna
sweeps of a tiny digits MLP into real MLflow SQLite stores, read back with MLflow's own API.

What must hold: the best trial's MLflow model (``mlflow.pytorch.load_model``) and its weights
read by sweeplab's safe loader (``torch.load(weights_only=True)``) both reproduce the dev
error the trial logged, exactly; ``log_models`` all / none give every finished trial a model
/ no trial one; every run names its four splits with digests that change with the split; a
second final evaluation of a trial is refused without ``--again``, and every one is counted.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from tests.store_checks import assert_store_ok

from sweeplab.cli import main

pytestmark = pytest.mark.slow

SPLITS = ("train", "train_dev", "dev", "test")
PROJECT = """
name: rec-digits
data:
  source: sklearn:digits
  splits: {{train: 0.7, train_dev: 0.1, dev: 0.1, test: 0.1}}
  seed: {seed}
model: {{name: mlp, num_layers: 1}}
train: {{epochs: 2, batch_size: 128, optimizer: adam}}
human_level_error: 0.01
search: {{space: space.yaml, sampler: random, trials: {trials}, seed: 0}}
{tracking}
"""
SPACE = """
parameters:
  learning_rate: {distribution: log_uniform, min: 1.0e-3, max: 3.0e-2}
  hidden_units: {values: [16, 32]}
"""


def _sweep(root: Path, name: str, *flags: str, trials: int = 3, tracking: str = "", seed=0):
    root.mkdir(parents=True, exist_ok=True)
    (root / "space.yaml").write_text(textwrap.dedent(SPACE))
    project = PROJECT.format(trials=trials, tracking=tracking, seed=seed)
    (root / "project.yaml").write_text(project)
    ws = root / "ws"
    argv = ["sweep", str(root / "project.yaml"), "--name", name, "--workspace", str(ws), *flags]
    assert main(argv) == 0
    return ws


def _client(ws: Path):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{ws / 'mlflow.db'}")


def _runs(ws: Path):
    """(client, parent run, trial runs by number)."""
    client = _client(ws)
    exps = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(exps, max_results=100)
    (parent,) = [r for r in runs if r.data.tags["sweeplab.kind"] == "sweep"]
    trials = {
        int(r.data.tags["sweeplab.trial_number"]): r
        for r in runs
        if r.data.tags["sweeplab.kind"] == "trial"
    }
    return client, parent, trials


def _models(client, run) -> list:
    """The LoggedModels of the run's experiment that the run produced."""
    found = client.search_logged_models(experiment_ids=[run.info.experiment_id])
    return [m for m in found if m.source_run_id == run.info.run_id]


@pytest.fixture(scope="module")
def best_sweep(tmp_path_factory) -> Path:
    """log_models best (the default), --system-metrics."""
    return _sweep(tmp_path_factory.mktemp("best"), "best", "--system-metrics")


def test_best_model_loads_with_mlflow_and_the_safe_loader_and_reproduces_its_dev_error(
    best_sweep: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    from sweeplab.reports import evaluate_trial, resolve_trial
    from sweeplab.tracking import run_weights

    client, parent, trials = _runs(best_sweep)
    best_id = parent.data.tags["sweeplab.best_run_id"]
    best = client.get_run(best_id)
    # one MLflow model in the whole sweep, the best trial's, named by the parent run
    models = [m for r in trials.values() for m in _models(client, r)]
    assert [m.source_run_id for m in models] == [best_id]
    assert parent.data.tags["sweeplab.best_model_uri"] == f"models:/{models[0].model_id}"
    assert [o.model_id for o in best.outputs.model_outputs] == [models[0].model_id]
    assert models[0].params["train.learning_rate"] == best.data.params["train.learning_rate"]
    assert models[0].metrics and {m.key for m in models[0].metrics} >= {"dev_error"}

    # sweeplab's safe loader: the weights (weights_only), no re-training
    ref = resolve_trial("best", workspace=best_sweep)
    assert ref.run_id == best_id
    ev = evaluate_trial(ref, cache=False)
    assert ev.model_source == "cached"
    X, y = ev.context.tensors.splits["dev"]
    logged = best.data.metrics["dev_error"]
    assert ev.errors()["dev"] == logged
    state = run_weights(client, best_id)
    assert set(state) == set(ev.model.state_dict())

    # MLflow's own loader: the pickled module with its input example and signature
    monkeypatch.setenv("MLFLOW_TRACKING_URI", client.tracking_uri)
    for uri in (f"runs:/{best_id}/model", parent.data.tags["sweeplab.best_model_uri"]):
        model = mlflow.pytorch.load_model(uri).eval()
        with torch.no_grad():
            wrong = int((model(X).argmax(dim=1) != y).sum())
        assert wrong / len(y) == logged
    info = mlflow.models.get_model_info(f"runs:/{best_id}/model")
    assert info.signature is not None and info.saved_input_example_info is not None
    assert tuple(info.signature.inputs.to_dict()[0]["tensor-spec"]["shape"]) == (-1, X.shape[1])


def test_only_trials_that_beat_the_best_so_far_keep_their_weights(best_sweep: Path) -> None:
    client, _, trials = _runs(best_sweep)
    kept, best = [], None
    for number in sorted(trials):
        value = trials[number].data.metrics["dev_error"]
        if best is None or value < best:
            kept.append(number)
            best = value
    with_weights = [
        n
        for n, r in sorted(trials.items())
        if [a.path for a in client.list_artifacts(r.info.run_id, "weights")]
        == ["weights/state_dict.pt"]
    ]
    assert with_weights == kept


def test_every_run_records_its_splits_as_dataset_inputs(best_sweep: Path) -> None:
    from sweeplab.data import SplitManifest
    from sweeplab.tracking import split_digest

    client, parent, trials = _runs(best_sweep)
    manifest = SplitManifest.from_json(best_sweep / "sweeps" / "best" / "splits.json")
    expected = [
        (f"digits-{s}", split_digest(manifest.fingerprint, manifest.splits[s]), s) for s in SPLITS
    ]
    assert len(trials) == 3
    for run in [parent, *trials.values()]:
        inputs = client.get_run(run.info.run_id).inputs.dataset_inputs
        found = sorted(
            (
                d.dataset.name,
                d.dataset.digest,
                {t.key: t.value for t in d.tags}["mlflow.data.context"],
            )
            for d in inputs
        )
        assert found == sorted(expected)
        assert all(d.dataset.source_type == "code" for d in inputs)
        assert all('"sklearn:digits"' in d.dataset.source for d in inputs)
    assert len({d for _, d, _ in expected}) == 4  # each split its own digest


def test_the_digest_changes_when_the_split_or_the_data_changes() -> None:
    from sweeplab.data import SplitManifest
    from sweeplab.tracking import split_datasets

    def digests(splits, fingerprint="ab" * 32):
        m = SplitManifest(splits=splits, dataset="d", fingerprint=fingerprint, seed=0, n=10)
        return {d.tags[0].value: d.dataset.digest for d in split_datasets(m, "sklearn:digits")}

    a = digests({"train": np.arange(0, 8), "dev": np.arange(8, 10)})
    b = digests({"train": np.arange(2, 10), "dev": np.arange(0, 2)})
    c = digests({"train": np.arange(0, 8), "dev": np.arange(8, 10)}, fingerprint="cd" * 32)
    assert a == digests({"train": np.arange(8)[::-1], "dev": np.array([9, 8])})  # order-free
    assert a["train"] != b["train"] and a["dev"] != b["dev"]
    assert a["train"] != c["train"] and a["train"][9:] == c["train"][9:]
    assert all(len(d) <= 36 for d in a.values())  # MLflow's column


def test_system_metrics_are_logged_on_trial_runs_only(best_sweep: Path) -> None:
    client, parent, trials = _runs(best_sweep)
    for run in trials.values():
        metrics = run.data.metrics
        assert metrics["system/cpu_utilization_percentage"] >= 0.0
        assert metrics["system/system_memory_usage_megabytes"] > 0.0
    assert not [k for k in parent.data.metrics if k.startswith("system/")]


def test_a_second_evaluation_needs_again_and_every_one_is_counted(best_sweep: Path, capsys) -> None:
    client, parent, _ = _runs(best_sweep)
    run_id = parent.data.tags["sweeplab.best_run_id"]
    ws = ["--workspace", str(best_sweep)]
    assert main(["evaluate", *ws]) == 0
    out = capsys.readouterr().out
    assert "used 1 time(s), by 1 trial(s)" in out

    assert main(["evaluate", run_id, *ws]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in captured.err + captured.out
    when = client.get_run(run_id).data.tags["sweeplab.final_evaluation"]
    assert f"was evaluated on the test set on {when}" in err and "--again" in err
    assert main(["report", run_id, *ws, "--final"]) == 2  # report --final alike
    capsys.readouterr()
    assert main(["report", run_id, *ws, "--again"]) == 2  # --again without --final
    assert "--final" in capsys.readouterr().err

    assert main(["evaluate", run_id, "--again", *ws]) == 0
    out = capsys.readouterr().out
    assert "evaluated on the test set before" in out and "used 2 time(s)" in out
    assert client.get_run(parent.info.run_id).data.tags["sweeplab.test_evaluations"] == "2"
    history = client.get_metric_history(run_id, "test_error")
    assert len(history) == 2 and len({m.step for m in history}) == 2  # one value per step
    assert_store_ok(client.tracking_uri, [parent.info.experiment_id])


def test_log_models_all_gives_every_finished_trial_a_model(tmp_path: Path) -> None:
    # the project's setting (the flag overrides it; tests/reports/test_task_reports.py sets
    # log_models: none in a project)
    ws = _sweep(tmp_path, "all", trials=2, tracking="tracking: {log_models: all}")
    client, parent, trials = _runs(ws)
    assert len(trials) == 2
    for run in trials.values():
        (model,) = _models(client, run)
        assert run.data.tags["sweeplab.model_uri"] == f"models:/{model.model_id}"
        assert client.list_artifacts(run.info.run_id, "weights")
    best = client.get_run(parent.data.tags["sweeplab.best_run_id"])
    assert parent.data.tags["sweeplab.best_model_uri"] == best.data.tags["sweeplab.model_uri"]


def test_log_models_none_keeps_no_model_and_a_report_re_trains(tmp_path: Path) -> None:
    from sweeplab.reports import evaluate_trial, resolve_trial

    ws = _sweep(tmp_path, "none", "--log-models", "none", trials=2)
    client, parent, trials = _runs(ws)
    assert "sweeplab.best_model_uri" not in parent.data.tags
    for run in trials.values():
        assert not _models(client, run)
        assert not client.list_artifacts(run.info.run_id, "weights")
        assert not [k for k in run.data.metrics if k.startswith("system/")]  # off by default
        assert len(run.inputs.dataset_inputs) == 4
    # no weights: the fallback re-trains the trial (seeded) and reproduces its logged errors
    ref = resolve_trial("none", workspace=ws)
    ev = evaluate_trial(ref, cache=False)
    assert ev.model_source == "retrained" and not ev.notes
    for split, error in ev.errors().items():
        assert error == pytest.approx(ref.metrics[f"{split}_error"], abs=1e-9)
