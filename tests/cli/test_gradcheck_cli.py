"""``sweeplab gradcheck``: every documented example runs; PASS exits 0, FAIL exits 1."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from sweeplab.cli import app, main
from sweeplab.cli.gradcheck import EXAMPLES

runner = CliRunner()


def _difference(output: str) -> float:
    return float(re.search(r"relative difference (\S+)", output).group(1))


@pytest.mark.parametrize("example", EXAMPLES)
def test_documented_examples_pass(example: str) -> None:
    result = runner.invoke(app, example.split()[1:])
    assert result.exit_code == 0, result.output
    assert "PASS" in result.output
    assert _difference(result.output) < 1e-5


def test_mlp_gradient_is_right_at_the_default_eps() -> None:
    result = runner.invoke(app, ["gradcheck", "mlp", "--input", "6", "--max-params", "50"])
    assert result.exit_code == 0, result.output
    assert _difference(result.output) < 1e-7 and "over 50 entries" in result.output


def test_fail_exits_1_and_names_where_to_look() -> None:
    # ε = 0.5 is far too coarse: the difference quotient is not the derivative any more
    result = runner.invoke(app, ["gradcheck", "mlp", "--input", "6", "--eps", "0.5"])
    assert result.exit_code == 1, result.output
    assert "FAIL" in result.output and "largest disagreement in" in result.output
    assert _difference(result.output) >= 1e-7


def test_binary_output_uses_the_logistic_loss() -> None:
    result = runner.invoke(app, ["gradcheck", "logreg", "--input", "5", "--outputs", "1"])
    assert result.exit_code == 0, result.output


def test_bad_input_is_one_line_and_exit_2(capsys) -> None:
    assert main(["gradcheck", "mlp", "--input", "3xx"]) == 2
    assert main(["gradcheck", "mlp", "--arg", "hidden_units"]) == 2
    assert main(["gradcheck", "mlp", "--arg", "hidden_unitz=3"]) == 2
    assert main(["gradcheck", "mpl"]) == 2
    err = capsys.readouterr().err
    assert "Did you mean 'mlp'" in err and "Traceback" not in err


def test_prints_the_notes_verdict_band_with_the_figure() -> None:
    great = runner.invoke(app, ["gradcheck", "mlp", "--input", "6", "--max-params", "50"])
    assert "verdict: great" in great.output
    coarse = runner.invoke(app, ["gradcheck", "mlp", "--input", "6", "--eps", "0.5"])
    band = "look again" if _difference(coarse.output) < 1e-3 else "probably a bug"
    assert f"verdict: {band}" in coarse.output


def test_train_mode_and_l2_are_checked_from_the_cli() -> None:
    args = [
        "gradcheck",
        "mlp",
        "--input",
        "8",
        "--arg",
        "batch_norm=true",
        "--arg",
        "keep_prob=0.5",
    ]
    result = runner.invoke(app, [*args, "--mode", "train", "--l2", "0.3", "--examples", "6"])
    assert result.exit_code == 0, result.output
    assert "train mode, L2 λ=0.3" in result.output and _difference(result.output) < 1e-7
