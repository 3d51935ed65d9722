"""Artificial data synthesis (``data.target.synthesize``): a share of the source examples made
target-like with the target's degradations, kept in the training pool."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from sweeplab.data import DataConfig, load_dataset

DERIVE = {"degradations": ["blur", "noise", "downscale", "low_contrast"], "strength": 1.0}


def _load(synthesize: float, derive: dict = DERIVE):
    target = {"derive": derive, "size": 600, "splits": {"train": 200, "dev": 200, "test": 200}}
    cfg = DataConfig(
        source="sklearn:digits",
        target={**target, "synthesize": synthesize},
        splits={"train": 0.9, "train_dev": 0.1},
        seed=0,
    )
    return load_dataset(cfg, base_dir=".")


def test_synthesis_changes_a_stratified_share_of_the_source_only() -> None:
    plain, synth = _load(0.0), _load(0.5)
    assert (plain.domain == synth.domain).all() and (plain.y == synth.y).all()
    target = plain.domain == "target"
    np.testing.assert_array_equal(plain.X[target], synth.X[target])  # the target is untouched
    changed = (plain.X != synth.X).any(axis=1)
    source = ~target
    assert not changed[target].any()
    assert changed[source].sum() == round(0.5 * source.sum())  # 1197 source digits -> 598
    # Stratified: every class has about half of its source digits synthesized.
    for c in range(10):
        in_c = source & (plain.y == c)
        assert abs(changed[in_c].mean() - 0.5) < 0.02


def test_synthesized_digits_look_like_the_target() -> None:
    plain, synth = _load(0.0), _load(0.5)
    source = plain.domain == "source"
    changed = (plain.X != synth.X).any(axis=1) & source
    kept = source & ~changed

    def contrast(X: np.ndarray) -> np.ndarray:
        return X.std(axis=1)  # (n,) per-image pixel spread; low_contrast + blur shrink it

    target = contrast(plain.X[plain.domain == "target"])
    synthetic = contrast(synth.X[changed])
    clean = contrast(synth.X[kept])
    # The synthesized images' contrast is the target's, not the clean images'.
    assert abs(np.median(synthetic) - np.median(target)) < 0.1 * np.median(target)
    assert np.median(clean) > 1.5 * np.median(synthetic)


def test_synthesize_needs_a_derived_target() -> None:
    with pytest.raises(ValidationError, match="synthesize needs derive"):
        DataConfig(
            source="csv:x.csv",
            label="y",
            target={"domain_column": "d", "value": "phone", "synthesize": 0.3},
            splits={"train": 0.9, "train_dev": 0.1},
        )
    with pytest.raises(ValidationError, match="synthesize"):
        _load(1.0)
