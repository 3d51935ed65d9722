"""A trial's run as TrialRecorder writes it, read back with MlflowClient: the kept model's
figures after the last epoch (one value per step), single values once, the run's name."""

from __future__ import annotations

import pytest

from sweeplab.tasks import TrialResult
from sweeplab.tasks._result import best_epoch
from sweeplab.tracking import SweepRun, client_for, get_or_create_experiment
from sweeplab.tuning._record import TrialRecorder, trial_run_name


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    return client_for(f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}")


def _history(client, run_id: str, key: str) -> list[tuple[int, float]]:
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))


def _epochs() -> list[dict[str, float]]:
    return [
        {"epoch": 1, "lr": 0.1, "dev_error": 0.30, "train_loss": 0.9, "epoch_time_s": 1.0},
        {"epoch": 2, "lr": 0.1, "dev_error": 0.20, "train_loss": 0.5, "epoch_time_s": 1.1},
        {"epoch": 3, "lr": 0.1, "dev_error": 0.25, "train_loss": 0.4, "epoch_time_s": 1.2},
    ]


def _run(client, name: str, final: dict[str, float]) -> str:
    exp = get_or_create_experiment(client, "record", artifact_location=None)
    sweep = SweepRun.start(client, exp, name=name, tags={}, params={})
    recorder = TrialRecorder.start(sweep, number=0, params={"learning_rate": 0.1})
    for metrics in _epochs():
        recorder.epoch(int(metrics["epoch"]), metrics)
    recorder.finished(final)
    return recorder.run_id


def test_restored_figures_follow_the_last_epoch_once(client):
    history = _epochs()
    kept = TrialResult(metrics={**history[1], "latency_ms": 2.0}, history=history)  # epoch 2
    assert kept.metrics["best_epoch"] == 2 and kept.metrics["epochs_run"] == 3
    run_id = _run(client, "restored", kept.metrics)
    assert _history(client, run_id, "dev_error") == [(1, 0.3), (2, 0.2), (3, 0.25), (4, 0.2)]
    assert _history(client, run_id, "train_loss") == [(1, 0.9), (2, 0.5), (3, 0.4), (4, 0.5)]
    # figures of the training are not repeated; single values once, at the final step
    assert [s for s, _ in _history(client, run_id, "epoch_time_s")] == [1, 2, 3]
    assert _history(client, run_id, "lr") == [(1, 0.1), (2, 0.1), (3, 0.1)]
    for key, value in (("latency_ms", 2.0), ("best_epoch", 2.0), ("epochs_run", 3.0)):
        assert _history(client, run_id, key) == [(4, value)]
    assert "epoch" not in client.get_run(run_id).data.metrics
    assert client.get_run(run_id).data.metrics["dev_error"] == 0.2  # the kept model's


def test_without_a_restore_the_last_epoch_is_the_last_step(client):
    history = _epochs()
    run_id = _run(client, "last", TrialResult(metrics=dict(history[-1]), history=history).metrics)
    assert _history(client, run_id, "dev_error") == [(1, 0.3), (2, 0.2), (3, 0.25)]
    assert _history(client, run_id, "best_epoch") == [(3, 2.0)]


def test_best_epoch_is_the_first_lowest_dev_error_else_the_last_epoch():
    assert best_epoch([{"dev_error": 0.3}, {"dev_error": 0.2}, {"dev_error": 0.2}]) == 2
    assert best_epoch([{"total_cost": 3.0}, {"total_cost": 1.0}]) == 2  # no dev_error
    assert TrialResult(metrics={"dev_error": 0.1}).metrics == {"dev_error": 0.1}  # no history


@pytest.mark.parametrize(
    ("params", "name"),
    [
        (
            {"learning_rate": 0.0032, "optimizer": "adam", "hidden_units": 256},
            "#7 lr=3.2e-3 adam h=256",
        ),
        ({"keep_prob": 0.8, "batch_size": 64, "num_layers": 2}, "#7 keep=0.8 bs=64 layers=2"),
        (
            {"beta": 1062.3, "lambda_box": 4.25, "margin": 0.999, "x": 1},
            "#7 beta=1062 lambda_box=4.25 margin=0.999",
        ),
        ({}, "#7"),
    ],
)
def test_run_names_are_short_and_telling(params, name):
    assert trial_run_name(7, params) == name


def test_a_sweep_summed_up_again_uses_the_next_step(client):
    exp = get_or_create_experiment(client, "record", artifact_location=None)
    sweep = SweepRun.start(client, exp, name="resumed", tags={}, params={})
    sweep.log_summary({"trials_finished": 2.0})
    sweep.log_summary({"trials_finished": 4.0, "best_dev_error": 0.1})  # after a --resume
    assert _history(client, sweep.run_id, "trials_finished") == [(0, 2.0), (1, 4.0)]
    assert _history(client, sweep.run_id, "best_dev_error") == [(1, 0.1)]
