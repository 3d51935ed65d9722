"""`sweeplab dashboard` end to end: a real sweep, the page written and logged to MLflow, and
the page opened in headless Chromium (offline) with every plot drawn."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import sweep_into

from sweeplab.cli import main
from sweeplab.workspace import Workspace

pytestmark = pytest.mark.slow

SPACE = """
parameters:
  learning_rate: {distribution: log_uniform, min: 1.0e-3, max: 3.0e-2}
  optimizer: {values: [adam, momentum]}
  beta: {distribution: one_minus_log_uniform, min: 0.8, max: 0.99, when: {optimizer: momentum}}
  hidden_units: {distribution: int_log_uniform, min: 8, max: 32}
  keep_prob: {distribution: uniform, min: 0.7, max: 1.0}
"""
PROJECT = """
name: dash-digits
data:
  source: sklearn:digits
  splits: {train: 0.7, train_dev: 0.1, dev: 0.2}
  seed: 0
model: {name: mlp, num_layers: 1}
train: {epochs: 3, batch_size: 128, optimizer: adam}
metrics:
  optimize: {name: dev_error, goal: minimize}
  satisfy: ["latency_ms <= 1000"]
human_level_error: 0.01
search: {space: space.yaml, sampler: random, trials: 5, seed: 1}
"""
# one plot per varied parameter (5), parallel coordinates, learning curves, importance
N_FIGURES = 5 + 3


@pytest.fixture(scope="module")
def swept(tmp_path_factory) -> Path:
    return sweep_into(tmp_path_factory.mktemp("dash"), project=PROJECT, space=SPACE, name="d1")


def test_dashboard_is_written_self_contained_and_logged_to_the_parent_run(swept, capsys):
    from mlflow import MlflowClient

    capsys.readouterr()
    assert main(["dashboard", "--workspace", str(swept), "--top", "3"]) == 0
    out = capsys.readouterr().out
    page = swept / "dashboards" / "d1.html"
    assert str(page) in out and page.is_file()
    html = page.read_text()
    # offline: plotly's JS once, inline; no script or stylesheet from the network
    assert html.count("* plotly.js v") == 1
    assert "<script src=" not in html and "<link " not in html
    assert html.count('class="plotly-graph-div"') == N_FIGURES
    # the best-trials table marks each satisficing constraint
    assert "latency_ms &lt;= 1000" in html and "✓" in html
    # the importance plot names its evaluators and shows both
    assert "fANOVA (share of the objective" in html and "PED-ANOVA (best 10 % vs all" in html

    info = Workspace.at(swept).read_sweep("d1")
    client = MlflowClient(info["tracking_uri"])
    logged = [a.path for a in client.list_artifacts(info["parent_run_id"], "dashboard")]
    assert logged == ["dashboard/d1.html"]


def test_dashboard_of_a_sweep_with_too_few_trials_has_a_note_not_an_importance_plot(
    swept, tmp_path
):
    # the same sweep, seen with a 3-trial study: copy the workspace and cut the journal
    import shutil

    ws = tmp_path / "ws"
    shutil.copytree(swept, ws)
    journal = ws / "sweeps" / "d1" / "optuna.journal"
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    src = optuna.load_study(
        study_name="d1", storage=JournalStorage(JournalFileBackend(str(journal)))
    )
    journal.unlink()
    dst = optuna.create_study(
        study_name="d1",
        storage=JournalStorage(JournalFileBackend(str(journal))),
        direction="minimize",
    )
    dst.add_trials(src.trials[:3])
    out = tmp_path / "page.html"
    assert main(["dashboard", "d1", "--workspace", str(ws), "-o", str(out), "--no-log"]) == 0
    html = out.read_text()
    assert 'id="importance-note"' in html and "at least 4 finished trials" in html
    assert html.count('class="plotly-graph-div"') == N_FIGURES - 1


def _open(page_path: Path, png: Path) -> dict:
    """Load the page in headless Chromium with the network cut off; errors and DOM counts."""
    from playwright.sync_api import sync_playwright

    from _browser import CHROMIUM_ARGS, require_chromium

    executable = require_chromium()
    seen: dict = {"errors": [], "external": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=list(CHROMIUM_ARGS))
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.on("pageerror", lambda exc: seen["errors"].append(f"pageerror: {exc}"))
            page.on(
                "console",
                lambda m: (
                    seen["errors"].append(f"console: {m.text}") if m.type == "error" else None
                ),
            )

            def route(r):
                if r.request.url.startswith("file:"):
                    r.continue_()
                else:  # offline: anything else is a failure of the page
                    seen["external"].append(r.request.url)
                    r.abort()

            page.route("**/*", route)
            page.goto(page_path.resolve().as_uri(), wait_until="load", timeout=60_000)
            page.wait_for_function(
                f"document.querySelectorAll('.js-plotly-plot').length >= {N_FIGURES}",
                timeout=60_000,
            )
            seen["plots"] = page.locator(".js-plotly-plot").count()
            seen["plots_with_svg"] = page.locator(".js-plotly-plot:has(.main-svg)").count()
            seen["markers"] = page.locator("#param-learning_rate .scatterlayer .point").count()
            seen["parcoords"] = page.locator("#parallel .parcoords").count()
            seen["table_rows"] = page.locator("#best-trials tbody tr").count()
            page.screenshot(path=str(png), full_page=True)
        finally:
            browser.close()
    return seen


def test_dashboard_opens_in_headless_chromium_with_every_plot_drawn(swept, tmp_path):
    page = tmp_path / "d1.html"
    assert main(["dashboard", "d1", "--workspace", str(swept), "-o", str(page), "--no-log"]) == 0
    png = tmp_path / "dashboard.png"
    seen = _open(page, png)
    assert seen["errors"] == [] and seen["external"] == []
    assert seen["plots"] == N_FIGURES and seen["plots_with_svg"] == N_FIGURES
    assert seen["markers"] >= 5  # every trial of the sweep is a point on learning_rate
    assert seen["parcoords"] == 1
    assert seen["table_rows"] == 5
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 50_000
