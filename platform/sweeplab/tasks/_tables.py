"""Report tables: the numbers a task's report shows, with their display strings.

A task builds its tables from what its trials logged (``analysis/*.json``); the reports
render them as HTML and Markdown and write the numbers as JSON.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["ReportTable", "num", "pct", "report_table"]


@dataclass
class ReportTable:
    """A rendered table: ``cells`` are display strings; ``frame`` the numbers (JSON, CSV)."""

    id: str
    title: str
    note: str
    frame: pd.DataFrame
    header: list[str]
    cells: list[list[str]]
    left: int = 1  # the first ``left`` columns are text


def pct(x: Any, digits: int | None = None) -> str:
    """``0.0812 -> '8.1%'``; below 1% two decimals; None / NaN -> '–'."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    x = float(x)
    if digits is None:
        digits = 1 if abs(x) >= 0.01 or x == 0 else 2
    return f"{x * 100:.{digits}f}%"


def num(x: Any, digits: int = 3) -> str:
    """Counts as integers, other numbers to ``digits`` significant digits; NaN -> '–'."""
    if x is None or (isinstance(x, float | np.floating) and not math.isfinite(float(x))):
        return "–"
    if isinstance(x, float | np.floating):
        return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{float(x):.{digits}g}"
    return str(x)


def report_table(
    id: str,  # noqa: A002 - the HTML id
    title: str,
    note: str,
    frame: pd.DataFrame,
    formats: dict[str, Callable[[Any], str]],
    *,
    left: int = 1,
) -> ReportTable:
    """The columns of ``formats`` (in its order), each cell shown by its column's format."""
    cols = list(formats)
    cells = [[formats[c](row[c]) for c in cols] for _, row in frame.iterrows()]
    return ReportTable(id, title, note, frame.reset_index(drop=True), cols, cells, left)
