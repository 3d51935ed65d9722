"""Parent/child runs, batched metrics and statuses on a real MLflow SQLite store."""

from __future__ import annotations

import pytest

from sweeplab.tracking import TAG, SweepRun, client_for, flatten_params, get_or_create_experiment


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    # One store for the module: creating an MLflow SQLite schema takes seconds.
    return client_for(f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}")


class CountingClient:
    """The real client, counting the calls that reach the store."""

    def __init__(self, inner):
        self.inner = inner
        self.batches = 0

    def log_batch(self, *args, **kwargs):
        self.batches += 1
        return self.inner.log_batch(*args, **kwargs)

    def log_metric(self, *args, **kwargs):  # pragma: no cover - must not be used
        raise AssertionError("metrics must be sent in batches")

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_flatten_params():
    assert flatten_params({"a": 1, "b": {"c": 0.5, "d": [1, 2]}}) == {
        "a": "1",
        "b.c": "0.5",
        "b.d": "1,2",
    }


def test_experiment_is_created_once(client, tmp_path):
    a = get_or_create_experiment(client, "proj", artifact_location=None)
    b = get_or_create_experiment(client, "proj", artifact_location=None)
    assert a == b


def test_trial_is_nested_and_metrics_are_batched(client):
    exp = get_or_create_experiment(client, "proj", artifact_location=None)
    counting = CountingClient(client)
    sweep = SweepRun.start(counting, exp, name="s", tags={}, params={"sampler": "random"})
    trial = sweep.start_trial(number=0, name="s #0")
    trial.log_params({"learning_rate": 0.01, "optimizer": "adam"})
    before = counting.batches
    epochs = 50
    for epoch in range(1, epochs + 1):
        trial.log_metrics(
            {"train_loss": 1.0 / epoch, "dev_error": 0.5 / epoch, "lr": 0.01}, step=epoch
        )
    trial.finish("finished")
    # 150 values reached the store in a handful of calls, not 150
    assert counting.batches - before <= 3
    run = client.get_run(trial.run_id)
    assert run.data.tags[TAG["parent"]] == sweep.run_id
    assert run.data.tags[TAG["status"]] == "finished"
    assert run.info.status == "FINISHED"
    history = client.get_metric_history(trial.run_id, "dev_error")
    assert [m.step for m in sorted(history, key=lambda m: m.step)] == list(range(1, epochs + 1))
    assert run.data.params == {"learning_rate": "0.01", "optimizer": "adam"}


def test_failed_trial_keeps_its_reason(client):
    exp = get_or_create_experiment(client, "proj", artifact_location=None)
    sweep = SweepRun.start(client, exp, name="s", tags={}, params={})
    trial = sweep.start_trial(number=3, name="s #3")
    trial.finish("failed", reason="loss became nan at epoch 2")
    run = client.get_run(trial.run_id)
    assert run.info.status == "FAILED"
    assert run.data.tags[TAG["failure"]] == "loss became nan at epoch 2"
    assert run.data.tags[TAG["trial"]] == "3"


def test_non_finite_values_are_not_sent(client):
    exp = get_or_create_experiment(client, "proj", artifact_location=None)
    sweep = SweepRun.start(client, exp, name="s", tags={}, params={})
    trial = sweep.start_trial(number=0, name="s #0")
    trial.log_metrics({"dev_error": float("nan"), "train_error": 0.1}, step=1)
    trial.finish("finished")
    run = client.get_run(trial.run_id)
    assert "dev_error" not in run.data.metrics and run.data.metrics["train_error"] == 0.1
