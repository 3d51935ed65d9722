"""``data.part``: one of ``of`` disjoint, seeded parts of a source, for projects that share it.

Two projects that take ``part: {of: 2, index: 0}`` and ``{of: 2, index: 1}`` with one seed
see disjoint examples that together are the whole source: e.g. pre-training on clean images
of one half and fine-tuning on degraded images of the other, so that no image's clean copy
trains the network that is scored on its degraded copy. The section's schema,
:class:`~sweeplab.config.data.PartConfig`, is in :mod:`sweeplab.config.data`.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from sweeplab.config.data import PartConfig
from sweeplab.data._dataset import Dataset
from sweeplab.errors import UserError

__all__ = ["part_indices", "take_part"]


def part_indices(n: int, cfg: PartConfig) -> np.ndarray:
    """Sorted indices of part ``cfg.index``: ``permutation(n)[⌊i·n/k⌋ : ⌊(i+1)·n/k⌋]``.

    Not stratified (with tens of examples per class the classes come out balanced within a
    few examples); the parts' sizes differ by at most one.
    """
    order = np.random.default_rng(cfg.seed).permutation(n)
    lo, hi = cfg.index * n // cfg.of, (cfg.index + 1) * n // cfg.of
    return np.sort(order[lo:hi])


def take_part(ds: Dataset, cfg: PartConfig) -> Dataset:
    """The examples of part ``cfg.index``, in source order; ids, labels and domain kept."""
    if len(ds) < cfg.of:
        raise UserError(
            f"part.of <= the number of examples must hold, but got of={cfg.of} for "
            f"{len(ds)} examples of {ds.name}",
            key="data.part.of",
        )
    idx = part_indices(len(ds), cfg)
    return replace(
        ds,
        X=np.ascontiguousarray(ds.X[idx]),
        y=ds.y[idx],
        ids=ds.ids[idx],
        domain=None if ds.domain is None else ds.domain[idx],
        name=f"{ds.name}[part {cfg.index}/{cfg.of}]",
    )
