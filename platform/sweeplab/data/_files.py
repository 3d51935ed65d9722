"""The user's own tables (CSV, Parquet) -> :class:`Dataset`, with one clear error per problem."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sweeplab.data._dataset import Dataset
from sweeplab.errors import UserError, close_matches
from sweeplab.files import DATA, check_size

__all__ = ["read_table"]


def read_table(
    path: Path,
    scheme: str,
    *,
    label: str | list[str],
    features: list[str] | None = None,
    domain_column: str | None = None,
) -> Dataset:
    """Read ``path``; ``domain`` of the result holds the raw ``domain_column`` values as str.

    ``label`` names the class column, or a list of 0/1 columns: a multi-label data set
    (``y`` float32 ``(n, T)``, a blank cell = unlabeled = NaN; ``classes`` = the columns).
    """
    frame = _read(path, scheme)
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    labels = [label] if isinstance(label, str) else list(label)
    for name in labels:
        _need_column(path, columns, name, key="data.label", what="label column")
    if domain_column is not None:
        _need_column(
            path, columns, domain_column, key="data.target.domain_column", what="domain column"
        )
    chosen = features is not None
    if features is None:
        features = [c for c in columns if c not in (*labels, domain_column)]
        if not features:
            shown = ", ".join(repr(c) for c in labels)
            raise UserError(f"{path} has no feature columns besides {shown}", key="data.features")
    for f in features:
        _need_column(path, columns, f, key="data.features", what="feature column")
    if len(frame) == 0:
        raise UserError(f"{path} has no rows")

    X = _features(path, frame, features, chosen=chosen)
    if isinstance(label, str):
        y, classes = _labels(path, frame[label], label)
    else:
        y, classes = _multilabels(path, frame, labels), labels
    domain = None
    if domain_column is not None:
        d = frame[domain_column]
        if d.isna().any():
            raise UserError(
                f"{path}: domain column {domain_column!r} is empty in {int(d.isna().sum())} rows (first: row {_first(d.isna())})",
                key="data.target.domain_column",
            )
        domain = d.astype(str).to_numpy()
    return Dataset(
        X=X,
        y=y,
        classes=classes,
        feature_names=list(features),
        name=path.stem,
        ids=np.array([str(i) for i in range(len(frame))]),
        domain=domain,
    )


def _read(path: Path, scheme: str) -> pd.DataFrame:
    if not path.is_file():
        raise UserError(f"data file {path} does not exist", key="data.source")
    check_size(path, DATA)  # before pandas reads it
    try:
        if scheme == "csv":
            return pd.read_csv(path)
        return pd.read_parquet(path)
    except Exception as exc:  # parser errors differ by engine; all mean "cannot read this file"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"cannot read {path} as {scheme}: {reason}", key="data.source") from None


def _need_column(path: Path, columns: list[str], name: str, *, key: str, what: str) -> None:
    if name not in columns:
        raise UserError(
            f"{path} has no {what} {name!r}; its {len(columns)} columns are: {_listed(columns)}",
            key=key,
            suggestions=close_matches(name, columns),
        )


def _listed(columns: list[str], *, head: int = 24, tail: int = 6) -> str:
    """Every column, or for a wide table the first and the last ones with the count between."""
    if len(columns) <= head + tail:
        return ", ".join(columns)
    hidden = len(columns) - head - tail
    return f"{', '.join(columns[:head])}, ({hidden} more), {', '.join(columns[-tail:])}"


def _first(mask: pd.Series) -> int:
    return int(np.flatnonzero(mask.to_numpy())[0])


def _features(path: Path, frame: pd.DataFrame, features: list[str], *, chosen: bool) -> np.ndarray:
    for f in features:
        col = frame[f]
        if not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
            example = col.dropna().iloc[0] if col.notna().any() else None
            numeric = [c for c in features if pd.api.types.is_numeric_dtype(frame[c])]
            fix = (
                "encode it as numbers or leave it out of data.features"
                if chosen
                else "without data.features every column but the label and the domain column is "
                f"a feature: list the numeric ones, e.g. data.features: [{', '.join(numeric[:4])}]"
                ", or encode it as numbers"
            )
            raise UserError(
                f"{path}: {'feature column' if chosen else 'column'} {f!r} is not numeric (dtype {col.dtype}, e.g. {example!r}); {fix}",
                key="data.features",
            )
    X = frame[features].to_numpy(dtype=np.float64)
    bad = ~np.isfinite(X)
    if bad.any():
        j = int(np.flatnonzero(bad.any(axis=0))[0])
        rows = np.flatnonzero(bad[:, j])
        others = int(bad.any(axis=0).sum()) - 1
        more = f" ({others} more column(s) have them too)" if others else ""
        raise UserError(
            f"{path}: feature column {features[j]!r} has NaN or inf in {len(rows)} row(s) "
            f"(first: row {rows[0]}){more}; fill or drop them",
            key="data.features",
        )
    big = np.abs(X) > np.finfo(np.float32).max
    if big.any():
        j = int(np.flatnonzero(big.any(axis=0))[0])
        raise UserError(
            f"{path}: feature column {features[j]!r} has values too large for float32",
            key="data.features",
        )
    return X.astype(np.float32)


def _labels(path: Path, col: pd.Series, name: str) -> tuple[np.ndarray, list[str]]:
    missing = col.isna()
    if missing.any():
        raise UserError(
            f"{path}: label column {name!r} is empty in {int(missing.sum())} row(s) (first: row {_first(missing)})",
            key="data.label",
        )
    values = col.to_numpy()
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        numeric = values.astype(np.float64)
        if not np.isfinite(numeric).all():
            raise UserError(f"{path}: label column {name!r} has inf values", key="data.label")
        uniq, y = np.unique(numeric, return_inverse=True)  # sorted numerically: 2 before 10
        integral = np.all(uniq == np.round(uniq))
        classes = [str(int(u)) if integral else str(u) for u in uniq]
    else:
        uniq, y = np.unique(values.astype(str), return_inverse=True)
        classes = [str(u) for u in uniq]
    if len(classes) < 2:
        raise UserError(
            f"{path}: label column {name!r} has a single class {classes[0]!r}; classification needs at least 2",
            key="data.label",
        )
    return y.astype(np.int64), classes


def _multilabels(path: Path, frame: pd.DataFrame, labels: list[str]) -> np.ndarray:
    """``(n, T)`` float32 of 1 / 0, NaN where the cell is blank (not labeled for that label).

    Accepts 0 / 1 (also 0.0 / 1.0), true / false, and -1 for unlabeled as a blank; anything
    else names the row and column.
    """
    y = np.full((len(frame), len(labels)), np.nan, dtype=np.float32)
    for j, name in enumerate(labels):
        col = frame[name]
        known = col.notna().to_numpy().copy()
        if pd.api.types.is_bool_dtype(col):
            values = col.to_numpy(dtype=object)
            y[known, j] = values[known].astype(np.float32)
            continue
        text = col.astype(str).str.strip().str.lower()
        mapped = text.map(
            {"1": 1.0, "1.0": 1.0, "true": 1.0, "0": 0.0, "0.0": 0.0, "false": 0.0}
            | {"-1": np.nan, "-1.0": np.nan}  # -1: unlabeled, as the multilabel loss reads it
        )
        known &= ~text.isin(["-1", "-1.0"]).to_numpy()
        bad = known & mapped.isna().to_numpy()
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            value = col.iloc[row]
            if not isinstance(value, str):  # numpy scalars: show 2, 0.5, not np.float64(2.0)
                value = int(value) if float(value).is_integer() else float(value)
            raise UserError(
                f"{path}: label column {name!r} must hold 0, 1 or a blank / -1 (unlabeled), but row "
                f"{row} has {value!r} ({int(bad.sum())} such row(s))",
                key="data.label",
            )
        y[known, j] = mapped.to_numpy(dtype=np.float64)[known]
    if np.isnan(y).all():
        raise UserError(f"{path}: every label cell is blank; nothing is labeled", key="data.label")
    return y
