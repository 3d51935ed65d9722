"""``sweeplab diagnose``: the documented example, JSON output, and one-line errors (exit 2)."""

from __future__ import annotations

import json
import shlex

import pytest
from typer.testing import CliRunner

from sweeplab.cli import app, main
from sweeplab.cli.diagnose import EXAMPLE
from sweeplab.errors import UserError

runner = CliRunner()


def _args(command: str) -> list[str]:
    parts = shlex.split(command)
    assert parts[0] == "sweeplab"
    return parts[1:]


def test_documented_example_runs_and_marks_the_largest_gap():
    result = runner.invoke(app, _args(EXAMPLE))
    assert result.exit_code == 0, result.output
    out = result.output
    assert "avoidable bias  ◀ largest" in out
    assert "variance  ◀" not in out
    for rung in ("Human-level", "Train", "Train-dev", "Dev"):
        assert rung in out
    assert "Avoidable bias (7.0%) is the largest gap: focus on reducing bias." in out
    assert "Train a bigger model." in out


def test_tied_gaps_are_both_marked_and_dev_overfit_row_is_shown():
    result = runner.invoke(
        app, ["diagnose", "--human", "0.01", "--train", "0.03", "--dev", "0.05", "--test", "0.06"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("◀ largest") == 2
    assert "overfitting to dev" in result.output
    assert "Test" in result.output
    assert (
        "Avoidable bias and variance (2.0%) are tied as the largest gap: "
        "focus on reducing bias first." in result.output.splitlines()
    )


def test_help_shows_the_example():
    result = runner.invoke(app, ["diagnose", "--help"], terminal_width=200)
    assert result.exit_code == 0
    assert EXAMPLE in result.output
    assert "--train-dev" in result.output


def test_json_output_is_json_only():
    result = runner.invoke(
        app,
        [
            "diagnose",
            "--human",
            "0",
            "--train",
            "0.01",
            "--train-dev",
            "0.015",
            "--dev",
            "0.1",
            "--test",
            "0.11",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)  # nothing but JSON
    assert data["problem"] == "data_mismatch"
    assert data["gaps"]["data_mismatch"] == pytest.approx(0.085)
    assert data["gaps"]["dev_overfit"] == pytest.approx(0.01)
    assert data["ladder"]["test"] == 0.11
    assert len(data["remedies"]) == 3


def test_without_train_dev_variance_is_dev_minus_train():
    result = runner.invoke(
        app, ["diagnose", "--human", "0.075", "--train", "0.08", "--dev", "0.10", "--json"]
    )
    data = json.loads(result.output)
    assert data["problem"] == "variance"
    assert data["gaps"]["variance"] == pytest.approx(0.02)
    assert data["gaps"]["data_mismatch"] is None


def test_percentage_is_rejected_with_a_hint_via_cli_runner():
    result = runner.invoke(app, ["diagnose", "--train", "8", "--dev", "0.1"])
    assert isinstance(result.exception, UserError)
    assert result.exception.key == "--train"
    assert result.exception.suggestions == ["0.08"]


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--train", "8", "--dev", "0.1"], "--train: must be an error rate in [0, 1]"),
        (["--train", "0.08", "--dev", "10"], "Did you mean '0.1'?"),
        (["--train", "0.08", "--dev", "0.1", "--train-dev", "-0.2"], "--train-dev:"),
        (["--train", "nan", "--dev", "0.1"], "--train: must be a finite error rate"),
    ],
)
def test_bad_values_exit_2_with_one_line(capsys, argv, fragment):
    assert main(["diagnose", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sweeplab: error: ")
    assert fragment in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


@pytest.mark.parametrize("argv", [["--dev", "0.1"], ["--train", "abc", "--dev", "0.1"]])
def test_usage_errors_exit_2_via_cli_runner(argv):
    result = runner.invoke(app, ["diagnose", *argv])
    assert result.exit_code == 2


@pytest.mark.parametrize("argv", [["--dev", "0.1"], ["--train", "abc", "--dev", "0.1"]])
def test_usage_errors_exit_2_via_main(capsys, argv):
    assert main(["diagnose", *argv]) == 2


def test_main_returns_0_on_success(capsys):
    assert main(["diagnose", "--human", "0.01", "--train", "0.08", "--dev", "0.1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["problem"] == "avoidable_bias"
