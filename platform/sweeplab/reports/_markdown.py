"""Markdown for report.md: the one table helper, and text from data made inert.

Class names, categories, example ids and parameter values come from the user's data. In a
Markdown table a ``|`` in one of them starts a new cell and a newline ends the row; raw HTML
(``<img src=x onerror=...>``, ``<script>``) is rendered by most Markdown viewers. So every
cell goes through :func:`md_cell`: HTML special characters as entities, ``|`` as ``&#124;``,
line breaks as spaces. A cell wrapped in :class:`Strong` is set in bold around its escaped text.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["Strong", "md_cell", "md_table", "md_text"]


class Strong(str):
    """A cell to set in bold (``**text**``), its text escaped like any other."""


def md_text(value: Any) -> str:
    """Inline text from data: HTML special characters as entities, line breaks as spaces."""
    return " ".join(html.escape(str(value), quote=False).splitlines())


def md_cell(value: Any) -> str:
    """A table cell: :func:`md_text`, and ``|`` as an entity so it cannot split the cell."""
    text = md_text(value).replace("|", "&#124;")
    return f"**{text}**" if isinstance(value, Strong) and text else text


def md_table(rows: Iterable[Sequence[Any]], header: Sequence[Any]) -> str:
    """A GitHub-flavoured Markdown table; every header and body cell through :func:`md_cell`."""
    header = list(header)
    lines = ["| " + " | ".join(md_cell(h) for h in header) + " |"]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines += ["| " + " | ".join(md_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
