"""The split manifest: which examples are in which split, built once and shared by every trial.

It records the data's fingerprint, so a manifest cannot silently be used with other data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sweeplab._atomic import write_atomic
from sweeplab.data._allocate import duplicate_groups
from sweeplab.data._dataset import Dataset
from sweeplab.errors import UserError
from sweeplab.files import read_json

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SplitManifest"]

_FORMAT = 1


@dataclass(frozen=True, eq=False)
class SplitManifest:
    """``splits`` maps a split name (train, train_dev, dev, test) to sorted example indices."""

    splits: dict[str, np.ndarray]
    dataset: str
    fingerprint: str
    seed: int
    n: int = field(default=0)

    def __post_init__(self) -> None:
        splits = {k: np.sort(np.asarray(v, dtype=np.int64)) for k, v in self.splits.items()}
        for name, idx in splits.items():
            if len(idx) and (idx[0] < 0 or (self.n and idx[-1] >= self.n)):
                raise ValueError(f"split {name!r} has indices outside 0..{self.n - 1}")
        object.__setattr__(self, "splits", splits)

    def sizes(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.splits.items()}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SplitManifest):
            return NotImplemented
        return (
            (self.dataset, self.fingerprint, self.seed, self.n)
            == (other.dataset, other.fingerprint, other.seed, other.n)
            and self.splits.keys() == other.splits.keys()
            and all(np.array_equal(v, other.splits[k]) for k, v in self.splits.items())
        )

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}={v}" for k, v in self.sizes().items())
        return f"SplitManifest({self.dataset}: {sizes}; seed={self.seed}, fingerprint={self.fingerprint[:12]})"

    @staticmethod
    def fingerprint_of(ds: Dataset) -> str:
        """The fingerprint a manifest of ``ds`` records: the bytes of X, y (and domain), so
        any change of source, ``part``, ``classes`` or ``degrade`` gives another one."""
        return ds.fingerprint()

    # -- persistence -------------------------------------------------------------------------
    def to_json(self, path: str | Path) -> None:
        doc = {
            "format": _FORMAT,
            "dataset": self.dataset,
            "fingerprint": self.fingerprint,
            "seed": self.seed,
            "n": self.n,
            "splits": {k: v.tolist() for k, v in self.splits.items()},
        }
        write_atomic(path, json.dumps(doc, separators=(",", ":")) + "\n")

    @classmethod
    def from_json(cls, path: str | Path) -> SplitManifest:
        try:
            doc = read_json(path)
            return cls(
                splits={k: np.asarray(v, dtype=np.int64) for k, v in doc["splits"].items()},
                dataset=doc["dataset"],
                fingerprint=doc["fingerprint"],
                seed=int(doc["seed"]),
                n=int(doc.get("n", 0)),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UserError(f"cannot read split manifest {path}: {exc}") from None

    # -- checks ------------------------------------------------------------------------------
    def verify(self, ds: Dataset) -> None:
        """Raise :class:`UserError` unless ``ds`` is the data this manifest was built from."""
        found = ds.fingerprint()
        if found != self.fingerprint:
            raise UserError(
                f"split manifest for {self.dataset!r} was built from data with fingerprint "
                f"{self.fingerprint[:12]}, but {ds.name!r} now has {found[:12]} ({len(ds)} examples); "
                "the data changed: rebuild the splits"
            )

    def check_disjoint(self, ds: Dataset) -> list[str]:
        """Raise if an index is in two splits; return a warning per identical example across splits.

        Identical rows (same content hash) in two splits are not an error, since a data set may
        hold true duplicates, but they leak: each one is listed as
        ``"digits:12 (train) = digits:40 (dev)"``.
        """
        self.verify(ds)
        names = list(self.splits)
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                both = np.intersect1d(self.splits[a], self.splits[b])
                if len(both):
                    raise UserError(
                        f"splits {a!r} and {b!r} share {len(both)} example(s), e.g. {ds.ids[both[0]]}; "
                        "the manifest is broken: rebuild the splits"
                    )
        where = np.full(len(ds), "", dtype=object)
        for name, idx in self.splits.items():
            where[idx] = name
        warnings = []
        for g in duplicate_groups(ds.X):
            g = g[where[g] != ""]
            if len(set(where[g])) > 1:
                warnings.append(" = ".join(f"{ds.ids[i]} ({where[i]})" for i in g))
        return warnings

    def composition(self, ds: Dataset) -> pd.DataFrame:
        """Counts per split x class (x domain when the data has one); rows split[, domain].

        Multi-label data: per split, the examples labeled 1 for each label, the unlabeled
        entries (``unlabeled``) and the examples (``total``).
        """
        import pandas as pd

        self.verify(ds)
        if ds.multilabel:
            rows = {
                name: [
                    *np.nansum(ds.y[idx], axis=0).astype(np.int64).tolist(),
                    int(np.isnan(ds.y[idx]).sum()),
                    len(idx),
                ]
                for name, idx in self.splits.items()
            }
            table = pd.DataFrame.from_dict(
                rows, orient="index", columns=[*ds.classes, "unlabeled", "total"]
            )
            table.index.name, table.columns.name = "split", "class"
            return table
        parts = []
        for name, idx in self.splits.items():
            part = {"split": name, "class": np.asarray(ds.classes, dtype=object)[ds.y[idx]]}
            if ds.domain is not None:
                part["domain"] = ds.domain[idx]
            parts.append(pd.DataFrame(part))
        frame = pd.concat(parts, ignore_index=True)
        index = ["split", "domain"] if ds.domain is not None else ["split"]
        table = pd.crosstab([frame[c] for c in index], frame["class"])
        table = table.reindex(columns=ds.classes, fill_value=0)
        order = {k: i for i, k in enumerate(self.splits)}
        table = table.sort_index(key=lambda s: s.map(order) if s.name == "split" else s)
        table["total"] = table.sum(axis=1)
        table.columns.name = "class"
        if ds.domain_names:  # the user's names (a domain column's values), in source, target order
            table = table.rename(index=ds.display_domain, level="domain")
        return table
