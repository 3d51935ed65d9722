"""Acceptance: on the data-mismatch project, `sweeplab report` names data mismatch, logs its
files to the run, opens cleanly in headless Chromium; the test error appears only on request."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from sweeplab.cli import main

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """One intra-op thread while this module trains: `pytest -n 2` on 2 cores would otherwise
    oversubscribe them, and tiny models train many times slower (measured: 1.5 s -> 20 s CPU)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def mismatch_sweep(tmp_path_factory):
    """A small sweep (2 trials) of the shipped digits_mismatch project, as it is."""
    ws = tmp_path_factory.mktemp("mismatch") / "ws"
    project = REPO / "projects" / "digits_mismatch.yaml"
    assert (
        main(["sweep", str(project), "--trials", "2", "--name", "mm", "--workspace", str(ws)]) == 0
    )
    return ws


def _client(ws: Path):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{ws / 'mlflow.db'}")


def test_report_names_data_mismatch_and_logs_artifacts(mismatch_sweep, capsys):
    ws = mismatch_sweep
    capsys.readouterr()
    assert main(["report", "--workspace", str(ws)]) == 0
    out = capsys.readouterr().out
    assert "Data mismatch" in out and "largest gap" in out

    folders = list((ws / "reports").iterdir())
    assert [f.name for f in folders] == [folders[0].name] and folders[0].name.startswith("mm-trial")
    summary = json.loads((folders[0] / "report.json").read_text())
    diag = summary["diagnosis"]
    assert diag["problem"] == "data_mismatch"
    assert diag["gaps"]["data_mismatch"] > 2 * diag["gaps"]["variance"]
    ladder = diag["ladder"]
    assert set(ladder) == {"human", "train", "train_dev", "dev"}  # no test before --final
    assert ladder["dev"] > ladder["train_dev"] + 0.15

    # the report's errors are the trial's logged errors (the best trial's saved weights:
    # no re-training; tests/tuning/test_sweep_records.py covers the re-training fallback)
    client = _client(ws)
    run = client.get_run(summary["run_id"])
    for split in ("train", "train_dev", "dev"):
        assert ladder[split] == pytest.approx(run.data.metrics[f"{split}_error"], abs=1e-9)
    assert "test_error" not in run.data.metrics  # never computed during the search
    assert summary["model_source"] == "cached" and not summary["notes"]

    html = (folders[0] / "report.html").read_text()
    md = (folders[0] / "report.md").read_text()
    for text in (html, md):
        assert (
            "Data mismatch" in text
            and "Collect more training data similar to the dev/test sets." in text
        )
        assert "domain=target" in text  # an automatic category of the error table
    assert "data:image/png;base64," in html  # inline thumbnails
    assert "<script src=" not in html and "cdn" not in html.lower().split("<body>")[0]

    artifacts = {a.path for a in client.list_artifacts(summary["run_id"], "report")}
    assert {"report/report.html", "report/report.md", "report/error_table.csv"} <= artifacts
    assert "weights/state_dict.pt" in {
        a.path for a in client.list_artifacts(summary["run_id"], "weights")
    }


def test_report_html_opens_in_headless_chromium(mismatch_sweep, tmp_path):
    from _browser import counts, require_chromium, screenshot

    require_chromium()
    ws = mismatch_sweep
    assert main(["report", "--workspace", str(ws), "--out", str(tmp_path / "r"), "--no-log"]) == 0
    page = tmp_path / "r" / "report.html"
    png = tmp_path / "report.png"
    errors = screenshot(page, png, wait_for=".main-svg")
    assert errors == []
    assert png.is_file() and png.stat().st_size > 50_000
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    found = counts(page, [".js-plotly-plot", ".main-svg", "#error-table tr", "#examples img"])
    assert found[".js-plotly-plot"] == 1 and found[".main-svg"] >= 1
    assert found["#error-table tr"] > 1 and found["#examples img"] > 0


def test_final_evaluation_logs_test_error_and_dev_overfit(mismatch_sweep, capsys):
    ws = mismatch_sweep
    capsys.readouterr()
    assert main(["evaluate", "--workspace", str(ws)]) == 0
    out = capsys.readouterr().out
    assert "logged test_error" in out
    run_id = re.search(r"\(run ([0-9a-f]{32})\)", out).group(1)
    metrics = _client(ws).get_run(run_id).data.metrics
    assert 0.0 <= metrics["test_error"] <= 1.0
    assert metrics["dev_overfit"] == pytest.approx(metrics["test_error"] - metrics["dev_error"])

    # a later report shows the test rung (the final evaluation happened); a second
    # evaluation of the same trial needs --again
    assert main(["report", run_id, "--workspace", str(ws), "--no-log", "--final", "--again"]) == 0
    summary = json.loads(next((ws / "reports").glob("*/report.json")).read_text())
    assert summary["final"] is True
    assert math.isclose(summary["diagnosis"]["ladder"]["test"], metrics["test_error"])
