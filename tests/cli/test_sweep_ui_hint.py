"""The line after a sweep points at the UI that has its runs: the tracking server when the
runs went to one, else ``sweeplab ui`` on the workspace's own store."""

from __future__ import annotations

from sweeplab.cli.sweep import ui_hint


def test_runs_on_a_tracking_server_are_looked_at_on_that_server():
    hint = ui_hint("http://127.0.0.1:5000", "3", "")
    assert hint == "http://127.0.0.1:5000/#/experiments/3"
    assert "sweeplab ui" not in hint


def test_the_server_hint_never_shows_a_password():
    hint = ui_hint("https://alice:s3cret@mlflow.internal:8443/", "7", "")
    assert hint == "https://mlflow.internal:8443/#/experiments/7"
    assert "s3cret" not in hint and "alice" not in hint


def test_a_workspace_store_is_looked_at_with_sweeplab_ui():
    assert ui_hint("sqlite:////tmp/ws/mlflow.db", "1", " --workspace /tmp/ws") == (
        "sweeplab ui --workspace /tmp/ws"
    )
