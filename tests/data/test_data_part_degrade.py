"""``data.part`` (disjoint seeded parts of one source) and ``data.degrade`` (every example).

Invariants: parts are disjoint, cover the source and are reproducible; degrading is seeded,
keeps ids and labels, scales by the whole source's range; the order is part -> classes ->
degrade -> splits; a changed part or degrade changes the fingerprint, so ``--resume``
refuses a manifest built before.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from sweeplab.data import (
    DataConfig,
    DeriveConfig,
    PartConfig,
    build_splits,
    check_data_config,
    degrade,
    load_dataset,
    part_indices,
)
from sweeplab.errors import UserError

NOISE = {"degradations": ["noise"], "strength": 0.6, "seed": 0}


def _load(**kw: object):
    kw.setdefault("splits", {"train": 0.8, "dev": 0.2})
    return load_dataset(DataConfig(source="sklearn:digits", **kw), base_dir=".")


def _error(**kw: object) -> str:
    kw.setdefault("splits", {"train": 0.8, "dev": 0.2})
    kw.setdefault("source", "sklearn:digits")
    with pytest.raises((ValidationError, UserError)) as info:
        check_data_config(DataConfig(**kw))  # the schema's error, or the registry check's
    return str(info.value)


@pytest.mark.parametrize(("n", "of"), [(1797, 2), (1797, 3), (10, 4), (7, 7)])
def test_parts_are_disjoint_cover_the_source_and_differ_in_size_by_at_most_one(n, of):
    parts = [part_indices(n, PartConfig(of=of, index=i, seed=3)) for i in range(of)]
    both = np.concatenate(parts)
    assert len(both) == n and np.array_equal(np.sort(both), np.arange(n))  # disjoint + cover
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
    assert all(np.all(np.diff(p) > 0) for p in parts)  # sorted: source order kept


def test_same_seed_same_parts_other_seed_other_parts():
    a = part_indices(1797, PartConfig(of=2, index=0, seed=0))
    assert np.array_equal(a, part_indices(1797, PartConfig(of=2, index=0, seed=0)))
    assert not np.array_equal(a, part_indices(1797, PartConfig(of=2, index=0, seed=1)))


def test_two_projects_share_no_example_and_keep_ids_and_labels(digits):
    p0, p1 = (_load(part={"of": 2, "index": i}) for i in (0, 1))
    assert not set(p0.ids) & set(p1.ids)
    assert len(p0) + len(p1) == len(digits) == 1797 and (len(p0), len(p1)) == (898, 899)
    pos = {i: k for k, i in enumerate(digits.ids)}
    for part in (p0, p1):
        idx = np.array([pos[i] for i in part.ids])
        np.testing.assert_array_equal(part.X, digits.X[idx])
        np.testing.assert_array_equal(part.y, digits.y[idx])
        assert part.classes == digits.classes
    # classes come after part: a filtered part holds only the part's examples of those classes
    few = _load(part={"of": 2, "index": 1}, classes=[5, 6, 7])
    assert set(few.ids) <= set(p1.ids) and few.classes == ["5", "6", "7"]
    assert len(few) == np.isin(p1.y, [5, 6, 7]).sum()


def test_degrade_changes_every_example_seeded_and_keeps_ids_labels_and_range(digits):
    noisy = _load(degrade=NOISE)
    assert (np.abs(noisy.X - digits.X).sum(axis=1) > 0).all()  # every example, not a part
    np.testing.assert_array_equal(noisy.ids, digits.ids)
    np.testing.assert_array_equal(noisy.y, digits.y)
    assert noisy.domain is None and noisy.X.min() >= 0.0 and noisy.X.max() <= 16.0 + 1e-5
    assert np.array_equal(noisy.X, _load(degrade=NOISE).X)
    assert not np.array_equal(noisy.X, _load(degrade={**NOISE, "seed": 1}).X)


def test_part_then_degrade_is_the_benchmarks_noisy_half(digits):
    """bench_transfer.py's "domain" target: the second half of permutation(seed 0), noise 0.6
    scaled by the digits' range 0..16; the project options give the same bytes."""
    order = np.random.default_rng(0).permutation(len(digits))
    half = np.sort(order[len(digits) // 2 :])
    expected = degrade(
        digits.as_images()[half], DeriveConfig(**NOISE), value_range=(0.0, 16.0)
    ).reshape(len(half), -1)
    got = _load(part={"of": 2, "index": 1, "seed": 0}, degrade=NOISE)
    np.testing.assert_array_equal(got.X, expected)
    assert got.name == "digits[part 1/2]+noise"


def test_degradation_scale_is_the_sources_not_the_parts():
    """A table's per-column range comes from the whole source, so a row degrades alike
    whichever part (or class filter) holds it."""
    low = {"degradations": ["low_contrast"], "strength": 1.0, "seed": 0}
    whole = load_dataset(
        DataConfig(source="sklearn:wine", splits={"train": 0.5, "dev": 0.5}, degrade=low),
        base_dir=".",
    )
    part = load_dataset(
        DataConfig(
            source="sklearn:wine",
            splits={"train": 0.5, "dev": 0.5},
            part={"of": 3, "index": 2},
            classes=["class_0", "class_1"],
            degrade=low,
        ),
        base_dir=".",
    )
    pos = {i: k for k, i in enumerate(whole.ids)}
    np.testing.assert_allclose(part.X, whole.X[[pos[i] for i in part.ids]], rtol=0, atol=1e-5)


def test_count_splits_take_exactly_that_many_training_images():
    cfg = DataConfig(
        source="sklearn:digits",
        part={"of": 2, "index": 1},
        degrade=NOISE,
        splits={"train": 50, "dev": 0.5, "test": 0.5},
    )
    ds = load_dataset(cfg, base_dir=".")
    sizes = build_splits(ds, cfg).sizes()
    assert sizes["train"] == 50 and sum(sizes.values()) == len(ds) == 899
    assert abs(sizes["dev"] - sizes["test"]) <= 10


def test_part_and_degrade_change_the_fingerprint():
    base = _load(part={"of": 2, "index": 1}, degrade=NOISE).fingerprint()
    for kw in (
        {"part": {"of": 2, "index": 0}, "degrade": NOISE},
        {"part": {"of": 2, "index": 1, "seed": 1}, "degrade": NOISE},
        {"part": {"of": 2, "index": 1}, "degrade": {**NOISE, "strength": 0.5}},
        {"part": {"of": 2, "index": 1}, "degrade": {**NOISE, "seed": 1}},
        {"part": {"of": 2, "index": 1}},
    ):
        assert _load(**kw).fingerprint() != base, kw


def test_resume_refuses_splits_built_before_degrade_changed(tmp_path: Path):
    from sweeplab.tasks import load_project, prepare_context

    def project(strength: float) -> Path:
        path = tmp_path / "p.yaml"
        path.write_text(
            textwrap.dedent(
                f"""
                name: p
                data:
                  source: sklearn:digits
                  part: {{of: 2, index: 1}}
                  degrade: {{degradations: [noise], strength: {strength}}}
                  splits: {{train: 50, dev: 0.5, test: 0.5}}
                model: softmax
                """
            )
        )
        return path

    manifest = tmp_path / "splits.json"
    _, _, built = prepare_context(load_project(project(0.6)), manifest_path=manifest)
    _, _, again = prepare_context(load_project(project(0.6)), manifest_path=manifest)
    assert again == built  # the same data: the manifest is reused
    with pytest.raises(UserError, match="the data changed since this sweep started"):
        prepare_context(load_project(project(0.5)), manifest_path=manifest)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"part": {"of": 2, "index": 2}}, "part.index < part.of must hold"),
        ({"part": {"of": 1, "index": 0}}, "greater than or equal to 2"),
        ({"part": {"of": 2}}, "index"),
        ({"degrade": {"degradations": ["nois"]}}, "Did you mean 'noise'"),
        ({"degrade": {"degradations": ["noise"], "strength": 9}}, "strength must be in (0, 4]"),
        ({"degrade": {"degradations": ["noise"], "sed": 1}}, "sed"),
        (
            {"source": "generated:shapes_detection", "part": {"of": 2, "index": 0}},
            "does not support part; remove it",
        ),
    ],
)
def test_bad_part_or_degrade_is_one_clear_error(kw, message):
    assert message in _error(**kw)


def test_more_parts_than_examples_and_image_degradation_of_a_table_are_user_errors():
    with pytest.raises(UserError, match="part.of <= the number of examples must hold"):
        load_dataset(
            DataConfig(
                source="sklearn:iris",
                splits={"train": 0.5, "dev": 0.5},
                part={"of": 200, "index": 0},
            ),
            base_dir=".",
        )
    with pytest.raises(UserError, match="need images, but iris is a table") as info:
        load_dataset(
            DataConfig(
                source="sklearn:iris",
                splits={"train": 0.5, "dev": 0.5},
                degrade={"degradations": ["blur"]},
            ),
            base_dir=".",
        )
    assert info.value.key == "data.degrade.degradations"
