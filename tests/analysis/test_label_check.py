"""Probable label errors: planted flips are found, clean labels are not flagged, the chosen
model's agreement vetoes, cross-fitted probabilities never come from a model that trained on
the example, and the error analysis across a sweep's top trials splits the errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_blobs
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

from sweeplab.analysis import (
    check_labels,
    check_labels_per_label,
    clopper_pearson,
    error_table,
    review_template,
    sweep_errors,
)
from sweeplab.reports._crossfit import crossfit

K = 4


def _blobs(n: int = 800, seed: int = 0, std: float = 0.6):
    X, y = make_blobs(
        n_samples=n, centers=K, cluster_std=std, center_box=(-8, 8), random_state=seed
    )
    return X, y


def _flip(y: np.ndarray, rate: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    flipped = np.flatnonzero(rng.random(len(y)) < rate)
    noisy = y.copy()
    noisy[flipped] = (noisy[flipped] + rng.integers(1, K, len(flipped))) % K
    return noisy, flipped


def _logreg(X: np.ndarray, y: np.ndarray):
    def fit_predict(train_pos, score_pos):
        model = LogisticRegression(max_iter=500).fit(X[train_pos], y[train_pos])
        return model.predict_proba(X[score_pos])

    return fit_predict


def test_planted_flips_are_found_with_high_precision_and_recall():
    X, y = _blobs()
    noisy, flipped = _flip(y, 0.08, seed=1)
    probs, _ = crossfit(noisy, _logreg(X, noisy), seed=0)
    check = check_labels(noisy, probs, probs.argmax(axis=1))
    found = set(check.suspects.index.tolist())
    hits = len(found & set(flipped.tolist()))
    assert hits / len(found) >= 0.8  # precision
    assert hits / len(flipped) >= 0.7  # recall
    assert not check.no_evidence
    assert check.low <= len(flipped) <= check.high  # the interval covers the planted count
    # ranked by label quality, lowest first
    assert check.suspects["quality"].is_monotonic_increasing


def test_clean_labels_give_no_evidence_of_label_errors():
    X, y = _blobs(seed=3)
    probs, _ = crossfit(y, _logreg(X, y), seed=0)
    check = check_labels(y, probs, probs.argmax(axis=1))
    assert check.estimate <= 0.01 * len(y)
    assert check.no_evidence
    assert check.verdict().startswith("no evidence of label errors")


def test_crossfit_never_scores_an_example_with_a_model_trained_on_it():
    X, y = _blobs(n=300, seed=4)
    noisy, flipped = _flip(y, 0.1, seed=5)
    calls = []

    def memorizer(train_pos, score_pos):
        """Returns the given label for an example it trained on, the true class otherwise:
        a leak would make a flip look right."""
        calls.append((set(train_pos.tolist()), score_pos.copy()))
        seen = np.isin(score_pos, train_pos)
        cls = np.where(seen, noisy[score_pos], y[score_pos])
        return np.eye(K)[cls] * 0.96 + 0.01

    probs, folds = crossfit(noisy, memorizer, folds=5, repeats=3, seed=0)
    assert len(calls) == 15
    for train, scored in calls:
        assert not train & set(scored.tolist())
    scored_count = np.bincount(np.concatenate([s for _, s in calls]), minlength=len(y))
    assert (scored_count == 3).all()  # once per repeat
    # folds record which model scored each example: fold f of repeat r trained without it
    for r in range(3):
        for f in range(5):
            train, scored = calls[r * 5 + f]
            assert set(np.flatnonzero(folds[r] == f).tolist()) == set(scored.tolist())
    check = check_labels(noisy, probs, probs.argmax(axis=1))
    assert set(check.suspects.index.tolist()) == set(flipped.tolist())


def test_an_example_the_model_predicts_as_labeled_is_never_a_suspect():
    X, y = _blobs(seed=6)
    noisy, flipped = _flip(y, 0.1, seed=7)
    probs, _ = crossfit(noisy, _logreg(X, noisy), seed=0)
    # the chosen model agrees with the given label on half of the flips
    pred = probs.argmax(axis=1)
    agree = flipped[::2]
    pred[agree] = noisy[agree]
    check = check_labels(noisy, probs, pred)
    positions = check.suspects.index.to_numpy()
    assert len(positions) > 0
    assert (pred[positions] != noisy[positions]).all()
    assert not set(agree.tolist()) & set(positions.tolist())


def test_report_mask_and_domains_a_hard_domain_is_mismatch_not_noise():
    rng = np.random.default_rng(8)
    X, y = _blobs(n=600, seed=8)
    domain = np.where(np.arange(600) < 400, "source", "target")
    Xd = X.copy()
    # degraded like a washed-out photo: low contrast and noise make it hard, not mislabeled
    Xd[domain == "target"] = 30 + 0.1 * X[domain == "target"] + rng.normal(0, 1, size=(200, 2))

    def knn(train_pos, score_pos):  # probabilities as mixed as the neighbourhood
        model = KNeighborsClassifier(n_neighbors=15).fit(Xd[train_pos], y[train_pos])
        return model.predict_proba(Xd[score_pos])

    probs, _ = crossfit(y, knn, seed=0)
    dev = domain == "target"
    check = check_labels(y, probs, probs.argmax(axis=1), report=dev, groups=domain)
    assert check.n == 200
    assert set(check.suspects["group"]) <= {"target"}
    assert check.estimate <= 0.02 * 200
    table = check.per_group.set_index("group")
    assert table.loc["target", "error_rate"] > table.loc["source", "error_rate"]
    assert check.mismatch is not None and "domain target" in check.mismatch


def test_clopper_pearson_is_exact():
    from scipy.stats import binom

    lo, hi = clopper_pearson(7, 100)
    assert binom.sf(6, 100, lo) == pytest.approx(0.025, rel=1e-6)  # P(X >= 7 | lo)
    assert binom.cdf(7, 100, hi) == pytest.approx(0.025, rel=1e-6)
    assert clopper_pearson(0, 50)[0] == 0.0


def test_multilabel_checks_each_label():
    X, y = _blobs(n=600, seed=9)
    Y = np.column_stack([(y == 0), (y == 1)]).astype(float)
    noisy = Y.copy()
    rng = np.random.default_rng(10)
    flipped = rng.choice(600, size=30, replace=False)
    noisy[flipped, 0] = 1 - noisy[flipped, 0]
    noisy[:20, 1] = np.nan  # unlabeled entries are skipped
    probs = np.zeros_like(Y)
    for j in range(2):
        known = np.flatnonzero(~np.isnan(noisy[:, j]))
        yj = noisy[known, j].astype(int)
        p, _ = crossfit(yj, _logreg(X[known], yj), seed=0)
        probs[known, j] = p[:, 1]
    checks = check_labels_per_label(noisy, probs, (probs > 0.5).astype(int), ["a", "b"])
    found = set(checks["a"].suspects.index.tolist())
    assert len(found & set(flipped.tolist())) / len(found) >= 0.8
    assert len(found & set(flipped.tolist())) / len(flipped) >= 0.7
    assert checks["b"].no_evidence
    assert checks["b"].n == 580


def test_sweep_errors_split_the_chosen_trials_errors():
    rng = np.random.default_rng(11)
    n = 300
    y = rng.integers(0, 3, n)
    hard = rng.random(n) < 0.1
    preds = []
    for _ in range(3):
        p = y.copy()
        miss = hard | (rng.random(n) < 0.1)
        p[miss] = (y[miss] + 1) % 3
        preds.append(p)
    ids = [f"e{i}" for i in range(n)]
    tags = pd.DataFrame({"true": y.astype(str)})
    result = sweep_errors(ids, y, preds, trials=[4, 2, 9], categories=tags)
    chosen_wrong = preds[0] != y
    all_wrong = np.all([p != y for p in preds], axis=0)
    assert result.all_wrong.n_errors == int((chosen_wrong & all_wrong).sum())
    assert result.all_wrong.n_errors + result.some_wrong.n_errors == int(chosen_wrong.sum())
    assert set(result.all_wrong.rows.index) >= {ids[i] for i in np.flatnonzero(hard)}
    full = error_table(ids, y, preds[0], categories=tags)
    for cat in full.summary.index:  # the groups' ceilings add up to the trial's
        total = (
            result.all_wrong.summary.loc[cat, "ceiling"]
            + result.some_wrong.summary.loc[cat, "ceiling"]
        )
        assert total == pytest.approx(full.summary.loc[cat, "ceiling"])
    assert result.as_dict()["trials"] == ["4", "2", "9"]


def test_review_puts_suspects_first_with_a_suggested_label():
    y = np.array([0, 1, 2, 0, 1, 2])
    pred = np.array([1, 2, 0, 0, 1, 2])
    table = error_table([f"x{i}" for i in range(6)], y, pred)
    sheet = review_template(table, suggested={"x2": "0"}, sample=2, seed=0)
    assert sheet["id"].iloc[0] == "x2"
    assert sheet["suggested_label"].tolist()[0] == "0"
    assert (sheet["suggested_label"].iloc[1:] == "").all()
    assert len(sheet) == 2


def test_crossfit_of_a_multilabel_target_scores_each_row_out_of_sample():
    rng = np.random.default_rng(12)
    Y = (rng.random((200, 3)) < 0.4).astype(float)
    Y[rng.random((200, 3)) < 0.2] = np.nan  # unlabeled entries
    calls = []

    def fit_predict(train_pos, score_pos):
        calls.append((set(train_pos.tolist()), score_pos.copy()))
        return np.full((len(score_pos), 3), 0.5)

    probs, folds = crossfit(Y, fit_predict, folds=5, repeats=3, seed=0)
    assert probs.shape == (200, 3) and folds.shape == (3, 200)
    assert len(calls) == 15
    for train, scored in calls:
        assert not train & set(scored.tolist())
    counts = np.bincount(np.concatenate([s for _, s in calls]), minlength=200)
    assert (counts == 3).all()
