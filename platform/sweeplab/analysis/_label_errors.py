"""Error analysis of a multi-label (multi-task) model: one row per label.

A multi-label trial's ``dev_error`` is the mean of its per-label errors, each over the entries
of that label that are labeled (NaN entries are unlabeled: the loss and the errors skip them).
Fixing every mistake on label ``j`` therefore lowers ``dev_error`` by ``error_j / T`` (the
label's *ceiling*), which is what the table ranks.

* :func:`multilabel_error_table` -- from predictions ``(n, T)``;
* :func:`multilabel_table_from_rates` -- from the per-label error rates a trial logged and the
  split's labels (the counts follow: ``errors = rate · labeled``), so that a report needs no
  model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = ["multilabel_error_table", "multilabel_table_from_rates"]

_COLUMNS = [
    "label",
    "labeled",
    "unlabeled",
    "positives",
    "errors",
    "error_rate",
    "pct_of_errors",
    "ceiling",
]


def _labeled(y_true: np.ndarray, n_labels: int) -> np.ndarray:
    y = np.asarray(y_true, dtype=np.float64)
    if y.ndim != 2 or y.shape[1] != n_labels:
        raise ValueError(
            f"y_true must be (n, {n_labels}), one column per label, but got shape {y.shape}"
        )
    return ~np.isnan(y) & (y >= 0)  # NaN or -1: unlabeled


def _table(y: np.ndarray, known: np.ndarray, errors: np.ndarray, labels: Sequence[str]):
    labeled = known.sum(axis=0)
    positives = np.where(known, y == 1, False).sum(axis=0)
    rate = np.where(labeled > 0, errors / np.maximum(labeled, 1), np.nan)
    total = errors.sum()
    present = int((labeled > 0).sum())  # the task's error averages over these labels
    table = pd.DataFrame(
        {
            "label": list(labels),
            "labeled": labeled.astype(np.int64),
            "unlabeled": (len(y) - labeled).astype(np.int64),
            "positives": positives.astype(np.int64),
            "errors": errors.astype(np.int64),
            "error_rate": rate,
            "pct_of_errors": errors / total if total else np.zeros(len(labels)),
            "ceiling": rate / present if present else rate,
        },
        columns=_COLUMNS,
    )
    return table


def multilabel_error_table(
    y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str]
) -> pd.DataFrame:
    """Per label: ``labeled`` / ``unlabeled`` entries, ``positives``, ``errors`` (wrong among
    the labeled), ``error_rate``, ``pct_of_errors`` and ``ceiling`` (how much the task's
    error, the mean of the per-label errors, falls if every error of the label were fixed)."""
    y = np.asarray(y_true, dtype=np.float64)
    known = _labeled(y, len(labels))
    p = np.asarray(y_pred)
    if p.shape != y.shape:
        raise ValueError(f"y_pred must have the shape of y_true {y.shape}, but got {p.shape}")
    wrong = known & (p != np.where(known, y, -1))
    return _table(y, known, wrong.sum(axis=0), labels)


def multilabel_table_from_rates(
    y_true: np.ndarray, rates: Mapping[str, float], labels: Sequence[str]
) -> pd.DataFrame:
    """The same table from logged per-label error rates (``{label: rate}``): a label's errors
    are ``round(rate · labeled)``; a label without a rate (never logged) gets NaN."""
    y = np.asarray(y_true, dtype=np.float64)
    known = _labeled(y, len(labels))
    labeled = known.sum(axis=0)
    errors = np.array(
        [
            round(float(rates[name]) * int(n)) if name in rates else 0
            for name, n in zip(labels, labeled, strict=True)
        ],
        dtype=np.int64,
    )
    table = _table(y, known, errors, labels)
    missing = [name not in rates for name in labels]
    table.loc[missing, ["errors", "error_rate", "ceiling"]] = np.nan
    return table
