"""Error analysis across a sweep: the chosen trial's dev errors, split by the top-K trials.

An example every one of the sweep's K best trials gets wrong is hard or mislabeled: no
choice among these configurations fixes it (look at it, relabel it, or collect more like it).
An example only some of them get wrong is a matter of model choice (an ensemble, or the
configuration that gets it right). :func:`sweep_errors` gives each group the error-analysis
table (its categories and ceilings: how much the chosen trial's dev error falls if every
error of the category in the group were fixed); the two groups' ceilings add up to the dev
error.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sweeplab.analysis._error_table import ErrorTable, error_table
from sweeplab.errors import UserError

__all__ = ["SweepErrors", "sweep_errors"]


@dataclass(frozen=True)
class SweepErrors:
    """``all_wrong`` / ``some_wrong``: error tables of the chosen trial's dev errors that every
    top-K trial gets wrong / that at least one of them gets right. ``others_only``: dev
    examples the chosen trial gets right but another top-K trial gets wrong."""

    trials: list[Hashable]  # the K trials, chosen first
    n_dev: int
    all_wrong: ErrorTable
    some_wrong: ErrorTable
    others_only: int

    def as_dict(self) -> dict[str, Any]:
        def group(t: ErrorTable) -> dict[str, Any]:
            top = t.summary.head(10)
            return {
                "errors": t.n_errors,
                "ceiling": t.n_errors / self.n_dev if self.n_dev else None,
                "categories": [
                    {"category": str(c), "errors": int(r["errors"]), "ceiling": float(r["ceiling"])}
                    for c, r in top.iterrows()
                ],
            }

        return {
            "trials": [str(t) for t in self.trials],
            "n_dev": self.n_dev,
            "all_wrong": group(self.all_wrong),
            "some_wrong": group(self.some_wrong),
            "others_only": self.others_only,
        }


def sweep_errors(
    ids: Sequence[Hashable] | np.ndarray,
    y_true: Sequence[Hashable] | np.ndarray,
    predictions: Sequence[Sequence[Hashable] | np.ndarray],
    *,
    trials: Sequence[Hashable] | None = None,
    categories: pd.DataFrame | None = None,
) -> SweepErrors:
    """Split the dev errors of ``predictions[0]`` (the chosen trial) by whether all of the
    trials' ``predictions`` (K arrays, one per trial, aligned with ``ids``) get them wrong.
    ``categories``: per-example tags, as for :func:`error_table`."""
    yt = np.asarray(y_true)
    preds = [np.asarray(p) for p in predictions]
    if not preds:
        raise UserError("needs the predictions of at least one trial", key="predictions")
    if any(p.shape != yt.shape for p in preds):
        raise UserError(f"every trial's predictions must have the shape of y_true {yt.shape}")
    names = list(trials) if trials is not None else list(range(len(preds)))
    if len(names) != len(preds):
        raise UserError(f"{len(preds)} predictions but {len(names)} trial names", key="trials")
    wrong = np.stack([p != yt for p in preds])  # (K, n)
    chosen = preds[0]
    every = wrong.all(axis=0)

    def table(group: np.ndarray) -> ErrorTable:
        # the chosen trial's prediction inside the group, the truth outside: its rows are the group
        return error_table(ids, yt, np.where(group, chosen, yt), categories=categories)

    return SweepErrors(
        trials=names,
        n_dev=len(yt),
        all_wrong=table(wrong[0] & every),
        some_wrong=table(wrong[0] & ~every),
        others_only=int((~wrong[0] & wrong[1:].any(axis=0)).sum()) if len(preds) > 1 else 0,
    )
