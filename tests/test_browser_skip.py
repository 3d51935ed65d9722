"""Where Chromium is missing the browser tests are skipped, and the skip reason gives the
command that installs it: the one the README puts next to the test command."""

from __future__ import annotations

from pathlib import Path

import pytest

import _browser

README = Path(__file__).resolve().parents[1] / "README.md"
TEST_COMMAND = ".venv/bin/pytest -n 2"


def test_the_skip_reason_names_the_install_command(monkeypatch):
    monkeypatch.setattr(_browser, "chromium_path", lambda: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception) as skipped:
        _browser.require_chromium()
    assert _browser.INSTALL_CHROMIUM in str(skipped.value)


def test_the_readme_gives_the_install_command_next_to_the_test_command():
    text = README.read_text()
    after_tests = text[text.index(TEST_COMMAND) :]
    # in the lines that follow the test command, before the next section
    assert _browser.INSTALL_CHROMIUM in after_tests[: after_tests.index("\n## ")]
