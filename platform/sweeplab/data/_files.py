"""The user's own tables (CSV, Parquet) -> :class:`Dataset`, with one clear error per problem."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sweeplab.data._dataset import Dataset
from sweeplab.errors import UserError, close_matches

__all__ = ["read_table"]


def read_table(
    path: Path,
    scheme: str,
    *,
    label: str,
    features: list[str] | None = None,
    domain_column: str | None = None,
) -> Dataset:
    """Read ``path``; ``domain`` of the result holds the raw ``domain_column`` values as str."""
    frame = _read(path, scheme)
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    _need_column(path, columns, label, key="data.label", what="label column")
    if domain_column is not None:
        _need_column(
            path, columns, domain_column, key="data.target.domain_column", what="domain column"
        )
    if features is None:
        features = [c for c in columns if c not in (label, domain_column)]
        if not features:
            raise UserError(f"{path} has no feature columns besides {label!r}", key="data.features")
    for f in features:
        _need_column(path, columns, f, key="data.features", what="feature column")
    if len(frame) == 0:
        raise UserError(f"{path} has no rows")

    X = _features(path, frame, features)
    y, classes = _labels(path, frame[label], label)
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
    try:
        if scheme == "csv":
            return pd.read_csv(path)
        return pd.read_parquet(path)
    except Exception as exc:  # parser errors differ by engine; all mean "cannot read this file"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"cannot read {path} as {scheme}: {reason}", key="data.source") from None


def _need_column(path: Path, columns: list[str], name: str, *, key: str, what: str) -> None:
    if name not in columns:
        shown = ", ".join(columns[:12]) + (", ..." if len(columns) > 12 else "")
        raise UserError(
            f"{path} has no {what} {name!r}; its columns are: {shown}.",
            key=key,
            suggestions=close_matches(name, columns),
        )


def _first(mask: pd.Series) -> int:
    return int(np.flatnonzero(mask.to_numpy())[0])


def _features(path: Path, frame: pd.DataFrame, features: list[str]) -> np.ndarray:
    for f in features:
        col = frame[f]
        if not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
            example = col.dropna().iloc[0] if col.notna().any() else None
            raise UserError(
                f"{path}: feature column {f!r} is not numeric (dtype {col.dtype}, e.g. {example!r}); "
                "encode it as numbers or leave it out of data.features",
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
