"""``build_splits``: a seeded, stratified, reproducible split of a :class:`Dataset`."""

from __future__ import annotations

import numpy as np

from sweeplab.config.data import SPLIT_ORDER, DataConfig
from sweeplab.data._allocate import (
    allocate,
    duplicate_groups,
    keep_duplicates_together,
    split_sizes,
)
from sweeplab.data._dataset import Dataset
from sweeplab.data._manifest import SplitManifest
from sweeplab.errors import UserError

__all__ = ["build_splits"]


def build_splits(ds: Dataset, cfg: DataConfig) -> SplitManifest:
    """Split ``ds`` as ``cfg.splits`` (and ``cfg.target.splits``) ask; same seed, same indices.

    Without a target, the whole data set is divided. With one (``ds.domain`` marks it), the
    target examples are divided into train / dev / test, and the training pool (every source
    example + the target's train part) into train / train_dev, stratified by class and domain
    so that train_dev has train's distribution. Identical examples are kept in one split.
    """
    rng = np.random.default_rng(cfg.seed)
    strata = _strata(ds, cfg.stratify)
    codes = np.full(len(ds), -1, dtype=np.int64)  # index into SPLIT_ORDER
    if cfg.target is None:
        sizes = split_sizes(len(ds), cfg.splits.sizes(), what=ds.name, key="data.splits")
        codes[:] = _codes(strata, sizes, rng)
    else:
        if ds.domain is None:
            raise UserError(
                f"{ds.name} has no domain per example, but the project has a target",
                key="data.target",
            )
        target = np.flatnonzero(ds.domain == "target")
        sizes = split_sizes(
            len(target),
            cfg.target.splits.sizes(),
            what="the target domain",
            key="data.target.splits",
        )
        codes[target] = _codes(strata[target], sizes, rng)
        pool = np.flatnonzero((ds.domain == "source") | (codes == SPLIT_ORDER.index("train")))
        sizes = split_sizes(
            len(pool), cfg.splits.sizes(), what="the training pool", key="data.splits"
        )
        codes[pool] = _codes(strata[pool], sizes, rng)
    groups = duplicate_groups(ds.X)
    if groups:
        codes = keep_duplicates_together(codes, groups, strata, rng)
    return SplitManifest(
        splits={
            k: np.flatnonzero(codes == i) for i, k in enumerate(SPLIT_ORDER) if (codes == i).any()
        },
        dataset=ds.name,
        fingerprint=ds.fingerprint(),
        seed=cfg.seed,
        n=len(ds),
    )


def _strata(ds: Dataset, stratify: bool) -> np.ndarray:
    """Class id (when stratified) and domain (always: swaps must not move a domain).

    Multi-label data is stratified by each example's pattern of 1 / 0 / unlabeled over the
    labels, so every split gets its share of each combination (and of the unlabeled entries).
    """
    if not stratify:
        strata = np.zeros(len(ds), dtype=np.int64)
    elif ds.multilabel:
        pattern = np.where(np.isnan(ds.y), 2, ds.y).astype(np.int8)  # (n, T): 0, 1, 2 = unlabeled
        strata = np.unique(pattern, axis=0, return_inverse=True)[1].reshape(-1).astype(np.int64)
    else:
        strata = ds.y.copy()
    if ds.domain is not None:
        strata = strata * 2 + (ds.domain == "target")
    return strata


def _codes(strata: np.ndarray, sizes: dict[str, int], rng: np.random.Generator) -> np.ndarray:
    local = allocate(strata, list(sizes.values()), rng)
    lookup = np.array([SPLIT_ORDER.index(k) for k in sizes] + [-1])
    return lookup[local]  # -1 (left over) indexes the appended -1
