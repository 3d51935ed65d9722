"""The bulk metric writer stores exactly what MLflow's own ``log_batch`` stores (real SQLite
store, MLflow's readers), refuses what ``log_batch`` refuses, and steps aside when it cannot
write the same way."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mlflow.entities import Metric
from mlflow.exceptions import MlflowException

from sweeplab.tracking import client_for, get_or_create_experiment
from sweeplab.tracking._bulk import bulk_enabled, write_batch, write_metrics
from sweeplab.tracking._outbox import Outbox


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    # One store for the module: creating an MLflow SQLite schema takes seconds.
    return client_for(f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}")


@pytest.fixture(scope="module")
def exp(client):
    return get_or_create_experiment(client, "bulk", artifact_location=None)


def _run(client, exp) -> str:
    return client.create_run(exp).info.run_id


def _mlflow(client, run_id, points) -> None:
    client.log_batch(run_id, metrics=[Metric(k, float(v), int(t), int(s)) for k, v, t, s in points])


def _stored(client, run_id) -> tuple[dict, dict]:
    """What MLflow's readers see: every key's full history, and the run's latest values."""
    run = client.get_run(run_id)
    history = {
        key: sorted((m.step, m.timestamp, m.value) for m in client.get_metric_history(run_id, key))
        for key in run.data.metrics
    }
    return history, dict(run.data.metrics)


def _batches(rng: random.Random, keys: int, batches: int) -> list[list[list]]:
    """Batches in no particular order: repeated steps, equal timestamps, steps going back."""
    out = []
    for _ in range(batches):
        batch = []
        for _ in range(rng.randint(1, 40)):
            batch.append(
                [
                    f"m{rng.randrange(keys)}",
                    rng.choice([0.0, 1.0, rng.uniform(-5, 5)]),
                    1_700_000_000_000 + rng.randrange(5),
                    rng.randrange(6),
                ]
            )
        if rng.random() < 0.3:
            batch.append(list(batch[0]))  # a duplicate within the batch
        out.append(batch)
    return out


def _same_as_log_batch(client, exp, batches) -> None:
    ours, theirs = _run(client, exp), _run(client, exp)
    for batch in batches:
        held = _stored(client, ours)[0]
        fresh = [
            p for p in batch if (p[3], p[2], float(p[1])) not in set(held.get(p[0], []))
        ]  # a batch never repeats a stored point (the outbox filters retries first)
        if not fresh:
            continue
        assert write_metrics(client, ours, fresh)
        _mlflow(client, theirs, fresh)
    assert _stored(client, ours) == _stored(client, theirs)


def test_same_history_and_latest_values_as_log_batch(client, exp):
    rng = random.Random(0)
    for _ in range(5):
        _same_as_log_batch(client, exp, _batches(rng, keys=4, batches=4))


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**31 - 1), keys=st.integers(1, 6), batches=st.integers(1, 4))
def test_same_as_log_batch_for_any_batches(client, exp, seed, keys, batches):
    _same_as_log_batch(client, exp, _batches(random.Random(seed), keys, batches))


def test_a_later_step_wins_and_an_older_one_does_not(client, exp):
    run = _run(client, exp)
    assert write_metrics(client, run, [["loss", 0.5, 10, 3], ["loss", 0.9, 20, 1]])
    assert client.get_run(run).data.metrics["loss"] == 0.5  # step 3 beats step 1
    assert write_metrics(client, run, [["loss", 0.1, 5, 2]])
    assert client.get_run(run).data.metrics["loss"] == 0.5  # an older step changes nothing
    assert write_metrics(client, run, [["loss", 0.2, 11, 3]])
    assert client.get_run(run).data.metrics["loss"] == 0.2  # same step, newer timestamp


def test_refuses_what_log_batch_refuses(client, exp):
    run = _run(client, exp)
    with pytest.raises(MlflowException) as ours:
        write_metrics(client, run, [["bad\x00name", 1.0, 1, 0]])
    with pytest.raises(MlflowException) as theirs:
        _mlflow(client, run, [["bad\x00name", 1.0, 1, 0]])
    assert ours.value.error_code == theirs.value.error_code == "INVALID_PARAMETER_VALUE"

    client.delete_run(run)
    with pytest.raises(MlflowException) as ours:
        write_metrics(client, run, [["loss", 1.0, 1, 0]])
    with pytest.raises(MlflowException) as theirs:
        _mlflow(client, run, [["loss", 1.0, 1, 0]])
    assert ours.value.error_code == theirs.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "active" in str(ours.value)

    with pytest.raises(MlflowException) as ours:
        write_metrics(client, "0" * 32, [["loss", 1.0, 1, 0]])
    assert ours.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_a_point_already_stored_leaves_the_batch_to_log_batch(client, exp):
    run = _run(client, exp)
    first = [["loss", 1.0, 1, 0], ["loss", 0.5, 2, 1]]
    assert write_metrics(client, run, first)
    again = first + [["loss", 0.25, 3, 2]]
    assert not write_metrics(client, run, again)  # rolled back: nothing written twice
    assert _stored(client, run)[0] == {"loss": [(0, 1, 1.0), (1, 2, 0.5)]}


def test_steps_aside_for_non_finite_values_other_stores_and_when_off(client, exp, monkeypatch):
    run = _run(client, exp)
    assert not write_metrics(client, run, [["loss", float("nan"), 1, 0]])
    remote = client_for("http://127.0.0.1:9")  # a tracking server: nothing to bulk-insert into
    assert not write_metrics(remote, run, [["loss", 1.0, 1, 0]])
    monkeypatch.setenv("SWEEPLAB_BULK_METRICS", "0")
    assert not bulk_enabled()
    assert not write_metrics(client, run, [["loss", 1.0, 1, 0]])
    assert _stored(client, run) == ({}, {})


def test_outbox_sends_batches_through_the_bulk_writer(client, exp, monkeypatch):
    """The outbox's log_batch writes take the bulk path (metrics with tags in one), and a
    retried op (tries > 0) sends only the points the store lacks."""
    calls = []

    import sweeplab.tracking._outbox as outbox_mod

    real = outbox_mod.write_batch

    def counting(c, run_id, **kw):
        calls.append(len(kw.get("metrics") or []))
        return real(c, run_id, **kw)

    monkeypatch.setattr(outbox_mod, "write_batch", counting)
    box = Outbox(client)
    key = box.create_run(exp, run_name="r", tags={})
    box.submit(key, {"op": "log_batch", "metrics": [["loss", 1.0, 1, 0]], "tags": {"t": "x"}})
    run_id = box.run_id(key)
    assert calls == [1]
    retried = {"op": "log_batch", "metrics": [["loss", 1.0, 1, 0], ["loss", 0.5, 2, 1]], "tries": 1}
    box.submit(key, retried)
    assert calls == [1, 1]  # the stored point was filtered out before the write
    run = client.get_run(run_id)
    assert run.data.tags["t"] == "x"
    assert _stored(client, run_id)[0] == {"loss": [(0, 1, 1.0), (1, 2, 0.5)]}


def _params_tags(client, run_id) -> tuple[dict, dict]:
    run = client.get_run(run_id)
    tags = {k: v for k, v in run.data.tags.items() if k != "mlflow.runName"}  # random per run
    return dict(run.data.params), tags


def test_params_and_tags_as_log_batch_writes_them(client, exp):
    from mlflow.entities import Param, RunTag

    ours, theirs = _run(client, exp), _run(client, exp)
    batches = [
        ({"lr": "0.01", "model.name": "mlp", "long": "x" * 7000}, {"a": "1", "b": "2"}),
        ({"lr": "0.01", "epochs": "3"}, {"a": "changed", "c": "y" * 9000}),  # same value again
    ]
    for i, (params, tags) in enumerate(batches):
        point = ["m", float(i), i + 1, i]
        assert write_batch(client, ours, params=params, tags=tags, metrics=[point])
        client.log_batch(
            theirs,
            metrics=[Metric(*point)],
            params=[Param(k, v) for k, v in params.items()],
            tags=[RunTag(k, v) for k, v in tags.items()],
        )
    assert _params_tags(client, ours) == _params_tags(client, theirs)
    assert _stored(client, ours) == _stored(client, theirs)
    assert len(_params_tags(client, ours)[0]["long"]) == 6000  # MLflow's truncation


def test_a_changed_param_is_refused_and_nothing_is_written(client, exp):
    from mlflow.entities import Param

    run = _run(client, exp)
    assert write_batch(client, run, params={"lr": "0.01"})
    with pytest.raises(MlflowException) as ours:
        write_batch(client, run, params={"lr": "0.02"}, metrics=[["m", 1.0, 1, 0]])
    with pytest.raises(MlflowException) as theirs:
        client.log_batch(run, params=[Param("lr", "0.02")])
    assert ours.value.error_code == theirs.value.error_code == "INVALID_PARAMETER_VALUE"
    assert _params_tags(client, run)[0] == {"lr": "0.01"}
    assert _stored(client, run) == ({}, {})  # the metric of the refused batch is not there


def test_the_run_name_tag_is_left_to_log_batch(client, exp):
    run = _run(client, exp)
    assert not write_batch(client, run, tags={"mlflow.runName": "renamed"})
