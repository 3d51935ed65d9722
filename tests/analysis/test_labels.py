"""Probable label errors by confident learning: flipped labels are found."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from sweeplab.analysis import confident_thresholds, suspect_labels
from sweeplab.errors import UserError


def _noisy_dataset(seed: int = 0, n: int = 300, k: int = 3, flips: int = 15):
    """Probabilities of a decent model on true classes, and labels with ``flips`` flipped."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, size=n)
    logits = rng.normal(0, 1, size=(n, k))
    logits[np.arange(n), truth] += 4.0
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = truth.copy()
    flipped = rng.choice(n, size=flips, replace=False)
    labels[flipped] = (truth[flipped] + rng.integers(1, k, size=flips)) % k
    return labels, probs, truth, np.sort(flipped)


def test_builtin_finds_flipped_labels():
    labels, probs, truth, flipped = _noisy_dataset()
    found = suspect_labels(labels, probs, backend="builtin")
    hits = set(found.index) & set(flipped)
    # deterministic data: 12 of the 15 flips, no false alarm; the 3 missed are examples where
    # the model's probability of the true class is below that class's threshold
    assert len(hits) >= 0.75 * len(flipped)  # recall
    assert len(hits) >= 0.9 * len(found)  # precision
    # the suggestion is the true class for the flipped ones it found
    assert all(found.loc[i, "suggested"] == truth[i] for i in hits)
    assert (found["margin"].diff().dropna() <= 0).all()  # most blatant first
    assert (found["label"] != found["suggested"]).all()


def test_clean_confident_labels_are_not_suspect():
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9], [0.3, 0.7]])
    assert suspect_labels([0, 0, 1, 1], probs, backend="builtin").empty


def test_per_class_thresholds_are_mean_self_confidence():
    y = np.array([0, 0, 1, 1])
    probs = np.array([[0.9, 0.1], [0.7, 0.3], [0.4, 0.6], [0.2, 0.8]])
    assert confident_thresholds(y, probs).tolist() == pytest.approx([0.8, 0.7])
    # class 1 has low self-confidence (0.55): 0.6 for class 1 is enough to flag a label-0 example
    probs2 = np.array([[0.9, 0.1], [0.4, 0.6], [0.5, 0.5], [0.4, 0.6]])
    found = suspect_labels([0, 0, 1, 1], probs2, backend="builtin")
    assert found.index.tolist() == [1]
    assert found.loc[1, "suggested"] == 1


def test_global_threshold():
    probs = np.array([[0.2, 0.8], [0.4, 0.6], [0.5, 0.5]])
    found = suspect_labels([0, 0, 0], probs, threshold=0.7)
    assert found.index.tolist() == [0]
    assert found.loc[0, "p_suggested"] == pytest.approx(0.8)
    assert found.loc[0, "margin"] == pytest.approx(0.6)


def test_ids_and_string_classes():
    probs = np.array([[0.95, 0.05], [0.9, 0.1], [0.1, 0.9], [0.05, 0.95], [0.97, 0.03]])
    found = suspect_labels(
        ["cat", "cat", "dog", "dog", "dog"],
        probs,
        classes=["cat", "dog"],
        ids=["a", "b", "c", "d", "e"],
        backend="builtin",
    )
    assert found.index.tolist() == ["e"]
    assert found.loc["e", ["label", "suggested"]].tolist() == ["dog", "cat"]


def test_auto_finds_flips_whatever_the_backend():
    labels, probs, _, flipped = _noisy_dataset(seed=1)
    found = suspect_labels(labels, probs)
    assert len(set(found.index) & set(flipped)) >= 0.8 * len(flipped)


def test_auto_uses_cleanlab_when_importable(monkeypatch):
    calls = []

    def find_label_issues(labels, pred_probs, filter_by):
        calls.append(filter_by)
        return np.array([False, False, True, False])

    fake = types.ModuleType("cleanlab.filter")
    fake.find_label_issues = find_label_issues
    monkeypatch.setitem(sys.modules, "cleanlab", types.ModuleType("cleanlab"))
    monkeypatch.setitem(sys.modules, "cleanlab.filter", fake)
    # thresholds: class 0 (0.9 + 0.2) / 2 = 0.55, class 1 (0.7 + 0.9) / 2 = 0.8
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.1, 0.9]])
    found = suspect_labels([0, 0, 1, 1], probs)
    assert calls == ["confident_learning"]
    assert found.index.tolist() == [2] and found.loc[2, "suggested"] == 0  # what cleanlab said
    # builtin ignores cleanlab and finds example 1 (p1 = 0.8 reaches class 1's threshold)
    builtin = suspect_labels([0, 0, 1, 1], probs, backend="builtin")
    assert builtin.index.tolist() == [1] and builtin.loc[1, "suggested"] == 1
    assert calls == ["confident_learning"]


def test_cleanlab_backend_without_cleanlab_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "cleanlab.filter", None)  # import fails
    with pytest.raises(UserError, match="pip install cleanlab"):
        suspect_labels([0, 1], [[0.9, 0.1], [0.1, 0.9]], backend="cleanlab")


@pytest.mark.parametrize(
    ("y", "probs", "kwargs", "fragment"),
    [
        ([0, 1], [[0.5, 0.6], [0.5, 0.5]], {}, "sum to 1"),
        ([0, 1], [0.5, 0.5], {}, "shape"),
        ([0, 2], [[0.5, 0.5], [0.5, 0.5]], {}, "not a column"),
        ([0], [[0.5, 0.5], [0.5, 0.5]], {}, "one label per row"),
        ([0, 1], [[np.nan, 1], [0.5, 0.5]], {}, "finite"),
        ([0, 1], [[0.5, 0.5], [0.5, 0.5]], {"threshold": 1.5}, "threshold"),
    ],
)
def test_bad_inputs(y, probs, kwargs, fragment):
    with pytest.raises(UserError, match=fragment):
        suspect_labels(y, probs, backend="builtin", **kwargs)
