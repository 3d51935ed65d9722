"""Split arithmetic: sizes from fractions / counts, stratified allocation, duplicates kept together.

An assignment is an int array with one split code per example (an index into the split
names, ``-1`` for examples no split asked for).
"""

from __future__ import annotations

import math

import numpy as np

from sweeplab.errors import UserError

__all__ = [
    "allocate",
    "duplicate_groups",
    "keep_duplicates_together",
    "nested_order",
    "split_sizes",
]


def split_sizes(
    n: int, requested: dict[str, int | float], *, what: str, key: str
) -> dict[str, int]:
    """Integer sizes: counts as given, fractions of what the counts leave (largest remainder).

    Raises :class:`UserError` when the counts exceed ``n`` or a requested split would be empty.
    """
    counts = {k: v for k, v in requested.items() if isinstance(v, int)}
    fractions = {k: v for k, v in requested.items() if isinstance(v, float)}
    if sum(counts.values()) > n:
        terms = " + ".join(f"{k}={v}" for k, v in counts.items())
        raise UserError(
            f"splits ask for {sum(counts.values())} examples ({terms}), but {what} has {n}; "
            "lower the counts or use fractions",
            key=key,
        )
    rest = n - sum(counts.values())
    exact = {k: f * rest for k, f in fractions.items()}
    sizes = {k: math.floor(v) for k, v in exact.items()}
    short = rest - sum(sizes.values()) if fractions else 0
    for k in sorted(exact, key=lambda k: exact[k] - sizes[k], reverse=True)[:short]:
        sizes[k] += 1
    sizes.update(counts)
    for k in requested:
        if sizes[k] == 0:
            need = math.ceil(1000 / max(rest, 1)) / 1000
            raise UserError(
                f"split {k!r} would be empty: {requested[k]} of the {rest} examples of {what} left "
                f"after counts rounds to 0; ask for a fraction of at least {need:g} or a count ({k}: 1)",
                key=key,
            )
    return {k: sizes[k] for k in requested}


def allocate(strata: np.ndarray, sizes: list[int], rng: np.random.Generator) -> np.ndarray:
    """Assign each example a split code ``0..len(sizes)-1`` (``-1``: left over), per stratum.

    Each split gets exactly ``sizes[s]`` examples, and within ±1 of its share of every stratum
    (a controlled rounding of ``n_c * size_s / n``; Ryser's greedy fills the remainders).
    """
    n = len(strata)
    spare = n - sum(sizes)
    cols = np.array([*sizes, spare], dtype=np.int64)  # last column: left over
    _, inv = np.unique(strata, return_inverse=True)
    per_stratum = np.bincount(inv)
    share = np.outer(per_stratum, cols) / n
    counts = np.floor(share).astype(np.int64)
    frac = share - counts
    row_need = per_stratum - counts.sum(axis=1)
    col_need = cols - counts.sum(axis=0)
    for i in np.argsort(-row_need, kind="stable"):
        # columns with the largest remaining need first (this always succeeds), then larger fractions
        order = np.lexsort((-frac[i], -col_need))[: row_need[i]]
        counts[i, order] += 1
        col_need[order] -= 1
    assert (counts.sum(axis=0) == cols).all() and (counts.sum(axis=1) == per_stratum).all()

    codes = np.full(n, -1, dtype=np.int64)
    labels = np.append(np.arange(len(sizes)), -1)
    for i in range(len(per_stratum)):
        members = rng.permutation(np.flatnonzero(inv == i))
        codes[members] = np.repeat(labels, counts[i])
    return codes


def duplicate_groups(X: np.ndarray) -> list[np.ndarray]:
    """Index arrays of examples whose rows are identical (groups of two or more)."""
    rows = np.ascontiguousarray(X.reshape(len(X), -1), dtype=np.float32) + np.float32(0.0)
    keys = rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel()
    _, inv, counts = np.unique(keys, return_inverse=True, return_counts=True)
    dup = np.flatnonzero(counts > 1)
    if not len(dup):
        return []
    order = np.argsort(inv, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)])
    return [order[starts[g] : starts[g + 1]] for g in dup]


def keep_duplicates_together(
    codes: np.ndarray, groups: list[np.ndarray], strata: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Move identical examples into one split by swapping with same-stratum singletons.

    Swaps keep every split's size and per-stratum counts. A member with no partner to swap
    with stays where it is (``SplitManifest.check_disjoint`` then reports it).
    """
    codes = codes.copy()
    in_group = np.zeros(len(codes), dtype=bool)
    for g in groups:
        in_group[g] = True
    for g in groups:
        values, counts = np.unique(codes[g], return_counts=True)
        real = values >= 0  # left-over copies leak nothing
        if real.sum() < 2:
            continue
        home = values[real][np.argmax(counts[real])]
        for m in g[(codes[g] != home) & (codes[g] >= 0)]:
            partners = np.flatnonzero((codes == home) & ~in_group & (strata == strata[m]))
            if len(partners):
                p = rng.choice(partners)
                codes[p], codes[m] = codes[m], home
    return codes


def nested_order(strata: np.ndarray, seed: int) -> np.ndarray:
    """A seeded order of the examples in which every prefix is stratified: the first ``k``
    hold each stratum's share of ``k`` within ±1, so a smaller share of the data is always a
    subset of a larger one (``train.train_share``; a learning curve).

    Stratum ``c`` of ``n_c`` examples, shuffled, places its ``i``-th at ``(i + u_c) / n_c``
    (``u_c`` uniform in [0, 1), one per stratum); the order sorts these keys.
    """
    rng = np.random.default_rng(seed)
    keys = np.empty(len(strata), dtype=np.float64)
    for c in np.unique(strata):
        members = rng.permutation(np.flatnonzero(strata == c))
        keys[members] = (np.arange(len(members)) + rng.random()) / len(members)
    tie = rng.random(len(strata))  # equal keys (strata of equal size): a seeded order
    return np.lexsort((tie, keys))
