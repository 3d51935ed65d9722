"""Probable label errors by confident learning, with an estimate of how many there are.

The curriculum: random label errors in training data are mostly harmless; in the dev set,
a ``mislabeled`` column in the error table says whether fixing labels is worth it. A
suspect list is only useful if the examples it names really are suspicious, so:

* the probabilities must be **out-of-sample** (cross-fitted: each example scored by models
  that did not train on it), else a model that memorised a wrong label agrees with it;
* cleanlab's ``find_label_issues(filter_by="both")`` decides, with per-class thresholds (the
  mean self-confidence of each class), so a class the model finds hard is not "mislabeled".
  The thresholds are estimated over all the examples given, whatever their domain: per-domain
  thresholds would be *lower* in a domain the model finds hard (a degraded target domain),
  and more of its hard examples would pass them as "confidently another class" — on the
  shipped ``digits_mismatch`` project (clean labels) 27 % of dev was flagged that way, against
  0.5 % with pooled thresholds. ``groups`` (the domains) count the suspects per domain;
* an example whose given label is the chosen model's prediction is never a suspect, nor one
  whose suggested class gets less than ``min_confidence`` (0.5) out-of-sample: the suggestion
  must be the more likely class;
* suspects are ranked by cleanlab's label-quality score (lowest first), and there are no
  more of them than cleanlab's estimate of the number of label issues (``num_label_issues``,
  the confident joint's off-diagonal count) over all the examples, and than that estimate's
  share for the reported ones (dev's share of train + dev): the examples beyond it are the
  least suspicious, mostly hard examples of the right class (on breast cancer, 2-3 % of the
  clean examples are misclassified out-of-sample);
* the number of label errors among the reported examples is estimated with an exact
  (Clopper–Pearson) interval; "no evidence of label errors" when the interval's lower end is
  below one example, i.e. zero errors cannot be ruled out.

:func:`check_labels` does one task with one class per example (binary, multiclass);
:func:`check_labels_per_label` does a multi-label task one label at a time (binary each).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from sweeplab.errors import UserError

__all__ = ["LabelCheck", "check_labels", "check_labels_per_label", "clopper_pearson"]

SUSPECT_COLUMNS = ("label", "suggested", "quality", "p_label", "p_suggested", "group")


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact binomial interval for a proportion ``k / n`` (two-sided, ``confidence``)."""
    from scipy.stats import beta

    if n <= 0:
        return (math.nan, math.nan)
    a = 1.0 - confidence
    low = 0.0 if k == 0 else float(beta.ppf(a / 2, k, n - k + 1))
    high = 1.0 if k == n else float(beta.ppf(1 - a / 2, k + 1, n - k))
    return low, high


@dataclass(frozen=True)
class LabelCheck:
    """What :func:`check_labels` found.

    ``suspects``: one row per probable label error among the reported examples, indexed by
    position in the input, lowest label quality first: ``label``, ``suggested`` (the most
    probable other class), ``quality`` (cleanlab's label-quality score in [0, 1]),
    ``p_label``, ``p_suggested`` (out-of-sample probabilities) and ``group``.
    ``estimate`` = the number of suspects among the ``n`` reported examples, with the
    Clopper–Pearson interval ``[low, high]`` in examples. ``per_group``: per domain, examples,
    out-of-sample errors and suspects (None without groups). ``mismatch``: a line naming the
    domains whose errors look like data mismatch rather than label noise (or None).
    """

    suspects: pd.DataFrame
    n: int
    estimate: int
    low: float
    high: float
    confidence: float
    per_group: pd.DataFrame | None
    mismatch: str | None
    #: the out-of-sample error on the reported examples (the models' own error rate)
    model_error: float = math.nan

    @property
    def no_evidence(self) -> bool:
        """Zero label errors cannot be ruled out: the interval's lower end is below one."""
        return self.low < 1.0

    def verdict(self, what: str = "dev") -> str:
        """One line: the estimate with its interval, or that there is no evidence."""
        ci = f"{self.confidence:.0%} interval {self.low:.1f} to {self.high:.1f}"
        if self.no_evidence:
            return (
                f"no evidence of label errors in {what}: {self.estimate} of {self.n} examples "
                f"flagged ({ci}: fewer than one label error cannot be ruled out)"
            )
        share = self.estimate / self.n if self.n else math.nan
        return (
            f"an estimated {self.estimate} label errors in {what} ({share:.1%} of {self.n} "
            f"examples; {ci})"
        )


def _checked(y: object, probs: object, y_pred: object, n_classes: int | None = None):
    p = np.asarray(probs, dtype=float)
    if p.ndim != 2 or p.shape[1] < 2:
        raise UserError(f"must have shape (n_examples, n_classes >= 2), got {p.shape}", key="probs")
    if not np.isfinite(p).all() or (p < 0).any() or (p > 1).any():
        raise UserError("must hold finite probabilities in [0, 1]", key="probs")
    labels = np.asarray(y)
    pred = np.asarray(y_pred)
    for key, arr in (("y", labels), ("y_pred", pred)):
        if arr.shape != (len(p),):
            raise UserError(
                f"must be one class id per row of probs ({len(p)}), got {arr.shape}", key=key
            )
        if not np.issubdtype(arr.dtype, np.integer) or (arr < 0).any() or (arr >= p.shape[1]).any():
            raise UserError(f"must hold class ids in 0..{p.shape[1] - 1}", key=key)
    return labels.astype(np.int64), p / p.sum(axis=1, keepdims=True), pred.astype(np.int64)


def _issues(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """cleanlab: (issue mask, label-quality scores, estimated number of label issues)."""
    from cleanlab.count import num_label_issues
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    quality = get_label_quality_scores(y, p)
    present = np.unique(y)
    if len(y) < 2 * p.shape[1] or len(present) < 2:
        return np.zeros(len(y), dtype=bool), quality, 0  # too few for per-class thresholds
    # cleanlab wants every class among the labels; restrict to the present ones
    if len(present) < p.shape[1]:
        p = p[:, present]
        p = p / np.maximum(p.sum(axis=1, keepdims=True), 1e-12)
        y = np.searchsorted(present, y)
    issue = np.asarray(find_label_issues(y, p, filter_by="both"), dtype=bool)
    return issue, quality, int(num_label_issues(y, p))


def _at_most(positions: np.ndarray, quality: np.ndarray, k: float) -> np.ndarray:
    """The ``round(k)`` positions of lowest label quality, in that order."""
    ranked = positions[np.argsort(quality[positions], kind="stable")]
    return ranked[: max(0, math.floor(k + 0.5))]


def check_labels(
    y: Sequence[int] | np.ndarray,
    probs: object,
    y_pred: Sequence[int] | np.ndarray,
    *,
    report: Sequence[bool] | np.ndarray | None = None,
    groups: Sequence[Hashable] | np.ndarray | None = None,
    classes: Sequence[Hashable] | None = None,
    confidence: float = 0.95,
    min_confidence: float = 0.5,
) -> LabelCheck:
    """Probable label errors among the examples where ``report`` is True (default: all).

    ``y``: given class ids (n,); ``probs``: out-of-sample probabilities (n, k); ``y_pred``:
    the chosen model's predictions (n,). Every example given helps estimate the per-class
    thresholds (pass train and dev pooled, report dev). ``groups``: a domain per example
    (suspects and errors counted per domain). ``classes`` names the class ids in the result.
    """
    yy, p, pred = _checked(y, probs, y_pred)
    n = len(yy)
    mask = np.ones(n, dtype=bool) if report is None else np.asarray(report, dtype=bool)
    g = np.zeros(n, dtype=object) if groups is None else np.asarray(groups, dtype=object)
    if mask.shape != (n,) or g.shape != (n,):
        raise UserError(f"report and groups must have one value per example ({n})")
    if not 0 < confidence < 1:
        raise UserError(f"must be in (0, 1), but got {confidence!r}", key="confidence")
    if not 0 <= min_confidence <= 1:
        raise UserError(f"must be in [0, 1], but got {min_confidence!r}", key="min_confidence")
    names = list(range(p.shape[1])) if classes is None else list(classes)

    issue, quality, expected = _issues(yy, p)
    other = p.copy()
    other[np.arange(n), yy] = -np.inf
    suggested = other.argmax(axis=1)
    # the chosen model agrees with the label, or the suggestion is unsure: not a suspect
    candidate = issue & (pred != yy) & (p[np.arange(n), suggested] >= min_confidence)
    # no more than cleanlab estimates there are: over all examples, and in the reported share
    kept = _at_most(np.flatnonzero(candidate), quality, expected)
    suspect = np.zeros(n, dtype=bool)
    suspect[kept] = True
    hit = _at_most(np.flatnonzero(suspect & mask), quality, expected * mask.sum() / n)
    suspect &= ~mask
    suspect[hit] = True
    suspects = pd.DataFrame(
        {
            "label": [names[i] for i in yy[hit]],
            "suggested": [names[i] for i in suggested[hit]],
            "quality": quality[hit],
            "p_label": p[hit, yy[hit]],
            "p_suggested": p[hit, suggested[hit]],
            "group": g[hit],
        },
        index=pd.Index(hit, name="position"),
        columns=list(SUSPECT_COLUMNS),
    )
    n_rep = int(mask.sum())
    lo, hi = clopper_pearson(len(hit), n_rep, confidence)
    per_group = mismatch = None
    if groups is not None:
        per_group, mismatch = _per_group(yy, p, suspect, mask, g)
    return LabelCheck(
        suspects=suspects,
        n=n_rep,
        estimate=len(hit),
        low=lo * n_rep,
        high=hi * n_rep,
        confidence=confidence,
        per_group=per_group,
        mismatch=mismatch,
        model_error=float((p.argmax(axis=1) != yy)[mask].mean()) if mask.any() else math.nan,
    )


def _per_group(y, p, suspect, mask, g) -> tuple[pd.DataFrame, str | None]:
    """Per domain: examples, out-of-sample errors and suspects (all, and reported ones)."""
    wrong = p.argmax(axis=1) != y
    rows = []
    for value in pd.unique(g):
        m = g == value
        rows.append(
            {
                "group": value,
                "examples": int(m.sum()),
                "errors": int((wrong & m).sum()),
                "suspects": int((suspect & m).sum()),
                "reported": int((m & mask).sum()),
                "reported_suspects": int((suspect & m & mask).sum()),
            }
        )
    table = pd.DataFrame(rows)
    table["error_rate"] = table["errors"] / table["examples"].clip(lower=1)
    table["suspect_share_of_errors"] = table["suspects"] / table["errors"].clip(lower=1)
    if len(table) < 2:
        return table, None
    base = table.loc[table["error_rate"].idxmin()]
    lines = []
    for _, r in table.iterrows():
        excess = r["errors"] - base["error_rate"] * r["examples"]
        lo, _ = clopper_pearson(int(r["errors"]), int(r["examples"]))
        # clearly more errors than the easiest domain, and suspects explain under half of them
        if lo > base["error_rate"] and r["suspects"] < 0.5 * excess:
            lines.append(
                f"domain {r['group']!s}: out-of-sample error {r['error_rate']:.1%} against "
                f"{base['error_rate']:.1%} on {base['group']!s}, and only {int(r['suspects'])} "
                f"of its {int(r['errors'])} errors look like label errors: they look like data "
                "mismatch (hard or degraded examples), not label noise; collect or synthesize "
                "more data like it rather than relabel"
            )
    return table, "; ".join(lines) or None


def check_labels_per_label(
    y: object,
    probs: object,
    y_pred: object,
    labels: Sequence[str],
    *,
    report: Sequence[bool] | np.ndarray | None = None,
    confidence: float = 0.95,
) -> dict[str, LabelCheck]:
    """Multi-label: one binary :func:`check_labels` per label over its labeled entries.

    ``y`` (n, T) with NaN (or -1) where unlabeled, ``probs`` (n, T) out-of-sample P(label = 1),
    ``y_pred`` (n, T) the chosen model's 0/1 predictions. Suspect positions index the rows.
    """
    Y = np.asarray(y, dtype=float)
    P = np.asarray(probs, dtype=float)
    Yp = np.asarray(y_pred)
    if Y.ndim != 2 or Y.shape[1] != len(labels) or P.shape != Y.shape or Yp.shape != Y.shape:
        raise UserError(
            f"y, probs and y_pred must be (n, {len(labels)}), got {Y.shape}, {P.shape}, {Yp.shape}"
        )
    mask = np.ones(len(Y), dtype=bool) if report is None else np.asarray(report, dtype=bool)
    out = {}
    for j, name in enumerate(labels):
        known = np.flatnonzero(~np.isnan(Y[:, j]) & (Y[:, j] >= 0))
        pj = np.clip(P[known, j], 0.0, 1.0)
        check = check_labels(
            Y[known, j].astype(np.int64),
            np.column_stack([1 - pj, pj]),
            Yp[known, j].astype(np.int64),
            report=mask[known],
            confidence=confidence,
        )
        suspects = check.suspects.copy()
        suspects.index = pd.Index(known[suspects.index.to_numpy()], name="position")
        out[name] = replace(check, suspects=suspects)
    return out
