"""Underscores stay visible in the pages' header lines: ``digits_mlp.yaml`` in a ``<code>``
of a header paragraph must not render like ``digits mlp.yaml`` (headless Chromium, 1x)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageChops
from tests._browser import CHROMIUM_ARGS, require_chromium
from tests.conftest import REPO

TEMPLATES = ["sweep.html.j2", "report.html.j2", "review.html.j2", "task_report.html.j2"]


def _render(chromium: str, style: str, text: str, png: Path) -> Image.Image:
    html = png.with_suffix(".html")
    html.write_text(
        f'<!DOCTYPE html><html><head><meta charset="utf-8">{style}</head><body>'
        f'<h1>sweep <code>x</code></h1><p class="meta">project <code>{text}</code> · seed 0'
        f"<br>constraints <code>latency_ms &lt;= 5</code> · parent run <code>a937fb24b96f</code>"
        "</p></body></html>",
        encoding="utf-8",
    )
    subprocess.run(
        [chromium, *CHROMIUM_ARGS, "--window-size=600,200", f"--screenshot={png}", html.as_uri()],
        capture_output=True,
        timeout=120,
        check=False,
    )
    return Image.open(png).convert("L")


@pytest.mark.parametrize("template", TEMPLATES)
def test_an_underscore_in_a_header_code_is_drawn(template, tmp_path):
    chromium = require_chromium()
    style = re.search(r"<style>.*?</style>", (REPO / "dashboards" / template).read_text(), re.S)
    assert style, template
    with_underscore = _render(chromium, style.group(0), "digits_mlp.yaml", tmp_path / "a.png")
    with_space = _render(chromium, style.group(0), "digits mlp.yaml", tmp_path / "b.png")
    box = ImageChops.difference(with_underscore, with_space).getbbox()
    assert box is not None, f"{template}: the underscore of digits_mlp.yaml is not drawn"
    assert box[3] - box[1] <= 4  # the difference is the underscore: a thin line, nothing else
