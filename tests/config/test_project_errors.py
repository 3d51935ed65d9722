"""Every kind of malformed input gives one clear line naming the file (and key), exit 2, no traceback."""

from __future__ import annotations

import pytest
from tests.conftest import write

from sweeplab.cli import main

GOOD_SPACE = "parameters:\n  learning_rate: {distribution: log_uniform, min: 1.0e-3, max: 1.0e-1}\n"
GOOD_PROJECT = """\
name: p
data:
  source: sklearn:iris
  splits: {train: 0.6, dev: 0.4}
model: softmax
train: {epochs: 2}
search: {space: space.yaml, trials: 1}
"""

CASES = {
    # name: (project text, space text, words the message must contain)
    "yaml syntax": (
        GOOD_PROJECT.replace("splits: {train: 0.6, dev: 0.4}", "splits: {train: 0.6, dev: 0.4"),
        GOOD_SPACE,
        ["invalid YAML syntax"],
    ),
    "unknown key": (
        GOOD_PROJECT.replace("train: {epochs: 2}", "trian: {epochs: 2}"),
        GOOD_SPACE,
        ["unknown key 'trian'", "Did you mean 'train'"],
    ),
    "unknown nested key": (
        GOOD_PROJECT.replace("train: {epochs: 2}", "train: {epocs: 2}"),
        GOOD_SPACE,
        ["train.epocs", "'epochs'"],
    ),
    "wrong type": (
        GOOD_PROJECT.replace("train: {epochs: 2}", "train: {epochs: many}"),
        GOOD_SPACE,
        ["train.epochs", "'many'"],
    ),
    "impossible split": (
        GOOD_PROJECT.replace("{train: 0.6, dev: 0.4}", "{train: 0.6, dev: 0.6}"),
        GOOD_SPACE,
        ["sum to 1"],
    ),
    "unknown model": (
        GOOD_PROJECT.replace("model: softmax", "model: sotfmax"),
        GOOD_SPACE,
        ["unknown model 'sotfmax'", "'softmax'"],
    ),
    "unknown model arg": (
        GOOD_PROJECT.replace("model: softmax", "model: {name: mlp, hiden_units: 3}"),
        GOOD_SPACE,
        ["hiden_units", "'hidden_units'"],
    ),
    "unknown dataset": (
        GOOD_PROJECT.replace("sklearn:iris", "sklearn:irsi"),
        GOOD_SPACE,
        ["irsi", "iris"],
    ),
    "unknown metric": (
        GOOD_PROJECT + "metrics: {optimize: dev_eror}\n",
        GOOD_SPACE,
        ["dev_eror", "'dev_error'"],
    ),
    "bad constraint": (
        GOOD_PROJECT + "metrics: {satisfy: ['latency_ms <= fast']}\n",
        GOOD_SPACE,
        ["metrics.satisfy"],
    ),
    "duplicate key": (GOOD_PROJECT + "name: q\n", GOOD_SPACE, ["duplicate key 'name'"]),
    "python tag": (
        GOOD_PROJECT.replace("name: p", "name: !!python/object/apply:os.system ['true']"),
        GOOD_SPACE,
        ["not allowed"],
    ),
    "space min > max": (
        GOOD_PROJECT,
        "parameters:\n  learning_rate: {distribution: log_uniform, min: 1.0, max: 1.0e-3}\n",
        ["space.yaml", "learning_rate"],
    ),
    "space log min <= 0": (
        GOOD_PROJECT,
        "parameters:\n  learning_rate: {distribution: log_uniform, min: 0, max: 1}\n",
        ["space.yaml", "learning_rate"],
    ),
    "space beta >= 1": (
        GOOD_PROJECT,
        "parameters:\n  beta: {distribution: one_minus_log_uniform, min: 0.9, max: 1.0}\n",
        ["space.yaml", "beta"],
    ),
    "space unknown distribution": (
        GOOD_PROJECT,
        "parameters:\n  learning_rate: {distribution: log_unifrom, min: 0.1, max: 1}\n",
        ["log_unifrom", "'log_uniform'"],
    ),
    "space unknown parameter": (
        GOOD_PROJECT,
        "parameters:\n  learning_rat: {values: [0.1]}\n",
        ["learning_rat", "'learning_rate'"],
    ),
    "missing file": (None, GOOD_SPACE, ["file not found"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_gives_one_clear_line(case, tmp_path, workspace, capsys):
    project_text, space_text, words = CASES[case]
    write(tmp_path / "space.yaml", space_text)
    project = tmp_path / "project.yaml"
    if project_text is not None:
        write(project, project_text)
    code = main(["sweep", str(project)])
    err = capsys.readouterr().err
    lines = [
        line for line in err.splitlines() if line.strip() and "INFO" not in line and "…" not in line
    ]
    assert code == 2, err
    assert len(lines) == 1, err
    assert "Traceback" not in err
    message = lines[0]
    assert ("project.yaml" in message) or ("space.yaml" in message), message
    for word in words:
        assert word in message, message


def test_line_numbers_point_at_the_key(tmp_path, workspace, capsys):
    write(tmp_path / "space.yaml", GOOD_SPACE)
    project = write(
        tmp_path / "project.yaml", GOOD_PROJECT.replace("train: {epochs: 2}", "train: {epochs: -3}")
    )
    assert main(["sweep", str(project)]) == 2
    err = capsys.readouterr().err
    assert "project.yaml:6: train.epochs" in err


def test_usage_errors_exit_2(capsys):
    assert main(["sweep"]) == 2
    assert main(["sweep", "x.yaml", "--bogus"]) == 2
    assert main(["sweep", "x.yaml", "--sampler", "tpf"]) == 2
