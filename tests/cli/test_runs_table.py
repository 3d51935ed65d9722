"""`sweeplab runs` at 80 columns: every line fits, errors tell trials apart, values uncut."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from mlflow import MlflowClient
from tests.conftest import sweep_into

from sweeplab.cli import main
from sweeplab.cli._runs_table import render_runs_table

SPACE = """
parameters:
  learning_rate: {distribution: log_uniform, min: 1.0e-4, max: 3.0e-2}
  optimizer: {values: [adam, momentum]}
  beta: {distribution: one_minus_log_uniform, min: 0.8, max: 0.999, when: {optimizer: momentum}}
  hidden_units: {values: [16, 32, 64]}
  keep_prob: {distribution: uniform, min: 0.5, max: 1.0}
  l2: {distribution: log_uniform, min: 1.0e-5, max: 1.0e-2}
  num_layers: {values: [1, 2]}
"""
PROJECT = """
name: runs-table
data: {source: sklearn:digits, splits: {train: 0.7, train_dev: 0.1, dev: 0.2}, seed: 0}
model: {name: mlp}
train: {epochs: 1, batch_size: 256, optimizer: adam}
human_level_error: 0.01
search: {space: space.yaml, sampler: random, trials: 4, seed: 3}
"""


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Path:
    return sweep_into(tmp_path_factory.mktemp("runs"), project=PROJECT, space=SPACE, name="rt")


def _runs(ws: Path, capsys, monkeypatch, columns: int, *extra: str) -> list[str]:
    monkeypatch.setenv("COLUMNS", str(columns))
    capsys.readouterr()
    assert main(["runs", "rt", "-w", str(ws), *extra]) == 0
    return capsys.readouterr().out.splitlines()


def _trials(ws: Path, capsys) -> list[dict]:
    capsys.readouterr()
    assert main(["runs", "rt", "--json", "-w", str(ws)]) == 0
    return json.loads(capsys.readouterr().out)["trials"]


@pytest.mark.parametrize(("columns", "extra"), [(80, ()), (150, ("--wide",))])
def test_runs_table_fits_and_shows_every_value(ws, capsys, monkeypatch, columns, extra):
    trials = _trials(ws, capsys)
    lines = _runs(ws, capsys, monkeypatch, columns, *extra)
    assert all(len(line) <= columns for line in lines), max(lines, key=len)
    assert not any("…" in line for line in lines)
    text = "\n".join(lines)
    client = MlflowClient(f"sqlite:///{ws / 'mlflow.db'}")
    # one block per trial: its line (rank, trial number, status), then its indented lines
    starts = [i for i, line in enumerate(lines) if re.match(r"^\d+\s+\d+\s+finished", line)]
    assert len(starts) == len(trials) == 4
    for start, end, trial in zip(starts, [*starts[1:], len(lines)], trials, strict=True):
        run = client.get_run(trial["run_id"])
        block = lines[start:end]
        assert block[0].split()[1] == str(trial["trial"])
        dev = run.data.metrics["dev_error"]
        assert f"{dev:.4f}" in block[0].split(), (dev, block[0])
        body = " ".join(block[1:])
        sampled = {k: v for k, v in trial.items() if k in SPACE and v is not None}
        assert sampled, trial
        for name, value in sampled.items():
            logged = run.data.params[name] if name in run.data.params else str(value)
            shown = re.search(rf"(?:^|\s){name}=(\S+)", body).group(1)
            try:
                assert float(shown) == pytest.approx(float(logged), rel=1e-3), (name, shown)
            except ValueError:
                assert shown == logged
    assert "sweep rt: 4 trials" in text


def test_runs_table_errors_get_the_decimals_that_tell_trials_apart():
    rows = [
        {
            "rank": i + 1,
            "trial": i,
            "status": "finished",
            "feasible": True,
            "dev_error": v,
            "lr": "0.0123456",
            "diagnosis": None,
            "reason": None,
        }
        for i, v in enumerate([0.1234560, 0.1234564, 0.5])
    ]
    lines = render_runs_table("t", rows, ["dev_error"], ["lr"], width=80)
    shown = [line for line, _ in lines if line.startswith(("1 ", "2 ", "3 "))]
    assert [line.split()[-1] for line in shown] == ["0.1234560", "0.1234564", "0.5000000"]
    assert all("lr=0.01235" in line for line, _ in lines if "lr=" in line)


def test_runs_table_folds_metrics_and_keeps_long_values_whole():
    metrics = [f"dev_error_label{i}" for i in range(12)]
    row = {
        "rank": 1,
        "trial": 0,
        "status": "finished",
        "feasible": True,
        "diagnosis": None,
        "reason": "x\x1b[31m" * 2,
        "arch": "resnet" * 4,
    }
    row.update({m: 0.25 for m in metrics})
    lines = [line for line, _ in render_runs_table("t", [row], metrics, ["arch"], width=80)]
    assert all(len(line) <= 80 for line in lines)
    text = "\n".join(lines)
    assert all(
        f"{m}=0.2500" in text or m.replace("_error", " err").replace("_", "-") in text
        for m in metrics
    )
    assert "arch=" + "resnet" * 4 in text
    assert "\x1b" not in text
