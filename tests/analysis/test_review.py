"""Review sheets: export, import with validation, and safe example ids."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sweeplab.analysis import error_table, merge_review, review_template, safe_example_id
from sweeplab.errors import UserError

IDS = list("abcdefghij")
Y_TRUE = [0, 0, 0, 1, 1, 1, 2, 2, 2, 2]
Y_PRED = [0, 1, 0, 1, 2, 1, 2, 0, 2, 1]  # errors: b, e, h, j
BLURRY = [False, True, False, False, True, False, False, True, False, False]


@pytest.fixture
def table():
    return error_table(IDS, Y_TRUE, Y_PRED, categories=pd.DataFrame({"blurry": BLURRY}))


def _filled(table, **marks):
    sheet = review_template(table, categories=("mislabeled", "dark"))
    for col, values in marks.items():
        sheet[col] = values
    return sheet


def test_template_has_the_errors_and_empty_columns(table):
    sheet = review_template(table)
    assert list(sheet.columns) == ["id", "y_true", "y_pred", "mislabeled", "notes"]
    assert sheet["id"].tolist() == ["b", "e", "h", "j"]
    assert (sheet["mislabeled"] == "").all()


def test_template_sample_is_a_reproducible_subset(table):
    a = review_template(table, sample=2, seed=1)
    b = review_template(table, sample=2, seed=1)
    assert a.equals(b) and len(a) == 2
    assert set(a["id"]) <= {"b", "e", "h", "j"}


def test_merge_adds_reviewed_categories_to_the_summary(table):
    sheet = _filled(table, mislabeled=["x", "", "yes", "0"], dark=["no", "TRUE", "", "1"])
    sheet["notes"] = ["label says cat", "", "", "free text, not a mark"]
    merged = merge_review(table, sheet)
    assert merged.categories == ("blurry", "mislabeled", "dark")
    assert merged.rows["mislabeled"].tolist() == [True, False, True, False]
    assert merged.summary.loc["mislabeled", "errors"] == 2
    assert merged.summary.loc["mislabeled", "pct_of_errors"] == pytest.approx(50.0)
    assert merged.summary.loc["mislabeled", "ceiling"] == pytest.approx(0.2)
    assert np.isnan(merged.summary.loc["mislabeled", "pct_of_dev"])
    assert "notes" not in merged.categories
    # the input table is unchanged
    assert table.categories == ("blurry",)


def test_merge_of_a_sample_estimates_shares_on_the_reviewed_examples(table):
    sheet = _filled(table, mislabeled=["x", "", "yes", "0"], dark=[""] * 4).iloc[:2]
    merged = merge_review(table, sheet)
    assert merged.rows["mislabeled"].isna().tolist() == [False, False, True, True]
    s = merged.summary.loc["mislabeled"]
    assert s["examined"] == 2 and s["errors"] == 1
    assert s["pct_of_errors"] == pytest.approx(50.0)
    assert s["ceiling"] == pytest.approx(0.5 * 0.4)  # share of errors × dev error


def test_review_overrides_an_automatic_category_for_reviewed_rows(table):
    sheet = review_template(table, categories=()).iloc[:1]
    sheet["blurry"] = ["no"]
    merged = merge_review(table, sheet)
    assert merged.rows["blurry"].tolist() == [False, True, True, False]
    assert merged.summary.loc["blurry", "errors"] == 2


def test_merge_reads_csv_bytes(table, tmp_path):
    path = tmp_path / "review.csv"
    _filled(table, mislabeled=["x", "", "", ""], dark=[""] * 4).to_csv(path, index=False)
    merged = merge_review(table, path.read_bytes(), source=str(path))
    assert merged.summary.loc["mislabeled", "errors"] == 1


def test_unknown_ids_are_listed_with_the_file_name(table):
    sheet = _filled(table, mislabeled=[""] * 4, dark=[""] * 4)
    sheet.loc[0, "id"] = "zz"
    sheet.loc[1, "id"] = "a"  # correctly classified: not in the table either
    with pytest.raises(UserError) as info:
        merge_review(table, sheet, source="my_review.csv")
    msg = str(info.value)
    assert msg.startswith("my_review.csv: ")
    assert "2 example id(s)" in msg and "'zz'" in msg and "'a'" in msg


def test_unknown_ids_preview_is_short(table):
    sheet = pd.DataFrame({"id": [f"u{i}" for i in range(8)], "y_true": 0, "y_pred": 1})
    with pytest.raises(UserError, match="and 3 more"):
        merge_review(table, sheet)


@pytest.mark.parametrize("missing", ["id", "y_true", "y_pred"])
def test_missing_required_column_names_it_and_the_file(table, missing):
    sheet = _filled(table, mislabeled=[""] * 4, dark=[""] * 4).drop(columns=[missing])
    with pytest.raises(UserError) as info:
        merge_review(table, sheet, source="r.csv")
    assert info.value.file == "r.csv"
    assert f"missing required column '{missing}'" in str(info.value)


def test_misspelled_required_column_gets_close_matches(table):
    sheet = _filled(table, mislabeled=[""] * 4, dark=[""] * 4).rename(columns={"y_pred": "y_prd"})
    with pytest.raises(UserError) as info:
        merge_review(table, sheet)
    assert info.value.suggestions == ["y_prd"]


def test_non_boolean_mark_names_file_line_and_column(table):
    sheet = _filled(table, mislabeled=["x", "maybe", "", ""], dark=[""] * 4)
    with pytest.raises(UserError) as info:
        merge_review(table, sheet, source="r.csv")
    err = info.value
    assert (err.file, err.line, err.key) == ("r.csv", 3, "mislabeled")  # header is line 1
    assert "'maybe'" in str(err) and "'e'" in str(err)


def test_labels_from_another_run_are_caught(table):
    sheet = _filled(table, mislabeled=[""] * 4, dark=[""] * 4)
    sheet.loc[2, "y_pred"] = 1  # table has 0 for id h
    with pytest.raises(UserError, match="another run"):
        merge_review(table, sheet)


def test_duplicate_ids_are_rejected(table):
    sheet = _filled(table, mislabeled=[""] * 4, dark=[""] * 4)
    sheet = pd.concat([sheet, sheet.iloc[:1]], ignore_index=True)
    with pytest.raises(UserError, match="appears twice"):
        merge_review(table, sheet)


def test_integer_ids_match_text_ids_from_csv(tmp_path):
    t = error_table([10, 11, 12], [0, 1, 1], [1, 1, 0])
    path = tmp_path / "r.csv"
    path.write_text("id,y_true,y_pred,mislabeled\n10,0,1,x\n12,1,0,\n")
    merged = merge_review(t, path.read_bytes())
    assert merged.rows["mislabeled"].tolist() == [True, False]


def test_unreadable_csv_is_a_user_error_naming_the_source(table):
    with pytest.raises(UserError, match=r"^r\.csv: not a readable CSV file"):
        merge_review(table, b'id,y_true,y_pred\n"a,0', source="r.csv")


@pytest.mark.parametrize("good", ["img_001.png", "cat 3", 42, "ünïcode"])
def test_safe_example_id_accepts_plain_names(good):
    assert safe_example_id(good) == str(good)


@pytest.mark.parametrize("bad", ["", ".", "..", "a/b", "..\\x", "a\0b", "line\nbreak", "x" * 256])
def test_safe_example_id_rejects_paths_and_nul(bad):
    with pytest.raises(UserError):
        safe_example_id(bad)
