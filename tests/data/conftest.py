"""Shared fixtures for the data tests: real bundled data sets, fixed seeds."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sweeplab.data import DataConfig, Dataset, load_dataset

SPLITS = {"train": 0.8, "train_dev": 0.05, "dev": 0.075, "test": 0.075}


def _make_cfg(source: str = "sklearn:digits", **kw: object) -> DataConfig:
    kw.setdefault("splits", SPLITS)
    return DataConfig(source=source, **kw)


@pytest.fixture(scope="session")
def make_cfg() -> Callable[..., DataConfig]:
    """``make_cfg(source="sklearn:digits", **keys)``: a DataConfig with the default 4-way split."""
    return _make_cfg


@pytest.fixture(scope="session")
def digits() -> Dataset:
    return load_dataset(_make_cfg(), base_dir=".")


@pytest.fixture(scope="session")
def iris() -> Dataset:
    return load_dataset(_make_cfg("sklearn:iris"), base_dir=".")
