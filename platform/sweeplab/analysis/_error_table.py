"""Error-analysis tables: which categories of mistakes are worth fixing.

The curriculum's table has one row per misclassified dev example and one column per category
of mistake (blurry, mislabeled, a breed of dog…); summing the checks in each column gives the
*ceiling* of a fix: if every error of the category were fixed, the dev error would fall by
``errors in the category / dev-set size``. Categories overlap, so ceilings do not add up.

Categories come from per-example columns: a boolean column is one category; any other column
(a tag such as the true class, the domain, a feature bucket from :func:`bucketize`) is one
category per value, named ``"column=value"``. Reviewed categories (see ``merge_review``) may
cover only a sample of the errors; their shares are estimated on the reviewed examples.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sweeplab.errors import UserError

__all__ = [
    "ErrorTable",
    "confusion",
    "error_table",
    "per_class_errors",
    "summarize",
]

#: Columns of ``ErrorTable.rows`` that are not categories.
INFO_COLUMNS = ("y_true", "y_pred", "confidence", "p_true")

SUMMARY_COLUMNS = (
    "errors",
    "examined",
    "pct_of_errors",
    "pct_of_dev",
    "category_error",
    "ceiling",
)


@dataclass(frozen=True)
class ErrorTable:
    """An error-analysis table.

    ``rows``: one row per misclassified example, indexed by example id (``"id"``), with
    ``y_true``, ``y_pred`` (``confidence`` = probability of the predicted class and ``p_true``
    when probabilities were given) and one nullable-boolean column per category (``<NA>``:
    not examined, e.g. not in the reviewed sample).

    ``summary``: one row per category, most errors first, with

    * ``errors`` — misclassified examples in the category;
    * ``examined`` — misclassified examples checked for it (all of them, or the reviewed ones);
    * ``pct_of_errors`` — 100 · errors / examined: the category's share of the errors, in %;
    * ``pct_of_dev`` — the category's share of the whole dev set, in % (NaN when only the
      errors were tagged, so the category's size in the dev set is unknown);
    * ``category_error`` — error rate inside the category (NaN when its size is unknown);
    * ``ceiling`` — how much the dev error (a fraction) would fall if every error of the
      category were fixed: ``errors / n_dev`` when every error was examined, in general
      ``errors / examined · dev_error``. Ceilings of overlapping categories do not add.
    """

    rows: pd.DataFrame
    summary: pd.DataFrame
    n_dev: int
    categories: tuple[str, ...]
    category_sizes: Mapping[str, int | None] = field(default_factory=dict, hash=False)

    @property
    def n_errors(self) -> int:
        return len(self.rows)

    @property
    def dev_error(self) -> float:
        return self.n_errors / self.n_dev


# --- input normalisation ---------------------------------------------------------------------


def _as_1d(name: str, values: object) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise UserError(f"must be one-dimensional, but got shape {arr.shape}", key=name)
    return arr


def _check_same_length(**arrays: Sequence[object] | np.ndarray | pd.DataFrame) -> int:
    lengths = {k: len(v) for k, v in arrays.items()}
    if len(set(lengths.values())) > 1:
        found = ", ".join(f"{k}={n}" for k, n in lengths.items())
        raise UserError(f"inputs must have the same length, but got {found}")
    return next(iter(lengths.values()))


def _is_bool_column(col: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(col):
        return True
    if col.dtype == object:
        values = col.dropna()
        return len(values) > 0 and all(isinstance(v, bool | np.bool_) for v in values)
    return False


def _expand_categories(tags: pd.DataFrame) -> pd.DataFrame:
    """Bool columns as they are; tag columns one-hot as ``"column=value"`` (NaN: in none)."""
    out: dict[str, pd.Series] = {}
    for name in tags.columns:
        col = tags[name]
        if _is_bool_column(col):
            out[str(name)] = col.astype("boolean").fillna(False)
            continue
        if isinstance(col.dtype, pd.CategoricalDtype):
            values = [v for v in col.cat.categories if (col == v).any()]
        else:
            present = col.dropna().unique().tolist()
            try:
                values = sorted(present)
            except TypeError:  # mixed types: keep first-seen order
                values = present
        for v in values:
            out[f"{name}={v}"] = (col == v).fillna(False).astype("boolean")
    frame = pd.DataFrame(out, index=tags.index)
    dup = frame.columns[frame.columns.duplicated()].tolist()
    if dup:
        raise UserError(f"category names must be unique, but {dup[0]!r} appears twice")
    return frame


def _align_tags(tags: pd.DataFrame, ids: pd.Index) -> pd.DataFrame:
    """Align tag rows with ``ids``: by position when ``tags`` has the default index (0..n-1),
    else by id (its index must hold exactly the example ids)."""
    if not isinstance(tags, pd.DataFrame):
        raise UserError(f"categories must be a pandas DataFrame, but got {type(tags).__name__}")
    if len(tags) != len(ids):
        raise UserError(
            f"categories must have one row per example ({len(ids)}), but got {len(tags)} rows"
        )
    if tags.index.equals(pd.RangeIndex(len(tags))):
        return tags.set_axis(ids, axis=0)
    if tags.index.is_unique and set(tags.index) == set(ids):
        return tags.loc[ids].set_axis(ids, axis=0)
    raise UserError(
        "categories must be indexed by the example ids (or by position 0..n-1), "
        f"but its index holds e.g. {tags.index[0]!r}"
    )


# --- the table -----------------------------------------------------------------------------


def summarize(
    rows: pd.DataFrame,
    categories: Sequence[str],
    *,
    n_dev: int,
    category_sizes: Mapping[str, int | None],
) -> pd.DataFrame:
    """The per-category summary of ``rows`` (see :class:`ErrorTable`)."""
    n_errors = len(rows)
    dev_error = n_errors / n_dev if n_dev else float("nan")
    records = []
    for cat in categories:
        col = rows[cat]
        examined = int(col.notna().sum())
        errors = int(col.fillna(False).astype(bool).sum())
        share = errors / examined if examined else float("nan")
        size = category_sizes.get(cat)
        records.append(
            {
                "errors": errors,
                "examined": examined,
                "pct_of_errors": 100.0 * share,
                "pct_of_dev": 100.0 * size / n_dev if size is not None else float("nan"),
                "category_error": errors / size if size else float("nan"),
                # errors / n_dev when every error was examined; a sample scales to all errors
                "ceiling": errors / n_dev if examined == n_errors else share * dev_error,
            }
        )
    summary = pd.DataFrame.from_records(records, columns=list(SUMMARY_COLUMNS))
    summary.index = pd.Index(list(categories), name="category", dtype=object)
    summary["errors"] = summary["errors"].astype(int)
    summary["examined"] = summary["examined"].astype(int)
    # most errors first; ties keep the column order (stable sort)
    return summary.sort_values("errors", ascending=False, kind="stable")


def _probability_columns(
    probs: object, y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[Hashable] | None
) -> dict[str, np.ndarray]:
    p = np.asarray(probs, dtype=float)
    if p.ndim == 1:  # binary: probability of the positive class
        p = np.column_stack([1.0 - p, p])
    if p.ndim != 2 or len(p) != len(y_true):
        raise UserError(
            f"must have shape (n_examples, n_classes) = ({len(y_true)}, k), but got {p.shape}",
            key="probs",
        )
    if not np.isfinite(p).all() or (p < 0).any() or (p > 1).any():
        raise UserError("must hold finite probabilities in [0, 1]", key="probs")
    cls = list(range(p.shape[1])) if classes is None else list(classes)
    if len(cls) != p.shape[1]:
        raise UserError(f"has {p.shape[1]} columns but {len(cls)} classes were given", key="probs")
    position = {c: i for i, c in enumerate(cls)}
    out = {}
    for name, labels in (("p_true", y_true), ("confidence", y_pred)):
        unknown = [v for v in labels.tolist() if v not in position]
        if unknown:
            raise UserError(
                f"label {unknown[0]!r} is not one of the probability columns' classes {cls}; "
                "pass classes= in the column order",
                key="y_true" if name == "p_true" else "y_pred",
            )
        idx = np.array([position[v] for v in labels.tolist()], dtype=int)
        out[name] = p[np.arange(len(p)), idx]
    return {"confidence": out["confidence"], "p_true": out["p_true"]}


def error_table(
    ids: Sequence[Hashable] | np.ndarray | pd.Index,
    y_true: Sequence[Hashable] | np.ndarray,
    y_pred: Sequence[Hashable] | np.ndarray,
    *,
    probs: object | None = None,
    classes: Sequence[Hashable] | None = None,
    categories: pd.DataFrame | None = None,
    n_dev: int | None = None,
) -> ErrorTable:
    """Build the error-analysis table of a dev set.

    ``ids``, ``y_true``, ``y_pred`` (and ``probs``, ``categories``) describe the examples:
    normally the whole dev set. ``n_dev`` is the dev-set size; it defaults to the number of
    examples, and may be larger when only some examples are given — then every misclassified
    dev example must be among them, and the categories' sizes in the dev set are unknown.
    ``probs`` is (n, k) class probabilities in the order of ``classes`` (default 0..k-1), or
    (n,) probabilities of the positive class. ``categories`` is a DataFrame of per-example
    bool columns or tags, aligned by id (its index) or by position.
    """
    ids_arr = _as_1d("ids", ids)
    yt = _as_1d("y_true", y_true)
    yp = _as_1d("y_pred", y_pred)
    n = _check_same_length(ids=ids_arr, y_true=yt, y_pred=yp)
    index = pd.Index(ids_arr, name="id")
    if not index.is_unique:
        raise UserError(f"example ids must be unique, but {index[index.duplicated()][0]!r} repeats")
    if n_dev is None:
        n_dev = n
    if isinstance(n_dev, bool) or not isinstance(n_dev, int | np.integer) or n_dev < max(n, 1):
        raise UserError(
            f"n_dev must be an integer >= the number of examples ({n}), but got {n_dev!r}",
            key="n_dev",
        )
    n_dev = int(n_dev)

    frame = pd.DataFrame({"y_true": yt, "y_pred": yp}, index=index)
    if probs is not None:
        for name, values in _probability_columns(probs, yt, yp, classes).items():
            frame[name] = values

    expanded = pd.DataFrame(index=index)
    if categories is not None:
        expanded = _expand_categories(_align_tags(categories, index))
        clash = [c for c in expanded.columns if c in INFO_COLUMNS]
        if clash:
            raise UserError(f"category {clash[0]!r} clashes with a reserved column name")
    cats = tuple(str(c) for c in expanded.columns)
    whole_set = n == n_dev
    sizes = {c: (int(expanded[c].sum()) if whole_set else None) for c in cats}

    wrong = yt != yp
    rows = pd.concat([frame[wrong], expanded[wrong]], axis=1)
    summary = summarize(rows, cats, n_dev=n_dev, category_sizes=sizes)
    return ErrorTable(
        rows=rows, summary=summary, n_dev=n_dev, categories=cats, category_sizes=sizes
    )


# --- per-class views -----------------------------------------------------------------------


def _classes(yt: np.ndarray, yp: np.ndarray, classes: Sequence[Hashable] | None) -> list:
    if classes is None:
        seen = pd.unique(np.concatenate([yt, yp]))
        try:
            return sorted(seen.tolist())
        except TypeError:
            return seen.tolist()
    cls = list(classes)
    if len(set(cls)) != len(cls):
        raise UserError("classes must be unique", key="classes")
    known = set(cls)
    unknown = sorted({v for v in [*yt.tolist(), *yp.tolist()] if v not in known}, key=str)
    if unknown:
        raise UserError(f"label {unknown[0]!r} is not one of the classes {cls}", key="classes")
    return cls


def confusion(
    y_true: Sequence[Hashable] | np.ndarray,
    y_pred: Sequence[Hashable] | np.ndarray,
    classes: Sequence[Hashable] | None = None,
) -> pd.DataFrame:
    """Confusion counts: rows are true classes (``"true"``), columns predicted (``"predicted"``)."""
    yt, yp = _as_1d("y_true", y_true), _as_1d("y_pred", y_pred)
    _check_same_length(y_true=yt, y_pred=yp)
    cls = _classes(yt, yp, classes)
    pos = {c: i for i, c in enumerate(cls)}
    counts = np.zeros((len(cls), len(cls)), dtype=int)
    np.add.at(counts, ([pos[v] for v in yt.tolist()], [pos[v] for v in yp.tolist()]), 1)
    return pd.DataFrame(
        counts,
        index=pd.Index(cls, name="true", dtype=object),
        columns=pd.Index(cls, name="predicted", dtype=object),
    )


def per_class_errors(
    y_true: Sequence[Hashable] | np.ndarray,
    y_pred: Sequence[Hashable] | np.ndarray,
    classes: Sequence[Hashable] | None = None,
) -> pd.DataFrame:
    """Errors per true class, most first: ``support``, ``errors``, ``error_rate`` (within the
    class), ``pct_of_errors`` (%) and ``ceiling`` (= errors / n: the fall of the overall error
    if the class's errors were all fixed)."""
    cm = confusion(y_true, y_pred, classes)
    support = cm.sum(axis=1)
    correct = pd.Series(np.diag(cm.to_numpy()), index=cm.index)
    errors = support - correct
    n = int(support.sum())
    total = int(errors.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        out = pd.DataFrame(
            {
                "support": support.astype(int),
                "errors": errors.astype(int),
                "error_rate": errors / support.where(support > 0),
                "pct_of_errors": 100.0 * errors / total if total else 0.0 * errors,
                "ceiling": errors / n if n else 0.0 * errors,
            }
        )
    out.index.name = "class"
    return out.sort_values("errors", ascending=False, kind="stable")
