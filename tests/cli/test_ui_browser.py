"""`sweeplab ui` as a user runs it: a subprocess serving the MLflow UI on 127.0.0.1, whose
experiment page (in headless Chromium) lists the sweep's parent run with its trials nested
under it, and which stops cleanly on SIGINT (Ctrl-C) without leaving a server behind."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from sweeplab.cli import main

pytestmark = pytest.mark.slow

SWEEPLAB = str(Path(sys.executable).with_name("sweeplab"))


def _listening(port: int) -> list[str]:
    """Local addresses (hex, as in /proc/net/tcp*) with a socket listening on ``port``."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        with open(table) as f:
            for line in f.readlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                addr, hexport = local.rsplit(":", 1)
                if state == "0A" and int(hexport, 16) == port:
                    found.append(addr)
    return found


def _processes_mentioning(text: str) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if text in cmdline:
                pids.append(int(entry))
    return pids


def _wait_healthy(url: str, proc: subprocess.Popen, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, "sweeplab ui exited before serving"
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"the MLflow UI at {url} did not answer within {timeout_s} s")


def test_ui_lists_the_sweep_with_nested_trials_binds_localhost_and_stops_on_sigint(
    tiny_project, tmp_path
):
    from _browser import CHROMIUM_ARGS, require_chromium

    executable = require_chromium()
    ws = tmp_path / "ws"
    assert (
        main(
            [
                "sweep",
                str(tiny_project),
                "--name",
                "uisweep",
                "--trials",
                "2",
                "--workspace",
                str(ws),
            ]
        )
        == 0
    )
    info = json.loads((ws / "sweeps" / "uisweep" / "sweep.json").read_text())
    from mlflow import MlflowClient

    children = MlflowClient(info["tracking_uri"]).search_runs(
        [info["experiment_id"]],
        filter_string=f"tags.`mlflow.parentRunId` = '{info['parent_run_id']}'",
    )
    child_names = sorted(r.info.run_name for r in children)
    assert len(child_names) == 2 and all(n.startswith("#") for n in child_names)

    proc = subprocess.Popen(
        [SWEEPLAB, "ui", "--workspace", str(ws)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        first = proc.stdout.readline()
        m = re.search(r"http://127\.0\.0\.1:(\d+)", first)
        assert m, f"sweeplab ui did not print its URL: {first!r}"
        port = int(m.group(1))
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, proc)
        # bound to the loopback address only (127.0.0.1 is 0100007F in /proc/net/tcp)
        assert _listening(port) == ["0100007F"]

        from playwright.sync_api import sync_playwright

        errors: list[str] = []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=executable, args=list(CHROMIUM_ARGS))
            try:
                page = browser.new_page(viewport={"width": 1600, "height": 1000})
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                page.goto(
                    f"{url}/#/experiments/{info['experiment_id']}/runs?workflowType=machine_learning",
                    timeout=120_000,
                )
                parent = page.get_by_role("link", name="uisweep", exact=True)
                parent.wait_for(timeout=120_000)
                # trials are nested: collapsed under the parent until it is expanded
                row = page.locator("[role=row]", has=parent)
                first_child = page.get_by_role("link", name=child_names[0], exact=True)
                if first_child.count() == 0:
                    row.locator("button").first.click()
                for name in child_names:
                    page.get_by_role("link", name=name, exact=True).wait_for(timeout=60_000)
                page.screenshot(path=str(tmp_path / "mlflow-ui.png"))
                assert page.get_by_role("link", name="uisweep", exact=True).count() == 1
                for name in child_names:
                    assert page.get_by_role("link", name=name, exact=True).count() == 1
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
    assert "MLflow UI stopped." in out
    assert _listening(port) == []
    assert _processes_mentioning(str(ws)) == []  # no mlflow server or worker left behind
