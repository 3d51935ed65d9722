"""DataConfig: the rules of the data: section, with the rule and what was found in each error."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from sweeplab.data import DataConfig, check_data_config
from sweeplab.errors import UserError
from sweeplab.tasks import load_project

OK = {"train": 0.8, "dev": 0.2}


def _error(**kw: object) -> str:
    """The section's error: the schema's, or check_data_config's (names in the registries)."""
    kw.setdefault("splits", OK)
    with pytest.raises((ValidationError, UserError)) as info:
        check_data_config(DataConfig(**kw))
    return str(info.value)


def test_minimal_config_has_documented_defaults():
    cfg = DataConfig(source="sklearn:digits", splits=OK)
    assert (cfg.stratify, cfg.seed, cfg.normalize, cfg.label, cfg.features, cfg.target) == (
        True,
        0,
        True,
        None,
        None,
        None,
    )
    assert cfg.splits.sizes() == {"train": 0.8, "dev": 0.2}
    assert (cfg.scheme, cfg.location) == ("sklearn", "digits")


@pytest.mark.parametrize(
    ("source", "scheme", "location"),
    [
        ("csv:data/x.csv", "csv", "data/x.csv"),
        ("parquet:p.parquet", "parquet", "p.parquet"),
        ("data/x.csv", "csv", "data/x.csv"),
    ],
)
def test_file_sources_parse(source, scheme, location):
    cfg = DataConfig(source=source, label="y", splits=OK)
    assert (cfg.scheme, cfg.location) == (scheme, location)


def test_unknown_dataset_lists_choices_and_close_match():
    msg = _error(source="sklearn:digts")
    assert "unknown dataset 'sklearn:digts'" in msg
    assert "sklearn:breast_cancer, sklearn:digits, sklearn:iris, sklearn:wine" in msg
    assert "Did you mean 'sklearn:digits'?" in msg


def test_the_schema_checks_the_form_and_check_data_config_the_registered_names():
    cfg = DataConfig(source="sklearn:digts", splits=OK)  # well-formed: the schema accepts it
    assert (cfg.scheme, cfg.location) == ("sklearn", "digts")
    with pytest.raises(UserError) as info:
        check_data_config(cfg)
    assert info.value.key == "data.source"
    assert info.value.suggestions == ["sklearn:digits"]
    gen = DataConfig(source="generated:shapez", splits=OK)
    assert (gen.scheme, gen.location) == ("generated", "shapez")
    with pytest.raises(UserError, match="unknown generated data set 'generated:shapez'") as info:
        check_data_config(gen)
    assert info.value.key == "data.source" and "generated:shapes" in info.value.suggestions
    check_data_config(DataConfig(source="csv:nowhere.csv", label="y", splits=OK))  # a path


def test_unknown_degradation_names_its_key():
    with pytest.raises(UserError) as info:
        check_data_config(
            DataConfig(
                source="sklearn:digits",
                target={"derive": {"degradations": []}, "size": 10},
                splits={"train": 1.0},
            )
        )
    assert info.value.key == "data.target.derive.degradations"
    assert "at least one degradation is needed, one of: blur," in info.value.message
    msg = _error(source="sklearn:digits", degrade={"degradations": ["noise", "blurr"]})
    assert msg.startswith("data.degrade.degradations: unknown degradation 'blurr'")


def test_a_loaded_project_points_the_registry_errors_at_their_line(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(
        "name: p\ndata:\n  source: sklearn:irsi\n  splits: {train: 0.6, dev: 0.4}\nmodel: softmax\n"
    )
    with pytest.raises(UserError) as info:
        load_project(path)
    assert str(info.value) == (
        f"{path}:3: data.source: unknown dataset 'sklearn:irsi'; expected one of: "
        "sklearn:breast_cancer, sklearn:digits, sklearn:iris, sklearn:wine, or csv:PATH, "
        "parquet:PATH, images:DIR. Did you mean 'sklearn:iris'?"
    )


def test_misspelled_file_kind_suggests_the_right_one():
    assert "Did you mean 'csv:a.csv'?" in _error(source="csvv:a.csv", label="y")


def test_fraction_sum_error_shows_the_terms():
    msg = _error(source="sklearn:digits", splits={"train": 0.8, "dev": 0.1, "test": 0.05})
    assert "fractions must sum to 1, but got 0.8 + 0.1 + 0.05 = 0.95" in msg


def test_fractions_summing_to_one_within_tolerance_pass():
    DataConfig(
        source="sklearn:digits", splits={"train": 0.7, "train_dev": 0.1, "dev": 0.1, "test": 0.1}
    )


def test_one_point_zero_means_all_that_counts_leave():
    cfg = DataConfig(source="sklearn:digits", splits={"train": 1.0, "dev": 100})
    assert cfg.splits.sizes() == {"train": 1.0, "dev": 100}


def test_counts_and_fractions_mix_fractions_share_the_rest():
    cfg = DataConfig(
        source="sklearn:digits", splits={"train": 0.9, "train_dev": 0.1, "dev": 300, "test": 300}
    )
    assert cfg.splits.sizes() == {"train": 0.9, "train_dev": 0.1, "dev": 300, "test": 300}


@pytest.mark.parametrize(
    ("splits", "expected"),
    [
        (
            {"train": 1.0, "dev": 0.2},
            "fractions must sum to 1, but got 1 + 0.2 = 1.2",
        ),
        (
            {"train": 1.5, "dev": 0.2},
            "train must be a fraction in (0, 1] or a count >= 1, but got 1.5",
        ),
        ({"train": 1, "dev": 0.2}, "train: 1 is a count of one example; for all of them write 1.0"),
        ({"train": 500.0, "dev": 100}, "for a count write an integer (500)"),
        ({"train": -3, "dev": 100}, "train must be a count >= 1, but got -3"),
        ({"train": True, "dev": 0.2}, "but got True"),
        ({"dev": 1.0 / 2, "test": 0.5}, "train is required"),
        ({"train": 0.8, "test": 0.2}, "splits.dev is required"),
        ({"train": 0.8, "dev": 0.2, "tset": 0}, "tset"),
    ],
)
def test_bad_splits_are_rejected(splits, expected):
    assert expected in _error(source="sklearn:digits", splits=splits)


def test_zero_means_absent():
    cfg = DataConfig(
        source="sklearn:digits", splits={"train": 0.8, "train_dev": 0, "dev": 0.2, "test": 0}
    )
    assert list(cfg.splits.sizes()) == ["train", "dev"]


def test_label_required_for_files_and_rejected_for_sklearn():
    assert "label is required for a csv source" in _error(source="csv:x.csv")
    assert "brings its own labels; remove label" in _error(source="sklearn:iris", label="species")


def test_label_must_not_be_a_feature():
    assert "must not contain the label column 'y'" in _error(
        source="csv:x.csv", label="y", features=["a", "y"]
    )


def test_unknown_key_is_rejected():
    assert "shuffle" in _error(source="sklearn:digits", shuffle=True)


def test_target_moves_dev_and_test_out_of_splits():
    msg = _error(
        source="sklearn:digits",
        target={"derive": {"degradations": ["blur"]}, "size": 600},
        splits={"train": 0.9, "dev": 0.1},
    )
    assert "move dev to target.splits" in msg


def test_target_needs_exactly_one_kind():
    assert "exactly one of domain_column" in _error(
        source="csv:x.csv", label="y", target={}, splits={"train": 1.0}
    )
    msg = _error(
        source="csv:x.csv",
        label="y",
        target={"domain_column": "d", "value": "p", "derive": {"degradations": ["noise"]}},
        splits={"train": 1.0},
    )
    assert "exactly one of domain_column" in msg


def test_unknown_degradation_has_close_match():
    msg = _error(
        source="sklearn:digits",
        target={"derive": {"degradations": ["blurr"]}, "size": 10},
        splits={"train": 1.0},
    )
    assert "unknown degradation 'blurr'" in msg and "Did you mean 'blur'?" in msg


def test_target_splits_default_to_the_course_50_25_25():
    cfg = DataConfig(
        source="sklearn:digits",
        target={"derive": {"degradations": ["noise"]}, "size": 600},
        splits={"train": 1.0},
    )
    assert cfg.target.splits.sizes() == {"train": 0.5, "dev": 0.25, "test": 0.25}


def test_config_is_frozen():
    cfg = DataConfig(source="sklearn:digits", splits=OK)
    with pytest.raises(ValidationError):
        cfg.seed = 3  # type: ignore[misc]


def _doc_examples() -> list[str]:
    import re

    import sweeplab.data

    blocks = re.findall(r"::\n\n((?:    .*\n|\n)+)", sweeplab.data.__doc__)
    text = "".join(blocks)
    return ["data:" + part for part in re.split(r"^    data:", text, flags=re.M)[1:]]


@pytest.mark.parametrize("example", _doc_examples())
def test_every_documented_yaml_example_validates(example):
    import textwrap

    from ruamel.yaml import YAML

    doc = YAML(typ="safe").load(textwrap.dedent("    " + example))
    cfg = DataConfig(**doc["data"])
    assert cfg.splits.sizes()["train"]


def test_there_are_seven_documented_examples():
    assert len(_doc_examples()) == 7  # + part/degrade and a multi-label CSV
