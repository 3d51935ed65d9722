"""`sweeplab compare`: SWEEP#N and run ids resolve to the runs; differing params, metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.conftest import sweep_into

from sweeplab.cli import main
from sweeplab.workspace import Workspace

pytestmark = pytest.mark.slow

SPACE = """
parameters:
  learning_rate: {distribution: log_uniform, min: 1.0e-3, max: 3.0e-2}
  optimizer: {value: adam}
  hidden_units: {values: [8, 16]}
"""
PROJECT = """
name: compare-digits
data:
  source: sklearn:digits
  splits: {train: 0.7, train_dev: 0.1, dev: 0.2}
  seed: 0
model: {name: mlp, num_layers: 1}
train: {epochs: 2, batch_size: 128, optimizer: adam}
human_level_error: 0.01
search: {space: space.yaml, sampler: random, trials: 2, seed: 0}
"""


@pytest.fixture(scope="module")
def swept(tmp_path_factory) -> Path:
    return sweep_into(tmp_path_factory.mktemp("compare"), project=PROJECT, space=SPACE, name="cmp")


def _compare(capsys, *args) -> dict:
    capsys.readouterr()
    assert main(["compare", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_trial_references_resolve_and_show_what_differs(swept, capsys):
    from mlflow import MlflowClient

    out = _compare(capsys, "cmp#0", "cmp#1", "--workspace", str(swept))
    info = Workspace.at(swept).read_sweep("cmp")
    client = MlflowClient(info["tracking_uri"])
    a, b = client.get_run(out["a"]["run_id"]), client.get_run(out["b"]["run_id"])
    assert (
        a.data.tags["sweeplab.trial_number"] == "0" and b.data.tags["sweeplab.trial_number"] == "1"
    )
    assert a.data.tags["mlflow.parentRunId"] == info["parent_run_id"]

    # exactly the params that differ; the constant optimizer is not among them
    expected = sorted(k for k in a.data.params if a.data.params[k] != b.data.params.get(k))
    assert out["params_differ"] == expected and "train.learning_rate" in expected
    assert "train.optimizer" not in out["params"]
    # every metric side by side, the difference B − A
    assert set(out["metrics"]) == set(a.data.metrics) | set(b.data.metrics)
    dev = out["metrics"]["dev_error"]
    assert (dev["a"], dev["b"]) == (a.data.metrics["dev_error"], b.data.metrics["dev_error"])
    assert dev["delta"] == pytest.approx(dev["b"] - dev["a"])

    # a run id gives the same run; last#N is the last sweep; --all shows equal params too
    by_id = _compare(capsys, out["a"]["run_id"], "last#1", "--workspace", str(swept), "--all")
    assert by_id["a"]["run_id"] == out["a"]["run_id"] and by_id["b"]["run_id"] == out["b"]["run_id"]
    assert by_id["params"]["train.optimizer"] == {"a": "adam", "b": "adam"}

    # the table form names both runs
    assert main(["compare", "cmp#0", "cmp#1", "--workspace", str(swept)]) == 0
    table = capsys.readouterr().out
    assert "params that differ" in table and "dev_error" in table and "A = #0 lr=" in table


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("cmp#7", "has no trial 7; its trials: 0, 1"),
        ("nope#0", "no sweep named 'nope'"),
        ("not-a-run", "neither a run id"),
        ("0123456789abcdef0123456789abcdef", "no run with id"),
    ],
)
def test_bad_references_are_one_line_errors(swept, capsys, ref, message):
    capsys.readouterr()
    assert main(["compare", ref, "cmp#0", "--workspace", str(swept)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_run_of_an_older_sweep_lines_up_with_todays_keys():
    from sweeplab.cli.compare import _aligned

    old = {"learning_rate": "0.01", "train.epochs": "3", "objective": "x"}
    new = {"train.learning_rate": "0.02", "train.epochs": "3"}
    assert _aligned(old, new) == {
        "train.learning_rate": "0.01",
        "train.epochs": "3",
        "objective": "x",
    }
    assert _aligned(new, old) == new
