"""The outbox on a real SQLite MLflow store: writes queue while the store is away, go out in
order when it is back, and a retry never sends a metric point the store already holds."""

from __future__ import annotations

import json

from mlflow import MlflowClient

from sweeplab.tracking import RUN_KEY_TAG, Outbox, SweepRun, sync_directory


def _store(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    return uri, client, client.create_experiment("outbox")


def _history(client, run_id, key):
    return [(m.step, m.timestamp, m.value) for m in client.get_metric_history(run_id, key)]


def test_a_retried_batch_sends_only_what_the_store_does_not_hold(tmp_path):
    uri, client, exp = _store(tmp_path)
    run_id = client.create_run(exp).info.run_id
    box = Outbox(client)
    key = box.bind(run_id)
    # the first half reached the store, but the answer was lost: the op is "in doubt"
    points = [["loss", 1.0 / (s + 1), 1000 + s, s] for s in range(6)]
    from mlflow.entities import Metric

    client.log_batch(run_id, metrics=[Metric(k, v, ts, step) for k, v, ts, step in points[:3]])
    box.submit(key, {"op": "log_batch", "metrics": points, "tries": 1})
    assert box.pending() == 0
    assert sorted(_history(client, run_id, "loss")) == [
        (s, 1000 + s, 1.0 / (s + 1)) for s in range(6)
    ]


class _Away:
    """A client whose store does not answer (connection refused)."""

    def __getattr__(self, name):
        def fail(*args, **kwargs):
            raise ConnectionError("connection refused")

        return fail


def test_writes_queue_while_the_store_is_away_and_sync_sends_them_once(tmp_path):
    uri, client, exp = _store(tmp_path)
    parent = client.create_run(exp).info.run_id
    outbox_dir = tmp_path / "outbox" / "s"
    sweep = SweepRun(_Away(), exp, parent, "s", Outbox(_Away(), outbox_dir, tracking_uri=uri))
    run = sweep.start_trial(number=0, name="s #0")
    assert run.run_id is None  # not created yet: the trial goes on
    run.log_params({"lr": 0.1})
    for step in range(1, 4):
        run.log_metrics({"loss": 1.0 / step}, step=step)
    run.finish("finished")
    sweep.finish("finished")
    saved = sweep.close(0.0)
    assert saved and all(p.parent == outbox_dir for p in saved)
    lines = [json.loads(x) for x in saved[0].read_text().splitlines()] if saved else []
    assert lines and lines[0]["tracking_uri"] == uri

    def client_for(u):
        assert u == uri
        return MlflowClient(u)

    assert sync_directory(outbox_dir, client_for) == (2, 0)
    assert not list(outbox_dir.glob("*.jsonl"))
    assert sync_directory(outbox_dir, client_for) == (0, 0)  # idempotent
    children = client.search_runs([exp], filter_string=f"tags.`mlflow.parentRunId` = '{parent}'")
    assert len(children) == 1
    child = children[0]
    assert child.info.status == "FINISHED" and child.data.params == {"lr": "0.1"}
    assert RUN_KEY_TAG in child.data.tags
    assert [s for s, _, _ in _history(client, child.info.run_id, "loss")] == [1, 2, 3]
    assert client.get_run(parent).info.status == "FINISHED"


def test_a_run_created_just_before_the_answer_was_lost_is_not_created_twice(tmp_path):
    uri, client, exp = _store(tmp_path)
    box = Outbox(client)
    key = "k1"
    client.create_run(exp, tags={RUN_KEY_TAG: key})  # reached the store; the answer did not
    op = {
        "op": "create_run",
        "experiment_id": exp,
        "run_name": "x",
        "tags": {RUN_KEY_TAG: key},
        "start_time": 1,
        "tries": 1,
    }
    from sweeplab.tracking._outbox import _Queue

    box._queues[key] = _Queue(key, None)
    box.submit(key, op)
    assert len(client.search_runs([exp])) == 1
    assert box.run_id(key) is not None
