"""The MLflow store of a seeded sweep of every shipped project keeps its promises, read back
with MLflow's own client: one value per (run, metric, step); every setting under one key;
every run ended; every trial with its dataset inputs and device tag; the parent run with
its dataset inputs; and the best trial's model — loaded with ``mlflow.pytorch.load_model``
and with sweeplab's safe loader (``weights_only=True``) — reproduces its logged dev figure.

One trial of each project, its training shortened to 2 epochs (a copy of the project file),
all in one workspace (the fine-tune projects start from their pre-training sweep's best).
"""

from __future__ import annotations

from pathlib import Path

import mlflow.pytorch
import pytest
import yaml
from mlflow import MlflowClient
from tests.store_checks import assert_store_ok

from sweeplab.cli import main
from sweeplab.tasks import TASKS, load_project, prepare_context, trial_setup
from sweeplab.tracking import default_tracking_uri, load_sweep_table, run_weights
from sweeplab.training import predict

REPO = Path(__file__).resolve().parents[2]
# pre-training projects first: the fine-tune ones start from their best trial
PROJECTS = sorted((REPO / "projects").glob("*.yaml"), key=lambda p: ("finetune" in p.stem, p.stem))


def _quick_copy(path: Path, folder: Path) -> Path:
    """The project with at most 2 epochs, its search space by absolute path."""
    doc = yaml.safe_load(path.read_text())
    train = doc.setdefault("train", {})
    train["epochs"] = min(int(train.get("epochs", 2)), 2)
    if "early_stopping_patience" in train:
        train["early_stopping_patience"] = 1  # still restores an earlier epoch sometimes
    space = doc.get("search", {}).get("space")
    if space:
        doc["search"]["space"] = str((path.parent / space).resolve())
    if "steps" in doc.get("task_args", {}):
        doc["task_args"]["steps"] = 10
    copy = folder / path.name
    copy.write_text(yaml.safe_dump(doc, sort_keys=False))
    return copy


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("every-project")
    ws = root / "ws"
    for path in PROJECTS:
        copy = _quick_copy(path, root)
        argv = ["sweep", str(copy), "--trials", "1", "--seed", "0", "--name", path.stem]
        assert main([*argv, "--workspace", str(ws)]) == 0, path.name
    return ws


def test_the_store_of_every_shipped_project_keeps_its_invariants(workspace: Path) -> None:
    uri = default_tracking_uri(workspace)
    report = assert_store_ok(uri)
    assert report.trial_runs == len(PROJECTS)
    client = MlflowClient(uri)
    for path in PROJECTS:
        info, trials = load_sweep_table(path.stem, workspace, None)
        for run_id in (info["parent_run_id"], *(t["run_id"] for t in trials)):
            inputs = client.get_run(run_id).inputs.dataset_inputs
            contexts = {
                tag.value for i in inputs for tag in i.tags if tag.key == "mlflow.data.context"
            }
            assert {"train", "dev"} <= contexts, (path.stem, run_id, contexts)
            assert all(i.dataset.digest for i in inputs)


@pytest.mark.parametrize("path", PROJECTS, ids=[p.stem for p in PROJECTS])
def test_the_best_model_reproduces_its_logged_dev_figure(workspace: Path, path: Path) -> None:
    uri = default_tracking_uri(workspace)
    client = MlflowClient(uri)
    info, trials = load_sweep_table(path.stem, workspace, None)
    parent = client.get_run(info["parent_run_id"])
    best = trials[0]
    pf = load_project(workspace.parent / path.name)
    ctx, _, manifest = prepare_context(
        pf, manifest_path=workspace / "sweeps" / path.stem / "splits.json", tracking_uri=uri
    )
    spec = TASKS.get(ctx.task)
    if spec.final_dev_metric is None:  # style transfer: one image, no model to keep
        assert "sweeplab.best_model_uri" not in parent.data.tags
        return
    assert parent.data.tags["sweeplab.best_run_id"] == best["run_id"]
    setup = trial_setup(ctx, {k: _typed(v) for k, v in best["params"].items()})
    before = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)  # models:/ URIs resolve in the global store
    try:
        by_mlflow = mlflow.pytorch.load_model(parent.data.tags["sweeplab.best_model_uri"])
    finally:
        mlflow.set_tracking_uri(before)
    safe = spec.build_model(ctx, setup)
    safe.load_state_dict(run_weights(client, best["run_id"]))
    for model in (by_mlflow, safe):
        if ctx.tensors is not None:  # classification: the dev error, exactly
            X, y = ctx.tensors.splits["dev"]
            labels, _ = predict(model, X, task=ctx.task)
            if ctx.task == "multilabel":
                continue  # per-label errors over labeled entries: checked by final_scores below
            assert float((labels != y.numpy()).mean()) == best["metrics"]["dev_error"]
        if "test" in manifest.splits:
            _, dev_now = spec.final_scores(ctx, model, setup)
            assert dev_now == pytest.approx(best["metrics"][spec.final_dev_metric], abs=1e-6)


def _typed(text: str):
    """A param as MLflow stores it (a string) back to a number where it is one."""
    for kind in (int, float):
        try:
            return kind(text)
        except (TypeError, ValueError):
            pass
    return text
