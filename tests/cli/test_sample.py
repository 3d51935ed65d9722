"""``sweeplab sample``: CSV of sampled configurations; every documented example runs."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sweeplab.cli import app, main
from sweeplab.errors import UserError
from sweeplab.space import load_space

REPO = Path(__file__).resolve().parents[2]
MLP = REPO / "search_spaces" / "mlp.yaml"
runner = CliRunner()


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_prints_n_rows_with_every_parameter_in_the_header() -> None:
    result = runner.invoke(app, ["sample", str(MLP), "-n", "40", "--seed", "3"])
    assert result.exit_code == 0, result.output
    space = load_space(MLP)
    header = result.stdout.splitlines()[0].split(",")
    assert header == list(space.names)
    rows = _rows(result.stdout)
    assert len(rows) == 40
    for row in rows:
        # beta is filled exactly when its condition holds
        assert (row["beta"] != "") == (row["optimizer"] == "momentum")
        assert space["learning_rate"].distribution.contains(float(row["learning_rate"]))
        assert space["hidden_units"].distribution.contains(int(row["hidden_units"]))
    assert {r["optimizer"] for r in rows} == {"momentum", "adam", "rmsprop"}


def test_same_seed_same_rows_other_seed_other_rows() -> None:
    a = runner.invoke(app, ["sample", str(MLP), "-n", "5", "--seed", "1"]).stdout
    b = runner.invoke(app, ["sample", str(MLP), "-n", "5", "--seed", "1"]).stdout
    c = runner.invoke(app, ["sample", str(MLP), "-n", "5", "--seed", "2"]).stdout
    assert a == b != c


def test_grid_prints_every_combination(tmp_path: Path) -> None:
    path = tmp_path / "grid.yaml"
    path.write_text(
        "parameters:\n  optimizer: {values: [gd, momentum]}\n"
        "  beta: {values: [0.9, 0.99], when: {optimizer: momentum}}\n"
    )
    result = runner.invoke(app, ["sample", str(path), "--grid"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "optimizer,beta\ngd,\nmomentum,0.9\nmomentum,0.99\n"


def test_help_shows_an_example() -> None:
    result = runner.invoke(app, ["sample", "--help"])
    assert result.exit_code == 0
    assert "sweeplab sample search_spaces/mlp.yaml -n 5 --seed 0" in result.stdout


def test_documented_example_runs(capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    assert main(["sample", "search_spaces/mlp.yaml", "-n", "5", "--seed", "0"]) == 0
    assert len(_rows(capsys.readouterr().out)) == 5


@pytest.mark.parametrize("n", ["0", "-3"])
def test_non_positive_n_exits_2_with_a_clear_message(n: str, capsys) -> None:
    assert main(["sample", str(MLP), "-n", n]) == 2
    err = capsys.readouterr().err
    assert f"-n: `-n >= 1` must hold, but got (n={n})" in err and "Traceback" not in err
    result = runner.invoke(app, ["sample", str(MLP), "-n", n])
    assert isinstance(result.exception, UserError) and result.exception.exit_code == 2


def test_grid_with_n_is_rejected(capsys) -> None:
    assert main(["sample", str(MLP), "--grid", "-n", "3"]) == 2
    assert "`-n` would be ignored" in capsys.readouterr().err


def test_bad_space_file_exits_2_naming_file_line_and_key(tmp_path: Path, capsys) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("parameters:\n  lr: {distribution: log_unifrom, min: 1.0e-4, max: 1}\n")
    assert main(["sample", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:2: parameters.lr.distribution:" in err and "'log_uniform'" in err
    assert main(["sample", str(tmp_path / "missing.yaml")]) == 2
    assert "file not found" in capsys.readouterr().err


def test_grid_of_a_continuous_space_exits_2(capsys) -> None:
    assert main(["sample", str(MLP), "--grid"]) == 2
    assert "grid search needs `values:` for every parameter, but `learning_rate`" in (
        capsys.readouterr().err
    )
