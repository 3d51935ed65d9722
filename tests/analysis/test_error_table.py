"""Error-analysis tables on a hand-made dev set with known counts."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sweeplab.analysis import (
    bucketize,
    class_tags,
    confusion,
    error_table,
    per_class_errors,
    quality_tags,
)
from sweeplab.errors import UserError

# 10 dev examples; errors at b (0→1), e (1→2), h (2→0), j (2→1): dev error 40%
IDS = list("abcdefghij")
Y_TRUE = [0, 0, 0, 1, 1, 1, 2, 2, 2, 2]
Y_PRED = [0, 1, 0, 1, 2, 1, 2, 0, 2, 1]
TAGS = pd.DataFrame(
    {
        "blurry": [False, True, False, False, True, False, False, True, False, False],
        "domain": ["web", "phone", "web", "web", "phone", "web", "phone", "phone", "web", "web"],
    }
)


@pytest.fixture
def table():
    return error_table(IDS, Y_TRUE, Y_PRED, categories=TAGS)


def test_rows_are_the_misclassified_examples_with_category_columns(table):
    assert list(table.rows.index) == ["b", "e", "h", "j"]
    assert table.rows.index.name == "id"
    assert table.categories == ("blurry", "domain=phone", "domain=web")
    assert list(table.rows.columns) == ["y_true", "y_pred", *table.categories]
    assert table.rows["blurry"].tolist() == [True, True, True, False]
    assert table.rows["domain=web"].tolist() == [False, False, False, True]
    assert table.n_errors == 4 and table.n_dev == 10
    assert table.dev_error == pytest.approx(0.4)


def test_summary_counts_shares_and_ceilings_exactly(table):
    s = table.summary
    assert list(s.index) == ["blurry", "domain=phone", "domain=web"]  # most errors first
    assert s["errors"].tolist() == [3, 3, 1]
    assert s["examined"].tolist() == [4, 4, 4]
    assert s["pct_of_errors"].tolist() == pytest.approx([75.0, 75.0, 25.0])
    assert s["pct_of_dev"].tolist() == pytest.approx([30.0, 40.0, 60.0])
    assert s["category_error"].tolist() == pytest.approx([1.0, 0.75, 1 / 6])
    assert s["ceiling"].tolist() == pytest.approx([0.3, 0.3, 0.1])


def test_ceilings_are_bounded_by_dev_error_and_need_not_add_up(table):
    ceilings = table.summary["ceiling"]
    assert (ceilings <= table.dev_error + 1e-12).all()
    assert ceilings.sum() > table.dev_error  # categories overlap


def test_probabilities_give_confidence_and_p_true():
    probs = np.full((10, 3), 0.1)
    probs[np.arange(10), Y_PRED] = 0.8
    t = error_table(IDS, Y_TRUE, Y_PRED, probs=probs)
    assert t.rows["confidence"].tolist() == pytest.approx([0.8] * 4)
    assert t.rows["p_true"].tolist() == pytest.approx([0.1] * 4)


def test_string_labels_with_classes_and_binary_probs():
    t = error_table(
        [1, 2, 3],
        ["cat", "dog", "cat"],
        ["dog", "dog", "cat"],
        probs=[[0.3, 0.7], [0.2, 0.8], [0.9, 0.1]],
        classes=["cat", "dog"],
    )
    assert t.rows["confidence"].tolist() == pytest.approx([0.7])
    b = error_table([1, 2], [0, 1], [1, 1], probs=[0.6, 0.9])
    assert b.rows["p_true"].tolist() == pytest.approx([0.4])


def test_only_errors_given_with_n_dev():
    wrong = [1, 4, 7, 9]
    t = error_table(
        [IDS[i] for i in wrong],
        [Y_TRUE[i] for i in wrong],
        [Y_PRED[i] for i in wrong],
        categories=TAGS.iloc[wrong].reset_index(drop=True),
        n_dev=10,
    )
    assert t.summary.loc["blurry", "ceiling"] == pytest.approx(0.3)
    assert t.summary.loc["blurry", "pct_of_errors"] == pytest.approx(75.0)
    assert math.isnan(t.summary.loc["blurry", "pct_of_dev"])  # dev-set size of category unknown


def test_tags_align_by_id_index():
    shuffled = TAGS.set_axis(IDS).iloc[::-1]
    t = error_table(IDS, Y_TRUE, Y_PRED, categories=shuffled)
    assert t.rows["blurry"].tolist() == [True, True, True, False]


def test_default_index_means_position_even_when_ids_are_integers():
    tags = pd.DataFrame({"x": [True, False, False]})  # about examples 2, 0, 1 in this order
    t = error_table([2, 0, 1], [0, 0, 0], [1, 1, 1], categories=tags)
    assert t.rows.loc[2, "x"] and not t.rows.loc[0, "x"]


def test_tags_with_foreign_index_are_rejected():
    with pytest.raises(UserError, match="indexed by the example ids"):
        error_table(IDS, Y_TRUE, Y_PRED, categories=TAGS.set_axis(list("klmnopqrst")))


def test_categorical_tags_keep_category_order_and_nan_is_in_no_category():
    tags = pd.DataFrame(
        {"size": pd.Categorical(["big", "small", None, "big"], categories=["small", "big"])}
    )
    t = error_table([0, 1, 2, 3], [0, 0, 0, 0], [1, 1, 1, 1], categories=tags)
    assert t.categories == ("size=small", "size=big")
    assert t.summary.loc["size=big", "errors"] == 2
    assert t.summary.loc["size=small", "errors"] == 1


def test_no_errors_gives_an_empty_table():
    t = error_table([1, 2], [0, 1], [0, 1], categories=pd.DataFrame({"x": [True, False]}))
    assert t.n_errors == 0 and t.dev_error == 0
    assert t.summary.loc["x", "errors"] == 0
    assert t.summary.loc["x", "ceiling"] == 0


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"y_pred": [0, 1]}, "same length"),
        ({"ids": ["a"] * 10}, "unique"),
        ({"n_dev": 5}, "n_dev"),
        ({"categories": TAGS.iloc[:3]}, "one row per example"),
        ({"probs": np.ones((10, 2)) / 2}, "not one of the probability columns"),
        ({"probs": np.full((10, 3), np.nan)}, "finite"),
    ],
)
def test_bad_inputs_are_user_errors(kwargs, fragment):
    args = {"ids": IDS, "y_true": Y_TRUE, "y_pred": Y_PRED} | kwargs
    with pytest.raises(UserError, match=fragment):
        error_table(args.pop("ids"), args.pop("y_true"), args.pop("y_pred"), **args)


def test_confusion_counts():
    cm = confusion(Y_TRUE, Y_PRED, classes=[0, 1, 2])
    assert cm.to_numpy().tolist() == [[2, 1, 0], [0, 2, 1], [1, 1, 2]]
    assert cm.index.name == "true" and cm.columns.name == "predicted"
    assert cm.to_numpy().sum() == 10
    with pytest.raises(UserError, match="not one of the classes"):
        confusion(Y_TRUE, Y_PRED, classes=[0, 1])


def test_per_class_errors():
    pc = per_class_errors(Y_TRUE, Y_PRED)
    assert list(pc.index) == [2, 0, 1]
    assert pc["support"].tolist() == [4, 3, 3]
    assert pc["errors"].tolist() == [2, 1, 1]
    assert pc["error_rate"].tolist() == pytest.approx([0.5, 1 / 3, 1 / 3])
    assert pc["pct_of_errors"].tolist() == pytest.approx([50.0, 25.0, 25.0])
    assert pc["ceiling"].sum() == pytest.approx(0.4)  # true classes partition the errors


def test_class_tags_feed_the_table():
    tags = class_tags(Y_TRUE, Y_PRED, names={0: "cat", 1: "dog", 2: "bird"})
    t = error_table(IDS, Y_TRUE, Y_PRED, categories=tags)
    assert t.summary.loc["true_class=bird", "errors"] == 2
    assert t.summary.loc["predicted_class=dog", "errors"] == 2
    with pytest.raises(UserError, match="no name for class 2"):
        class_tags(Y_TRUE, Y_PRED, names={0: "cat", 1: "dog"})


def test_bucketize_quartiles():
    df = pd.DataFrame({"age": [1, 2, 3, 4, 5, 6, 7, 8], "name": list("abcdefgh")})
    b = bucketize(df, ["age"], q=4)
    assert list(b.columns) == ["age"]
    assert b["age"].value_counts().tolist() == [2, 2, 2, 2]
    assert b["age"].iloc[0].startswith("Q1 ") and b["age"].iloc[-1].startswith("Q4 ")
    t = error_table(range(8), [0] * 8, [0, 0, 0, 0, 0, 0, 1, 1], categories=b)
    assert t.summary["errors"].iloc[0] == 2 and t.summary.index[0].startswith("age=Q4")


def test_bucketize_errors():
    df = pd.DataFrame({"age": [1.0, 2.0], "name": ["a", "b"]})
    with pytest.raises(UserError) as info:
        bucketize(df, ["agee"])
    assert info.value.suggestions == ["age"]
    with pytest.raises(UserError, match="numeric"):
        bucketize(df, ["name"])
    with pytest.raises(UserError, match="q must be"):
        bucketize(df, ["age"], q=1)


def _box_blur(img: np.ndarray, times: int) -> np.ndarray:
    h, w = img.shape
    for _ in range(times):  # 3x3 box filter
        padded = np.pad(img, 1, mode="edge")
        img = sum(padded[i : i + h, j : j + w] for i in range(3) for j in range(3)) / 9
    return img


def test_quality_tags_find_dark_low_contrast_and_blurry_images():
    rng = np.random.default_rng(0)
    # (N, H, W): 8x8-pixel blocks of random grey levels in [0.2, 0.9], plus fine noise
    blocks = rng.uniform(0.2, 0.9, size=(6, 4, 4)).repeat(8, axis=1).repeat(8, axis=2)
    base = np.clip(blocks + rng.normal(0, 0.03, size=blocks.shape), 0, 1)
    images = base.copy()
    images[1] = 0.2 * base[1]  # dark
    images[2] = 0.5 + 0.1 * (base[2] - 0.5)  # low contrast
    images[3] = _box_blur(base[3], 4)  # blurry, same brightness and nearly the same contrast
    tags = quality_tags(images)
    assert tags["dark"].tolist() == [False, True, False, False, False, False]
    # contrast is absolute (std 0.04 for the dark one); sharpness is relative to the image's
    # own variance, so dark or flat images are not called blurry
    assert tags["low_contrast"].tolist() == [False, True, True, False, False, False]
    assert tags["blurry"].tolist() == [False, False, False, True, False, False]
    # uint8 channels-last gives the same tags
    rgb = np.repeat((images * 255).round().astype(np.uint8)[..., None], 3, axis=-1)
    assert quality_tags(rgb).equals(tags)


def test_quality_tags_reject_float_images_outside_unit_range():
    with pytest.raises(UserError, match="divide 8-bit values by 255"):
        quality_tags(np.full((2, 8, 8), 200.0))
