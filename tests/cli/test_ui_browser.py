"""`sweeplab ui` as a user runs it: a subprocess serving the MLflow UI on 127.0.0.1 that
prints the URL of the latest sweep's runs table; that URL, opened in headless Chromium, lands
on the runs table (not MLflow 3's GenAI overview) with the trials, best first, their names
whole, and a dev_error column; Ctrl-C stops it with one line and no server left behind.

``SWEEPLAB_UI_SCREENSHOT=PATH`` keeps the landing's screenshot there."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from _ui_processes import listening, processes_mentioning
from sweeplab.cli import main

pytestmark = pytest.mark.slow

SWEEPLAB = str(Path(sys.executable).with_name("sweeplab"))


def test_ui_lands_on_the_latest_sweeps_runs_table_with_its_errors_and_stops_on_sigint(
    tiny_project, tmp_path
):
    from _browser import CHROMIUM_ARGS, require_chromium

    executable = require_chromium()
    ws = tmp_path / "ws"
    args = ["sweep", str(tiny_project), "--trials", "2", "--workspace", str(ws)]
    assert main([*args, "--name", "uisweep"]) == 0
    info = json.loads((ws / "sweeps" / "uisweep" / "sweep.json").read_text())
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{ws / 'mlflow.db'}")
    children = client.search_runs(
        [info["experiment_id"]],
        filter_string=f"tags.`mlflow.parentRunId` = '{info['parent_run_id']}'",
    )
    trials = {r.info.run_name: r.data.metrics["dev_error"] for r in children}
    assert len(trials) == 2 and all(n.startswith("#") for n in trials)

    proc = subprocess.Popen(
        [SWEEPLAB, "ui", "--workspace", str(ws)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = []
        while not lines or not lines[-1].startswith("Ctrl-C"):
            lines.append(proc.stdout.readline())
            assert lines[-1], f"sweeplab ui ended early: {lines}"
        said = "".join(lines)
        m = re.search(
            r"Runs of the latest sweep \(uisweep\): (http://127\.0\.0\.1:(\d+)/\S+)", said
        )
        assert m, f"sweeplab ui did not print the runs table's URL: {said!r}"
        landing, port = m.group(1), int(m.group(2))
        assert f"#/experiments/{info['experiment_id']}/runs?" in landing
        assert listening(port) == ["0100007F"]  # bound to the loopback address only
        kind = client.get_experiment(info["experiment_id"]).tags.get("mlflow.experimentKind")
        assert kind == "custom_model_development"

        from playwright.sync_api import sync_playwright

        errors: list[str] = []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=executable, args=list(CHROMIUM_ARGS))
            try:
                page = browser.new_page(viewport={"width": 1600, "height": 1000})
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                page.goto(landing, timeout=120_000)  # the URL exactly as printed
                for name in trials:  # the trials, not the GenAI overview
                    page.get_by_role("link", name=name, exact=True).wait_for(timeout=120_000)
                header = page.locator(".ag-header-cell[col-id='metrics.`dev_error`']")
                header.wait_for(timeout=60_000)
                assert header.inner_text().strip() == "dev_error"
                # best first: the table's first trial row is the lower dev_error
                best = min(trials, key=trials.get)
                names = page.locator("[role=row] a").all_inner_texts()
                assert [n for n in names if n in trials][0] == best
                # every trial's name fits its column: the settings are not cut off
                for name in trials:
                    link = page.get_by_role("link", name=name, exact=True)
                    box, cell = (
                        link.bounding_box(),
                        link.locator("xpath=ancestor::*[@role='gridcell']").bounding_box(),
                    )
                    assert box["x"] + box["width"] <= cell["x"] + cell["width"]
                png = Path(os.environ.get("SWEEPLAB_UI_SCREENSHOT", tmp_path / "mlflow-ui.png"))
                page.screenshot(path=str(png))
                assert "/runs" in page.url  # still the runs tab, not the GenAI overview
            finally:
                browser.close()
        assert errors == []
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
        try:
            out, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0
    assert out.strip() == "MLflow UI stopped."  # one line, no asyncio traceback
    assert listening(port) == []
    assert processes_mentioning(str(ws)) == []  # no mlflow server or worker left behind
