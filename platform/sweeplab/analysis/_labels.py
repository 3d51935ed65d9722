"""Probable label errors: examples where the model confidently disagrees with the label.

The curriculum: random label errors in training data are mostly harmless, systematic ones are
not; in the dev set, a ``mislabeled`` column in the error table tells whether fixing labels is
worth it. :func:`suspect_labels` proposes the examples to look at first.

Method (confident learning, Northcutt et al. 2021): the threshold of class ``j`` is the mean
predicted probability of ``j`` over the examples labeled ``j`` (the model's self-confidence on
that class). An example labeled ``y`` is suspect when some class ``j != y`` reaches its own
threshold; the suggested label is the most probable such class (as in cleanlab's confident
joint). With ``threshold=t`` one global threshold is used instead: the predicted class differs
from the label and has probability ``>= t``. ``backend="auto"`` asks cleanlab's
``find_label_issues(filter_by="confident_learning")`` for the per-class method.

This is the low-level flagging; reports use :func:`~sweeplab.analysis.check_labels`
(``_label_check``), which adds the chosen model's veto, ranking by label quality, the
estimated number of label errors and the per-domain view.

Probabilities should be out-of-sample (cross-validated, or a held-out model), else a model
that memorised a wrong label will agree with it.
"""

from __future__ import annotations

import importlib
from collections.abc import Hashable, Sequence
from typing import Literal

import numpy as np
import pandas as pd

from sweeplab.errors import UserError

__all__ = ["confident_thresholds", "suspect_labels"]

Backend = Literal["auto", "cleanlab", "builtin"]


def _check_inputs(
    y_true: object, probs: object, classes: Sequence[Hashable] | None
) -> tuple[np.ndarray, np.ndarray, list]:
    p = np.asarray(probs, dtype=float)
    if p.ndim != 2 or p.shape[1] < 2:
        raise UserError(f"must have shape (n_examples, n_classes >= 2), got {p.shape}", key="probs")
    if not np.isfinite(p).all() or (p < 0).any() or (p > 1).any():
        raise UserError("must hold finite probabilities in [0, 1]", key="probs")
    sums = p.sum(axis=1)
    if not np.allclose(sums, 1.0, atol=1e-3):
        worst = int(np.argmax(np.abs(sums - 1)))
        raise UserError(
            f"each row must sum to 1, but row {worst} sums to {sums[worst]:.4g}", key="probs"
        )
    labels = np.asarray(y_true)
    if labels.ndim != 1 or len(labels) != len(p):
        raise UserError(
            f"must be one label per row of probs ({len(p)}), got shape {labels.shape}",
            key="y_true",
        )
    cls = list(range(p.shape[1])) if classes is None else list(classes)
    if len(cls) != p.shape[1]:
        raise UserError(f"probs has {p.shape[1]} columns but {len(cls)} classes", key="classes")
    position = {c: i for i, c in enumerate(cls)}
    unknown = [v for v in labels.tolist() if v not in position]
    if unknown:
        raise UserError(
            f"label {unknown[0]!r} is not a column of probs (classes {cls}); pass classes=",
            key="y_true",
        )
    return np.array([position[v] for v in labels.tolist()], dtype=int), p, cls


def confident_thresholds(y: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Per-class thresholds: mean ``probs[:, j]`` over examples labeled ``j`` (``inf`` for a
    class with no examples, so it is never suggested)."""
    k = probs.shape[1]
    counts = np.bincount(y, minlength=k)
    sums = np.zeros(k)
    np.add.at(sums, y, probs[np.arange(len(y)), y])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.inf)


def _builtin(y: np.ndarray, p: np.ndarray, threshold: float | None) -> np.ndarray:
    """Suggested class index per example, ``-1`` where the label is not suspect."""
    if threshold is not None:
        top = p.argmax(axis=1)
        ok = (top != y) & (p[np.arange(len(y)), top] >= threshold)
        return np.where(ok, top, -1)
    t = confident_thresholds(y, p)  # (k,)
    above = p >= t[None, :]  # (n, k): classes the model is confident about
    masked = np.where(above, p, -np.inf)
    best = masked.argmax(axis=1)
    ok = above.any(axis=1) & (best != y)
    return np.where(ok, best, -1)


def _cleanlab(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    filt = importlib.import_module("cleanlab.filter")
    issues = np.asarray(filt.find_label_issues(y, p, filter_by="confident_learning"), dtype=bool)
    # cleanlab says which; the suggestion is the most probable other class
    other = p.copy()
    other[np.arange(len(y)), y] = -np.inf
    return np.where(issues, other.argmax(axis=1), -1)


def _cleanlab_available() -> bool:
    try:
        importlib.import_module("cleanlab.filter")
    except ImportError:
        return False
    return True


def suspect_labels(
    y_true: Sequence[Hashable] | np.ndarray,
    probs: object,
    *,
    threshold: float | None = None,
    classes: Sequence[Hashable] | None = None,
    ids: Sequence[Hashable] | None = None,
    backend: Backend = "auto",
) -> pd.DataFrame:
    """Examples whose label the model confidently contradicts, most blatant first.

    ``probs`` is (n, k) in the order of ``classes`` (default 0..k-1). Returns a DataFrame
    indexed by ``ids`` (default: position) with ``label``, ``suggested``, ``p_label``,
    ``p_suggested`` and ``margin`` = p_suggested − p_label, sorted by margin (descending).
    ``backend``: ``"builtin"`` (this module's confident learning), ``"cleanlab"`` (requires it;
    per-class thresholds only) or ``"auto"`` (cleanlab when importable and ``threshold`` is
    None). See the module docstring for the method.
    """
    y, p, cls = _check_inputs(y_true, probs, classes)
    if threshold is not None and not (
        isinstance(threshold, int | float)
        and not isinstance(threshold, bool)
        and 0 < threshold <= 1
    ):
        raise UserError(f"must be a probability in (0, 1], but got {threshold!r}", key="threshold")
    if backend not in ("auto", "cleanlab", "builtin"):
        raise UserError(f"must be 'auto', 'cleanlab' or 'builtin', got {backend!r}", key="backend")
    if backend == "cleanlab":
        if threshold is not None:
            raise UserError(
                "cleanlab uses per-class thresholds; leave threshold unset", key="threshold"
            )
        if not _cleanlab_available():
            raise UserError(
                "cleanlab is not installed; `pip install cleanlab` or use backend='builtin'",
                key="backend",
            )
    use_cleanlab = threshold is None and (
        backend == "cleanlab" or (backend == "auto" and _cleanlab_available())
    )
    suggested = _cleanlab(y, p) if use_cleanlab else _builtin(y, p, threshold)

    index = pd.RangeIndex(len(y)) if ids is None else pd.Index(np.asarray(ids))
    if len(index) != len(y):
        raise UserError(f"must have one id per example ({len(y)}), got {len(index)}", key="ids")
    hit = np.flatnonzero(suggested >= 0)
    sug = suggested[hit]
    p_label = p[hit, y[hit]]
    p_sug = p[hit, sug]
    out = pd.DataFrame(
        {
            "label": [cls[i] for i in y[hit]],
            "suggested": [cls[i] for i in sug],
            "p_label": p_label,
            "p_suggested": p_sug,
            "margin": p_sug - p_label,
        },
        index=index[hit],
    )
    return out.sort_values("margin", ascending=False, kind="stable")
