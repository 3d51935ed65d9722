"""Data sources: the registry of built-in data sets and :func:`load_dataset`.

Built-in sets ship inside installed packages (scikit-learn's bundled files), so loading them
never touches the network. Register more with ``@DATASETS.register("kind:name")``: a function
``() -> Dataset``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from sweeplab.config.data import FILE_SCHEMES, IMAGE_SCHEMES, DataConfig
from sweeplab.data._dataset import Dataset
from sweeplab.data._degrade import degrade_all, derive_target, value_range_of
from sweeplab.data._files import read_table
from sweeplab.data._images import filter_classes, load_image_folder, resize_images
from sweeplab.data._part import take_part
from sweeplab.data._task_data import GENERATED, generated_dataset
from sweeplab.errors import UserError, close_matches, unknown_name_error
from sweeplab.registry import Registry

__all__ = ["DATASETS", "load_dataset"]

DATASETS: Registry[Callable[[], Dataset]] = Registry("dataset")


def _sklearn(name: str, *, image_shape: tuple[int, ...] | None = None) -> Callable[[], Dataset]:
    def load() -> Dataset:
        from sklearn import datasets

        bunch = getattr(datasets, f"load_{name}")()  # bundled files; no download
        X = np.asarray(bunch.data, dtype=np.float32)
        names = list(bunch.get("feature_names", [])) or [f"pixel_{i}" for i in range(X.shape[1])]
        return Dataset(
            X=X,
            y=np.asarray(bunch.target, dtype=np.int64),
            classes=[str(c) for c in bunch.target_names],
            feature_names=[str(f) for f in names],
            name=name,
            ids=np.array([f"{name}:{i}" for i in range(len(X))]),
            image_shape=image_shape,
        )

    load.__doc__ = f"scikit-learn's bundled {name} data set."
    return load


DATASETS.add("sklearn:digits", _sklearn("digits", image_shape=(1, 8, 8)))
DATASETS.add("sklearn:breast_cancer", _sklearn("breast_cancer"))
DATASETS.add("sklearn:iris", _sklearn("iris"))
DATASETS.add("sklearn:wine", _sklearn("wine"))


def load_dataset(cfg: DataConfig, *, base_dir: str | Path) -> Dataset:
    """Load the examples ``cfg`` names; relative file paths resolve against ``base_dir``.

    With a derived target, ``target.size`` examples are degraded copies (``domain ==
    "target"``) and the rest stay clean (``"source"``); each underlying example appears once.
    Bad data raises one :class:`UserError` naming the file and column. The order: ``part``
    (one of ``of`` disjoint parts of the source), ``classes`` (a filter), ``degrade`` (every
    example, scaled by the whole source's value range), the derived target, and
    ``image_size`` last (degradations happen at the source's own resolution). Splits and
    normalization (train statistics) come after, in ``build_splits`` / ``prepare_tensors``.
    """
    if cfg.scheme in IMAGE_SCHEMES:
        path = Path(cfg.location)
        ds = load_image_folder(
            path if path.is_absolute() else Path(base_dir) / path, image_size=cfg.image_size
        )
    elif cfg.scheme in FILE_SCHEMES:
        path = Path(cfg.location)
        if not path.is_absolute():
            path = Path(base_dir) / path
        domain_column = cfg.target.domain_column if cfg.target else None
        ds = read_table(
            path,
            cfg.scheme,
            label=cfg.label if cfg.label is not None else "",
            features=cfg.features,
            domain_column=domain_column,
        )
        if domain_column is not None:
            ds = _mark_target(ds, path, domain_column, cfg.target.value)  # type: ignore[union-attr]
    elif cfg.scheme == "generated":
        name = cfg.location
        if GENERATED[name].task not in ("multiclass", "multilabel"):
            raise UserError(
                f"{cfg.source} makes {GENERATED[name].task} data, not labelled examples; "
                f"set task: {GENERATED[name].task}",
                key="task",
            )
        ds = generated_dataset(name, cfg.generate, cfg.seed)
    else:
        if cfg.source not in DATASETS:
            raise unknown_name_error("dataset", cfg.source, DATASETS.names(), key="data.source")
        ds = DATASETS.get(cfg.source)()
        if cfg.features is not None:
            ds = _select_features(ds, cfg.features)
    value_range = None
    if cfg.degrade is not None:  # the whole source's: every part is scaled alike
        value_range = value_range_of(ds)
    if cfg.part is not None:
        ds = take_part(ds, cfg.part)
    if cfg.classes is not None:
        ds = filter_classes(ds, cfg.classes)
    if cfg.degrade is not None:
        ds = degrade_all(ds, cfg.degrade, value_range=value_range)
    if cfg.target is not None and cfg.target.derive is not None:
        ds = derive_target(
            ds,
            cfg.target.derive,
            size=cfg.target.size,  # type: ignore[arg-type]
            seed=cfg.seed,
            synthesize=cfg.target.synthesize,
        )
    if cfg.image_size is not None:
        ds = resize_images(ds, cfg.image_size)
    return ds


def _select_features(ds: Dataset, features: list[str]) -> Dataset:
    for f in features:
        if f not in ds.feature_names:
            raise UserError(
                f"{ds.name} has no feature {f!r} (it has {len(ds.feature_names)}: "
                f"{', '.join(ds.feature_names[:8])}{', ...' if len(ds.feature_names) > 8 else ''})",
                key="data.features",
                suggestions=close_matches(f, ds.feature_names),
            )
    cols = [ds.feature_names.index(f) for f in features]
    return replace(
        ds, X=np.ascontiguousarray(ds.X[:, cols]), feature_names=list(features), image_shape=None
    )


def _mark_target(ds: Dataset, path: Path, column: str, value: str | int) -> Dataset:
    raw = ds.domain
    assert raw is not None
    is_target = raw == str(value)
    if not is_target.any():
        values = sorted(set(raw.tolist()))
        raise UserError(
            f"no row of {path} has {column} == {value!r}; the column holds: {', '.join(values[:10])}",
            key="data.target.value",
            suggestions=close_matches(str(value), values),
        )
    if is_target.all():
        raise UserError(
            f"every row of {path} has {column} == {value!r}; no source rows are left",
            key="data.target.value",
        )
    others = sorted(set(raw[~is_target].tolist()))
    source = " / ".join(others[:3]) + (f" / … ({len(others) - 3} more)" if len(others) > 3 else "")
    names = {"source": source, "target": str(value)}
    return replace(ds, domain=np.where(is_target, "target", "source"), domain_names=names)
