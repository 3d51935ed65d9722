"""Search-space values are checked against the setting they feed before any trial runs: an
infinite learning rate, batch sizes 0 and -5, a mixed list, an integer range up to 1e23, a
boolean or a float where an integer is expected — each is one line with file:line, key,
expected and found, exit 2; nothing is recorded. The same rule holds in the project file."""

from __future__ import annotations

import pytest
from tests.conftest import write

from sweeplab.cli import main
from sweeplab.config import check_setting_value
from sweeplab.config.train import TrainConfig

BAD = [
    ("learning_rate: {distribution: log_uniform, min: 1.0e-4, max: .inf}", "finite number"),
    ("learning_rate: {distribution: log_uniform, min: 1.0e-4, max: 1e309}", "finite number"),
    ("learning_rate: {values: [0.1, -0.5]}", "greater than 0"),
    ("learning_rate: {values: [0.1, true]}", "found a boolean"),
    ("batch_size: {values: [0, -5]}", "greater than or equal to 1"),
    ("batch_size: {values: [16, abc, 1.5]}", "valid integer"),
    ("batch_size: {distribution: int_uniform, min: 1, max: 1e23}", "int64"),
    ("batch_size: {distribution: int_uniform, min: 1, max: 100000000000000000000000}", "int64"),
    ("batch_size: {values: [16.5, 32]}", "expected an integer"),
    ("batch_size: {distribution: uniform, min: 16, max: 64}", "expected an integer"),
    ("epochs: {values: [true, 2]}", "found a boolean"),
    ("optimizer: {values: [adam, sgd]}", "'adam'"),
    ("hidden_units: {values: [0, 8]}", "greater than or equal to 1"),
]


def _project(tmp_path, space_line: str, train: str = "{epochs: 1, batch_size: 32}") -> str:
    write(tmp_path / "space.yaml", f"description: bad values\nparameters:\n  {space_line}\n")
    return str(
        write(
            tmp_path / "p.yaml",
            f"""
            name: badvalues
            data: {{source: sklearn:iris, splits: {{train: 0.6, dev: 0.4}}, seed: 0}}
            model: {{name: mlp, num_layers: 1, hidden_units: 8}}
            train: {train}
            search: {{space: space.yaml, sampler: random, trials: 2}}
            """,
        )
    )


@pytest.mark.parametrize(("line", "expected"), BAD)
def test_a_bad_value_stops_the_sweep_before_any_trial(tmp_path, workspace, capfd, line, expected):
    project = _project(tmp_path, line)
    assert main(["sweep", project, "--name", "bad"]) == 2
    err = capfd.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    name = line.split(":")[0]
    assert err.startswith(f"sweeplab: error: {tmp_path / 'space.yaml'}:3: parameters.{name}.")
    assert expected in err and "Traceback" not in err
    assert not (workspace / "sweeps" / "bad" / "sweep.json").exists()  # nothing recorded
    assert not (workspace / "mlflow.db").exists()


@pytest.mark.parametrize(
    ("train", "expected"),
    [
        ("{epochs: 1, batch_size: 32.0}", "expected an integer"),
        ("{epochs: true, batch_size: 32}", "found a boolean"),
        ("{epochs: 1, batch_size: 32, learning_rate: .nan}", "finite number"),
        ("{epochs: 1, batch_size: 100000000000000000000000}", "int64"),
    ],
)
def test_the_project_file_follows_the_same_number_rule(tmp_path, workspace, capfd, train, expected):
    project = _project(tmp_path, "learning_rate: {values: [0.1]}", train=train)
    assert main(["sweep", project, "--name", "bad"]) == 2
    err = capfd.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and expected in err and "p.yaml:" in err, err


def test_good_values_pass_and_every_value_is_checked():
    good = {"learning_rate": [1e-4, 1, 0.5], "batch_size": [1, 2**62], "epochs": [1, 30]}
    for name, values in good.items():
        assert all(check_setting_value(TrainConfig, name, v) is None for v in values)
    assert check_setting_value(TrainConfig, "early_stopping_patience", None) is None
    assert check_setting_value(TrainConfig, "batch_size", 2**63) is not None


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["optuna", "ray"])
def test_a_sweep_with_no_finished_trial_exits_1_with_the_first_failure(tmp_path, backend):
    """Every trial diverges: exit 1, one line with the first failure's reason, and the
    parent run ends FAILED (not FINISHED) on either backend."""
    import json
    import subprocess

    from mlflow.tracking import MlflowClient
    from tests.reliability.reliability_helpers import SWEEPLAB, sweeplab_env

    from sweeplab.tracking import default_tracking_uri

    project = _project(
        tmp_path,
        "learning_rate: {values: [1.0e+6]}",
        train="{epochs: 5, batch_size: 16, optimizer: momentum}",
    )
    ws = tmp_path / "ws"
    done = subprocess.run(
        [*SWEEPLAB, "sweep", project, "--name", "nf", "--backend", backend, "--trials", "1"],
        env=sweeplab_env(ws),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("sweeplab: no trial finished") and "diverged" in last, done.stderr
    assert "Traceback" not in done.stderr
    info = json.loads((ws / "sweeps" / "nf" / "sweep.json").read_text())
    parent = MlflowClient(default_tracking_uri(ws)).get_run(info["parent_run_id"])
    assert parent.info.status == "FAILED"
    assert "diverged" in parent.data.tags["sweeplab.failure"]
