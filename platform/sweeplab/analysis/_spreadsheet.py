"""CSV meant for a spreadsheet: cells that a spreadsheet would run as a formula are neutralised.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return (after any
leading spaces) is a formula to Excel, LibreOffice and Google Sheets: ``=HYPERLINK(...)`` from
a class name or an example id would run when the sheet is opened (CSV injection). As OWASP
recommends, such a cell gets a leading ``'``, which spreadsheets show as text and do not
display. A cell that already starts with ``'`` gets one too, so :func:`restore_cell` returns
exactly the original. Numbers (``int``/``float`` values and text that reads as one, such as
``-0.5``) are not formulas and stay as they are.

Every CSV written for people (review.csv, error_table.csv, ``runs --csv``, ``sample``,
the tasks' error tables) goes through :func:`spreadsheet_csv` or :func:`neutralise_cell`;
JSON output keeps the raw values. Pure functions: the text is returned, not written.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

__all__ = ["neutralise_cell", "restore_cell", "restore_frame", "spreadsheet_csv", "csv_rows"]

#: What makes a spreadsheet read a cell as a formula (OWASP, "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_QUOTE = "'"


def _is_number_text(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _risky(text: str) -> bool:
    if text.startswith(_QUOTE):
        return True  # quoted again, so that restoring gives back exactly this text
    head = text.lstrip(" ")
    return head.startswith(FORMULA_STARTS) and not _is_number_text(text)


def neutralise_cell(value: Any) -> Any:
    """``value`` with a leading ``'`` when a spreadsheet would run it as a formula; numbers,
    booleans and missing values unchanged."""
    if not isinstance(value, str):
        return value
    return _QUOTE + value if _risky(value) else value


def restore_cell(value: Any) -> Any:
    """The value :func:`neutralise_cell` was given (text read back from such a CSV)."""
    if isinstance(value, str) and value.startswith(_QUOTE) and _risky(value[1:]):
        return value[1:]
    return value


def _neutralised(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out.columns = [neutralise_cell(c) for c in out.columns]
    out.index = out.index.map(neutralise_cell)
    if out.index.name is not None:
        out.index.name = neutralise_cell(out.index.name)
    for col in range(out.shape[1]):
        series = out.iloc[:, col]
        if not (pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series)):
            out.isetitem(col, series.astype(object).map(neutralise_cell))
    return out


def spreadsheet_csv(frame: pd.DataFrame, *, index: bool = False, **to_csv: Any) -> str:
    """``frame.to_csv(...)`` as text, with every text cell, header and index label
    neutralised."""
    safe = _neutralised(frame)
    if _has_cr(safe.to_numpy().ravel()) or _has_cr(safe.columns) or _has_cr(safe.index):
        to_csv.setdefault("quoting", csv.QUOTE_NONNUMERIC)
    return safe.to_csv(index=index, **to_csv)


def _has_cr(cells: Iterable[Any]) -> bool:
    """A lone carriage return, which the csv writers leave unquoted with a ``\\n`` line end
    (the row would break in two when read back): such rows are written with every text cell
    quoted."""
    return any(isinstance(c, str) and "\r" in c for c in cells)


def restore_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A frame read from a spreadsheet CSV (text cells) with its cells and headers restored."""
    out = frame.copy()
    out.columns = [restore_cell(c) for c in out.columns]
    for col in range(out.shape[1]):
        out.isetitem(col, out.iloc[:, col].map(restore_cell))
    return out


def csv_rows(header: Sequence[Any], rows: Iterable[Sequence[Any]]) -> str:
    """Rows written with the csv module (``lineterminator="\\n"``), cells neutralised."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    quoted = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC)
    for row in (header, *rows):
        cells = [neutralise_cell(c) for c in row]
        (quoted if _has_cr(cells) else writer).writerow(cells)
    return buf.getvalue()
