"""`sweeplab report`, `report --final`, `evaluate` and `runs` on vision-task sweeps: real Optuna
sweeps into real MLflow SQLite stores (one tiny sweep per task, shared by the module's tests).

What must hold: the report's tables come from what the trial logged (per-class counts add up
to the dev set's objects / pixels / pairs), its ladder is the logged errors, the test metric
appears only after the final evaluation, which computes it once and leaves dev_error alone.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.conftest import sweep_into

from sweeplab.cli import main

pytestmark = pytest.mark.slow

DETECTION = """
name: tdet
data:
  source: generated:shapes_detection
  generate: {n: 100, image_size: 32, max_objects: 2, seed: 0}
  splits: {train: 0.6, dev: 0.2, test: 0.2}
  seed: 0
task: detection
model: {name: grid_detector, filters: 4, stages: 3}
task_args: {score_threshold: 0.05, nms_iou: 0.45}
train: {epochs: 2, batch_size: 32, optimizer: adam, learning_rate: 0.005}
human_level_error: {error: 0.02, note: clean shapes}
search: {space: space.yaml, trials: 1, seed: 0}
tracking: {log_models: none}  # no saved weights: the evaluation re-trains the trial
"""
DETECTION_SPACE = """
parameters:
  lambda_coord: {values: [4.0]}
"""
SEGMENTATION = """
name: tseg
data:
  source: generated:shapes_segmentation
  generate: {n: 60, image_size: 16, seed: 0}
  splits: {train: 0.6, dev: 0.2, test: 0.2}
  seed: 0
task: segmentation
model: {name: unet, filters: 4, depth: 1}
train: {epochs: 2, batch_size: 16, optimizer: adam, learning_rate: 0.005}
human_level_error: 0.02
search: {space: space.yaml, trials: 1, seed: 0}
"""
SEGMENTATION_SPACE = """
parameters:
  learning_rate: {values: [0.005]}
"""
VERIFICATION = """
name: tver
data:
  source: generated:identities
  generate: {num_identities: 40, per_identity: 4, image_size: 12, seed: 0}
  splits: {train: 24, dev: 8, test: 8}
  seed: 0
task: verification
model: {name: siamese_encoder, embedding_dim: 16, filters: 4, hidden: 16}
task_args: {margin: 0.3}
train: {epochs: 2, batch_size: 32, optimizer: adam, learning_rate: 0.003}
human_level_error: 0.05
search: {space: space.yaml, trials: 1, seed: 0}
"""
VERIFICATION_SPACE = """
parameters:
  head: {values: [triplet]}
"""
STYLE = """
name: tstyle
data:
  source: generated:shapes
  generate: {n: 60, image_size: 16, seed: 0}
  splits: {train: 0.8, dev: 0.2}
  style_images: {content: skimage:astronaut, style: generated:stripes, size: 16}
task: style_transfer
model: {name: feature_net, filters: 4}
task_args: {steps: 20, learning_rate: 0.05}
train: {epochs: 1, batch_size: 32, learning_rate: 0.003}
metrics: {optimize: cost_ratio}
search: {space: space.yaml, trials: 1, seed: 0}
"""
STYLE_SPACE = """
parameters:
  beta: {values: [1000.0]}
"""


def _ws(factory, name: str, project: str, space: str) -> Path:
    return sweep_into(factory.mktemp(name), project=project, space=space, name=name)


@pytest.fixture(scope="module")
def det(tmp_path_factory) -> Path:
    return _ws(tmp_path_factory, "det", DETECTION, DETECTION_SPACE)


@pytest.fixture(scope="module")
def seg(tmp_path_factory) -> Path:
    return _ws(tmp_path_factory, "seg", SEGMENTATION, SEGMENTATION_SPACE)


@pytest.fixture(scope="module")
def ver(tmp_path_factory) -> Path:
    return _ws(tmp_path_factory, "ver", VERIFICATION, VERIFICATION_SPACE)


@pytest.fixture(scope="module")
def style(tmp_path_factory) -> Path:
    return _ws(tmp_path_factory, "style", STYLE, STYLE_SPACE)


def _client(ws: Path):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{ws / 'mlflow.db'}")


def _report(ws: Path, *extra: str) -> dict:
    assert main(["report", "--workspace", str(ws), *extra]) == 0
    (folder,) = list((ws / "reports").iterdir())
    return json.loads((folder / "report.json").read_text())


def _task_data(ws: Path, name: str) -> dict:
    """The sweep's split sets, rebuilt from its project file and split manifest."""
    from sweeplab.tasks import load_project, prepare_context

    ctx, _, _ = prepare_context(
        load_project(ws.parent / "project.yaml"),
        manifest_path=ws / "sweeps" / name / "splits.json",
    )
    return ctx.task_data


def _history(client, run_id: str, metric: str) -> list[tuple[int, float]]:
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, metric))


def test_detection_report_tables_and_logged_ladder(det) -> None:
    summary = _report(det)
    run = _client(det).get_run(summary["run_id"]).data
    assert summary["task"] == "detection" and summary["final"] is False
    ladder = summary["diagnosis"]["ladder"]
    assert set(ladder) == {"human", "train", "dev"}  # no test before the final evaluation
    assert ladder["train"] == pytest.approx(run.metrics["train_error"])
    assert ladder["dev"] == pytest.approx(run.metrics["dev_error"])
    assert ladder["human"] == 0.02
    assert "test_error" not in run.metrics

    dev = _task_data(det, "det")["dev"]
    n_objects = sum(len(b) for b in dev.boxes)
    by_class = summary["tables"]["detection-by-class"]
    by_size = summary["tables"]["detection-by-size"]
    assert [r["class"] for r in by_class] == ["rectangle", "ellipse", "triangle"]
    assert sum(r["objects"] for r in by_class) == n_objects
    assert sum(r["missed"] for r in by_class) == run.metrics["dev_missed"]
    assert sum(r["false_positives"] for r in by_class) == run.metrics["dev_false_positives"]
    for r in by_class:  # the size buckets split each class's objects
        rows = [s for s in by_size if s["class"] == r["class"]]
        assert {s["size"] for s in rows} == {"small", "medium", "large"}
        assert sum(s["objects"] for s in rows) == r["objects"]
        assert sum(s["found"] for s in rows) == r["found"]
        logged = run.metrics.get(f"dev_ap_{r['class']}")
        assert r["ap"] == (pytest.approx(logged) if logged is not None else None)
    # every task setting is a param of the run under task.<name>, the sampled one too
    assert run.params["task.score_threshold"] == "0.05" and run.params["task.nms_iou"] == "0.45"
    assert run.params["task.lambda_noobj"] == "0.5"  # a default, logged too
    assert run.params["task.lambda_coord"] == "4.0" and "lambda_coord" not in run.params
    assert run.tags["sweeplab.sampled"] == "task.lambda_coord"
    assert summary["fixed"]["score_threshold"] == 0.05 and "lambda_coord" in summary["params"]
    assert "lambda_coord" not in summary["fixed"]


def test_detection_evaluate_logs_test_map_once(det, capsys) -> None:
    client = _client(det)
    run_id = client.search_runs(
        [e.experiment_id for e in client.search_experiments()],
        filter_string="tags.`sweeplab.kind` = 'trial'",
    )[0].info.run_id
    dev_before = _history(client, run_id, "dev_error")
    capsys.readouterr()
    assert main(["evaluate", "--workspace", str(det)]) == 0
    out = capsys.readouterr().out
    assert "re-training" in out  # announced: no saved weights
    m = client.get_run(run_id).data.metrics
    assert 0.0 <= m["test_map"] <= 1.0
    assert m["test_error"] == pytest.approx(1.0 - m["test_map"])
    assert m["dev_overfit"] == pytest.approx(m["test_error"] - m["dev_error"])
    assert len(_history(client, run_id, "test_error")) == 1  # computed once
    assert _history(client, run_id, "dev_error") == dev_before  # dev untouched
    assert f"test_map = {m['test_map']:.4f}" in out
    # the re-trained model reproduces the trial's dev mAP (seeded), and its weights are kept
    assert "(logged: " in out and "differs" not in out
    assert "weights/state_dict.pt" in {a.path for a in client.list_artifacts(run_id, "weights")}


def test_segmentation_report_and_evaluate(seg, capsys) -> None:
    summary = _report(seg)
    client = _client(seg)
    run = client.get_run(summary["run_id"]).data
    dev = _task_data(seg, "seg")["dev"]
    rows = summary["tables"]["segmentation-iou"]
    assert [r["class"] for r in rows] == ["background", "rectangle", "ellipse", "triangle"]
    assert sum(r["true_pixels"] for r in rows) == dev.masks.numel()
    assert sum(r["predicted_pixels"] for r in rows) == dev.masks.numel()
    for r in rows:
        if r["iou"] is not None:
            assert r["iou"] == pytest.approx(run.metrics[f"dev_iou_{r['class']}"])
    assert dict(summary["metrics"])["dev_mean_iou"] == pytest.approx(run.metrics["dev_mean_iou"])

    assert main(["evaluate", "--workspace", str(seg)]) == 0
    m = client.get_run(summary["run_id"]).data.metrics
    assert m["test_error"] == pytest.approx(1.0 - m["test_mean_iou"])
    assert len(_history(client, summary["run_id"], "test_mean_iou")) == 1

    # --final afterwards: refused without --again (one line: when, and --again), before any
    # model is loaded; with --again the saved weights (the best trial's), counted on the sweep
    capsys.readouterr()
    assert main(["report", "--workspace", str(seg), "--final"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "was evaluated on the test set on" in err
    assert "--again" in err
    for f in (seg / "reports").iterdir():
        for p in f.iterdir():
            p.unlink()
        f.rmdir()
    final = _report(seg, "--final", "--again")
    assert final["final"] and final["model_source"] == "cached"
    assert final["diagnosis"]["ladder"]["test"] == pytest.approx(m["test_error"])
    parent = client.get_run(summary["run_id"]).data.tags["mlflow.parentRunId"]
    assert client.get_run(parent).data.tags["sweeplab.test_evaluations"] == "2"
    assert len(_history(client, summary["run_id"], "test_mean_iou")) == 2


def test_verification_report_counts_pairs_and_evaluates_unseen_identities(ver) -> None:
    from sweeplab.training._tasks import verification_pairs

    summary = _report(ver)
    client = _client(ver)
    run = client.get_run(summary["run_id"]).data
    (table,) = summary["tables"].values()
    dev = _task_data(ver, "ver")["dev"]
    _, _, same = verification_pairs(dev.labels, seed=0)
    assert [r["count"] for r in table] == [int(same.sum()), int((~same).sum())]
    wrong = sum(r["errors"] for r in table)
    assert 1.0 - wrong / len(same) == pytest.approx(run.metrics["dev_verification_accuracy"])

    assert main(["evaluate", "--workspace", str(ver)]) == 0
    m = client.get_run(summary["run_id"]).data.metrics
    assert m["test_error"] == pytest.approx(1.0 - m["test_verification_accuracy"])
    assert 0.0 <= m["test_one_shot_accuracy"] <= 1.0
    assert m["test_tau"] == pytest.approx(run.metrics["tau"])  # τ as the trial chose it on dev


def test_style_report_embeds_the_image_and_evaluate_refuses(style, capsys) -> None:
    summary = _report(style)
    run = _client(style).get_run(summary["run_id"]).data.metrics
    assert summary["diagnosis"] is None  # no dev set
    metrics = dict(summary["metrics"])
    assert metrics["cost_ratio"] == pytest.approx(metrics["total_cost"] / metrics["initial_cost"])
    assert metrics["initial_cost"] == pytest.approx(run["initial_cost"])
    assert summary["images"] == ["content C", "style S", "generated G"]
    (folder,) = list((style / "reports").iterdir())
    html = (folder / "report.html").read_text()
    assert html.count('src="data:image/png;base64,') == 3
    capsys.readouterr()
    assert main(["evaluate", "--workspace", str(style)]) == 2
    assert "no test set" in capsys.readouterr().err


def test_runs_shows_the_headline_and_per_class_columns(det, capsys) -> None:
    capsys.readouterr()
    assert main(["runs", "--workspace", str(det), "--csv"]) == 0
    header = capsys.readouterr().out.splitlines()[0].split(",")
    assert header[4:7] == ["dev_error", "dev_map", "train_error"]
    assert "train_dev_error" not in header  # no vision trial has one
    assert not [h for h in header if h.startswith(("task.", "dev_ap_"))]
    assert main(["runs", "--workspace", str(det), "--csv", "--wide"]) == 0
    wide = capsys.readouterr().out.splitlines()[0].split(",")
    assert {"dev_ap_rectangle", "dev_ap_ellipse", "dev_ap_triangle"} <= set(wide)


def test_detection_report_page_opens_in_chromium(det, tmp_path) -> None:
    from tests._browser import counts, require_chromium, screenshot

    require_chromium()
    out = tmp_path / "page"
    assert main(["report", "--workspace", str(det), "--out", str(out), "--no-log"]) == 0
    errors = screenshot(
        out / "report.html", tmp_path / "shot.png", wait_for="#error-ladder .main-svg"
    )
    assert errors == []
    found = counts(
        out / "report.html",
        ["#detection-by-class tr", "#detection-by-size tr", "#ladder tr", "#verdict"],
    )
    rungs = json.loads((out / "report.json").read_text())["diagnosis"]["ladder"]
    assert found == {
        "#detection-by-class tr": 1 + 3,
        "#detection-by-size tr": 1 + 9,
        "#ladder tr": 1 + len(rungs),  # human, train, dev (+ test once evaluated)
        "#verdict": 1,
    }
