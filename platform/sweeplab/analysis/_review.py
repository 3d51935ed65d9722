"""Manual review of misclassified examples: export a sheet, import the filled-in marks.

The curriculum's error analysis is done by people: look at (say) 100 misclassified dev
examples and check a column for each reason (mislabeled, blurry, …). :func:`review_template`
writes that sheet; :func:`merge_review` reads it back into the :class:`ErrorTable`.

Every row of the review is a reviewed example: delete the rows you did not look at (or export
a sample with ``review_template(table, sample=100)``). A reviewed category's share of the
errors is then estimated on the reviewed examples; examples not in the review are ``<NA>`` in
that column, never silently "not in the category".
"""

from __future__ import annotations

import io
import math
import os
import re
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import replace

import numpy as np
import pandas as pd

from sweeplab.analysis._error_table import INFO_COLUMNS, ErrorTable, summarize
from sweeplab.analysis._spreadsheet import restore_frame
from sweeplab.errors import UserError, close_matches

__all__ = ["merge_review", "read_review", "review_template", "safe_example_id"]

REQUIRED_COLUMNS = ("id", "y_true", "y_pred")
#: Free-text columns: kept for people, never read as marks.
TEXT_COLUMNS = ("notes", "note", "comment", "comments", "suggested_label", "label_quality")
_YES = frozenset({"x", "1", "yes", "y", "true", "t"})
_NO = frozenset({"", "0", "no", "n", "false", "f"})
_ACCEPTED = "x, 1, yes or true for a mark; 0, no, false or an empty cell for none"


def safe_example_id(example_id: object) -> str:
    """``str(example_id)``, checked to be usable as one file name (no directories).

    Raises :class:`UserError` for an empty id, ``.`` / ``..``, path separators (``/`` or
    ``\\``), NUL or other control characters, or more than 255 bytes. Ids are rejected, not
    rewritten, so two different ids can never map to the same file.
    """
    s = str(example_id)
    problem = None
    if s in ("", ".", ".."):
        problem = "must be a non-empty name other than '.' and '..'"
    elif any(sep in s for sep in {"/", "\\", os.sep, os.altsep or "/"}):
        problem = "must not contain path separators ('/' or '\\')"
    elif "\0" in s or any(ord(c) < 32 or ord(c) == 127 for c in s):
        problem = "must not contain NUL or control characters"
    elif len(s.encode("utf-8")) > 255:
        problem = "must be at most 255 bytes long"
    if problem:
        raise UserError(f"example id {problem} to be used as a file name, but got {s!r}", key="id")
    return s


def review_template(
    table: ErrorTable,
    *,
    categories: Sequence[str] = ("mislabeled",),
    notes: bool = True,
    sample: int | None = None,
    seed: int = 0,
    suggested: Mapping[Hashable, str] | None = None,
) -> pd.DataFrame:
    """The review sheet: one row per misclassified example (or a random ``sample`` of them)
    with ``id``, ``y_true``, ``y_pred`` (``confidence`` when known), an empty column per
    category to check, and a free ``notes`` column. People may add more category columns.

    ``suggested``: ``{id: label}`` of the probable label errors (in order, most suspect
    first): they come first (and are always in a sample), with a pre-filled
    ``suggested_label`` column (present, maybe empty, whenever ``suggested`` is given)."""
    cats = list(categories)
    bad = [c for c in cats if c in REQUIRED_COLUMNS or c in INFO_COLUMNS or c in TEXT_COLUMNS]
    if bad:
        raise UserError(f"{bad[0]!r} is a reserved column name", key="categories")
    if len(set(cats)) != len(cats):
        raise UserError("category names must be unique", key="categories")
    rows = table.rows
    checked = suggested is not None
    suggested = dict(suggested or {})
    first = [i for i in suggested if i in rows.index]
    rest = rows.drop(index=first)
    if sample is not None:
        if isinstance(sample, bool) or not isinstance(sample, int) or sample < 1:
            raise UserError(f"must be a positive integer, but got {sample!r}", key="sample")
        room = max(sample - len(first), 0)
        if room < len(rest):
            rng = np.random.default_rng(seed)
            rest = rest.iloc[np.sort(rng.choice(len(rest), size=room, replace=False))]
    rows = pd.concat([rows.loc[first], rest])
    out = pd.DataFrame({"id": rows.index.to_numpy()})
    for col in ("y_true", "y_pred", "confidence"):
        if col in rows.columns:
            out[col] = rows[col].to_numpy()
    if checked:
        out["suggested_label"] = [str(suggested.get(i, "")) for i in rows.index]
    for c in cats:
        out[c] = ""
    if notes:
        out["notes"] = ""
    return out


def read_review(data: bytes, *, source: str = "review.csv") -> pd.DataFrame:
    """Parse the bytes of a review CSV (read by the caller, within its size limit) as text
    cells (empty cells stay ``""``), the ``'`` that kept a spreadsheet from running a cell as
    a formula taken off again (see ``_spreadsheet``)."""
    try:
        sheet = pd.read_csv(
            io.BytesIO(data), dtype=str, keep_default_na=False, skipinitialspace=True
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise UserError(f"not a readable CSV file ({exc})", file=source) from None
    return restore_frame(sheet)


def _cell(value: object) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _same_label(found: str, expected: object) -> bool:
    if found == _cell(expected):
        return True
    try:
        return float(found) == float(expected)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def _preview(values: Sequence[str], n: int = 5) -> str:
    shown = ", ".join(repr(v) for v in values[:n])
    return shown + (f" and {len(values) - n} more" if len(values) > n else "")


def merge_review(
    table: ErrorTable,
    review: pd.DataFrame | bytes,
    *,
    source: str | None = None,
    text_columns: Sequence[str] = TEXT_COLUMNS,
) -> ErrorTable:
    """Return ``table`` with the review's categories added (or updated for reviewed rows).

    ``review`` is a DataFrame or the bytes of a CSV file; ``source`` names it in errors
    (default: ``"review.csv"``; line numbers assume one CSV line per row after the header). Required
    columns: ``id``, ``y_true``, ``y_pred`` (checked against the table, so a sheet from another
    run is caught). Every other column except ``confidence``/``p_true`` and free-text columns
    (``text_columns``) is a category of marks. A category that already exists in the table
    keeps its values for examples not in the review.
    """
    source = source or "review.csv"
    if isinstance(review, bytes):
        review = read_review(review, source=source)
    if not isinstance(review, pd.DataFrame):
        raise UserError(f"review must be a DataFrame or CSV bytes, got {type(review).__name__}")
    df = review.rename(columns=lambda c: str(c).strip())

    columns = [str(c) for c in df.columns]
    for col in REQUIRED_COLUMNS:
        if col not in columns:
            raise UserError(
                f"missing required column {col!r}; found columns: {', '.join(columns) or '(none)'}.",
                file=source,
                suggestions=close_matches(col, [c for c in columns if c not in REQUIRED_COLUMNS]),
            )
    unnamed = [c for c in columns if re.fullmatch(r"Unnamed: \d+", c) or c == ""]
    for c in unnamed:
        if any(_cell(v) for v in df[c]):
            raise UserError("a column with values has no name in the header", file=source)
    df = df.drop(columns=unnamed)
    skip = set(REQUIRED_COLUMNS) | set(INFO_COLUMNS) | set(text_columns)
    mark_columns = [str(c) for c in df.columns if str(c) not in skip]

    by_text = {_cell(i): i for i in table.rows.index}
    ids = [_cell(v) for v in df["id"]]
    unknown = [i for i in ids if i not in by_text]
    if unknown:
        raise UserError(
            f"{len(unknown)} example id(s) are not misclassified examples of this table: "
            f"{_preview(unknown)}",
            file=source,
            key="id",
        )
    seen: dict[str, int] = {}
    for pos, i in enumerate(ids):
        if i in seen:
            raise UserError(
                f"example id {i!r} appears twice (lines {seen[i] + 2} and {pos + 2})",
                file=source,
                line=pos + 2,
                key="id",
            )
        seen[i] = pos

    index = [by_text[i] for i in ids]
    for col in ("y_true", "y_pred"):
        for pos, (found, key) in enumerate(zip(df[col], index, strict=True)):
            expected = table.rows.at[key, col]
            if not _same_label(_cell(found), expected):
                raise UserError(
                    f"id {ids[pos]!r} has {_cell(found)!r} but the table has {_cell(expected)!r}; "
                    "is the review from another run?",
                    file=source,
                    line=pos + 2,
                    key=col,
                )

    rows = table.rows.copy()
    sizes = dict(table.category_sizes)
    cats = list(table.categories)
    for col in mark_columns:
        marks = []
        for pos, value in enumerate(df[col]):
            text = _cell(value).lower()
            if text in _YES:
                marks.append(True)
            elif text in _NO:
                marks.append(False)
            else:
                raise UserError(
                    f"expected a mark ({_ACCEPTED}), but got {_cell(value)!r} for id {ids[pos]!r}",
                    file=source,
                    line=pos + 2,
                    key=col,
                )
        if col not in rows.columns:
            rows[col] = pd.array([pd.NA] * len(rows), dtype="boolean")
            cats.append(col)
        rows.loc[index, col] = marks
        rows[col] = rows[col].astype("boolean")
        sizes[col] = None  # people reviewed errors only: the category's dev-set size is unknown

    summary = summarize(rows, cats, n_dev=table.n_dev, category_sizes=sizes)
    return replace(table, rows=rows, summary=summary, categories=tuple(cats), category_sizes=sizes)
