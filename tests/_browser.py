"""Open a page in headless Chromium and take a screenshot: shared by tests of HTML output.

``screenshot(page, png)`` loads a local HTML file (or a URL), waits for the page to settle,
saves a full-page PNG and returns the page's errors (uncaught exceptions, console errors and
failed requests), so a test can assert there are none. Chromium is the system's
(``/usr/bin/chromium``, or ``$SWEEPLAB_CHROMIUM``); the browser runs offline: no GPU, no
background networking, no component updates.

Tests call :func:`require_chromium` first: where no Chromium is installed they are skipped
with the reason; CI installs it, so there they run.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

__all__ = [
    "INSTALL_CHROMIUM",
    "CHROMIUM_ARGS",
    "chromium_path",
    "counts",
    "require_chromium",
    "screenshot",
]

#: The command that installs the browser, as the README gives it next to the test command.
INSTALL_CHROMIUM = "sudo apt-get install -y chromium"

CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def chromium_path() -> str | None:
    """The Chromium binary to use, or None when there is none."""
    for candidate in (
        os.environ.get("SWEEPLAB_CHROMIUM"),
        "/usr/bin/chromium",
        shutil.which("chromium"),
    ):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def _missing(reason: str) -> None:
    # On a developer's machine a missing browser skips the test; in CI (.ci/run installs
    # Chromium) it is a failure, so the browser tests can never silently stop running.
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the browser tests: {reason}")
    pytest.skip(reason)


def require_chromium() -> str:
    """The Chromium path; skips the calling test (fails it in CI) when Chromium or playwright is missing."""
    path = chromium_path()
    if path is None:
        _missing(
            f"no Chromium at /usr/bin/chromium (or $SWEEPLAB_CHROMIUM); install it: {INSTALL_CHROMIUM}"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _missing("the playwright package is not installed: pip install -e '.[test]'")
    return path


def screenshot(
    page_path_or_url: str | os.PathLike[str],
    png_path: str | os.PathLike[str],
    *,
    width: int = 1280,
    height: int = 900,
    wait_for: str | None = None,
    timeout_ms: int = 30_000,
) -> list[str]:
    """Load the page, save a full-page PNG to ``png_path``; return the page's errors.

    ``wait_for`` is a CSS selector to wait for before the screenshot (e.g. a plot's
    ``.main-svg``). Errors are ``"pageerror: …"``, ``"console.error: …"`` and
    ``"requestfailed: URL (reason)"`` lines.
    """
    from playwright.sync_api import sync_playwright

    executable = require_chromium()
    target = str(page_path_or_url)
    if "://" not in target:
        target = Path(target).resolve().as_uri()
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=executable, args=list(CHROMIUM_ARGS), headless=True
        )
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
            page.on(
                "console",
                lambda msg: (
                    errors.append(f"console.error: {msg.text}") if msg.type == "error" else None
                ),
            )
            page.on(
                "requestfailed",
                lambda req: errors.append(f"requestfailed: {req.url} ({req.failure})"),
            )
            page.goto(target, wait_until="load", timeout=timeout_ms)
            if wait_for:
                page.wait_for_selector(wait_for, timeout=timeout_ms)
            Path(png_path).parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(png_path), full_page=True)
        finally:
            browser.close()
    return errors


def counts(
    page_path_or_url: str | os.PathLike[str], selectors: list[str], *, timeout_ms: int = 30_000
) -> dict[str, int]:
    """How many elements match each CSS selector once the page has loaded (scripts run)."""
    from playwright.sync_api import sync_playwright

    executable = require_chromium()
    target = str(page_path_or_url)
    if "://" not in target:
        target = Path(target).resolve().as_uri()
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=executable, args=list(CHROMIUM_ARGS), headless=True
        )
        try:
            page = browser.new_page()
            page.goto(target, wait_until="load", timeout=timeout_ms)
            return {sel: page.locator(sel).count() for sel in selectors}
        finally:
            browser.close()
