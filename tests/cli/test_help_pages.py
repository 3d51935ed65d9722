"""Every `--help` page: paragraphs reflow to the terminal (no hard breaks from the source) and
an on/off flag shows no ``<bool>``."""

from __future__ import annotations

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from sweeplab.cli import app

WIDTH = 100


def _commands(cmd, path=()):
    yield path
    for name, sub in getattr(cmd, "commands", {}).items():
        yield from _commands(sub, (*path, name))


COMMANDS = list(_commands(get_command(app)))


def _help(path: tuple[str, ...], width: int) -> list[str]:
    result = CliRunner().invoke(
        app, [*path, "--help"], env={"COLUMNS": str(width)}, terminal_width=width
    )
    assert result.exit_code == 0, result.output
    return result.output.splitlines()


def _description(lines: list[str]) -> list[list[str]]:
    """The paragraphs between the usage line and the first panel."""
    start = next(i for i, line in enumerate(lines) if "Usage:" in line) + 1
    end = next(i for i, line in enumerate(lines) if line.startswith("╭"))
    paragraphs, current = [], []
    for line in lines[start:end]:
        if line.strip():
            current.append(line.strip())
        elif current:
            paragraphs.append(current)
            current = []
    return paragraphs + ([current] if current else [])


def test_every_command_is_covered():
    assert {p[0] for p in COMMANDS if p} >= {"sweep", "runs", "report", "ui", "models", "splits"}
    assert ("models", "list") in COMMANDS


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "sweeplab")
def test_help_reflows_and_shows_no_bool(path):
    lines = _help(path, WIDTH)
    text = "\n".join(lines)
    assert "<bool>" not in text
    assert "--help" in text
    for para in _description(lines):
        # a line that ends a paragraph early is a hard break from the source: every line but
        # the last is filled up to the width less the next word
        for line, nxt in zip(para, para[1:], strict=False):
            if nxt.startswith("- "):
                continue
            next_word = nxt.split()[0]
            assert len(line) + 1 + len(next_word) > WIDTH - 4, (path, line, nxt)
    # wider terminal, fewer lines: the text follows the width
    wide = _description(_help(path, 200))
    assert sum(map(len, wide)) <= sum(map(len, _description(lines)))
    assert [" ".join(p) for p in wide] == [" ".join(p) for p in _description(lines)]
