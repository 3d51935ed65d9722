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


def test_the_sender_thread_sends_everything_in_order_and_leaves_no_file(tmp_path):
    """Background mode (used with a tracking server): ``submit`` returns at once, the sender
    thread delivers every write, in order, and the outbox folder is empty once it is done."""
    uri, client, exp = _store(tmp_path)
    parent = client.create_run(exp).info.run_id
    outbox_dir = tmp_path / "outbox" / "bg"
    box = Outbox(client, outbox_dir, tracking_uri=uri, background=True)
    sweep = SweepRun(client, exp, parent, "bg", box)
    runs = []
    for number in range(3):
        run = sweep.start_trial(number=number, name=f"bg #{number}")
        run.log_params({"lr": 0.1 * (number + 1)})
        for step in range(1, 6):
            run.log_metrics({"loss": 1.0 / step, "acc": step / 10}, step=step)
        run.finish("finished")
        runs.append(run)
    assert box.drain(60.0)
    assert box.pending() == 0 and not list(outbox_dir.glob("*.jsonl"))
    children = client.search_runs([exp], filter_string=f"tags.`mlflow.parentRunId` = '{parent}'")
    assert len(children) == 3 and {c.info.status for c in children} == {"FINISHED"}
    for child in children:
        assert [s for s, _, _ in _history(client, child.info.run_id, "loss")] == [1, 2, 3, 4, 5]
    assert sorted(c.data.params["lr"] for c in children) == ["0.1", "0.2", "0.30000000000000004"]
    assert sweep.close(0.0) == []


def test_the_sender_thread_keeps_every_write_on_disk_until_it_is_sent(tmp_path):
    """A kill -9 while the store is away loses nothing: each write is in the outbox folder
    before ``submit`` returns, and ``sweeplab sync`` sends it later, once."""
    uri, client, exp = _store(tmp_path)
    parent = client.create_run(exp).info.run_id
    outbox_dir = tmp_path / "outbox" / "bg"
    box = Outbox(_Away(), outbox_dir, tracking_uri=uri, background=True, base_delay_s=30.0)
    sweep = SweepRun(_Away(), exp, parent, "bg", box)
    run = sweep.start_trial(number=0, name="bg #0")
    run.log_params({"lr": 0.1})
    for step in range(1, 4):
        run.log_metrics({"loss": 1.0 / step}, step=step)
        run.flush()
    run.finish("finished")
    # no close(): as if the process died here; the files alone must carry every write
    files = list(outbox_dir.glob("*.jsonl"))
    ops = [json.loads(x)["op"] for f in files for x in f.read_text().splitlines()[1:]]
    assert "create_run" in ops and ops.count("log_batch") >= 4 and "set_terminated" in ops

    def client_for(u):
        return MlflowClient(u)

    assert sync_directory(outbox_dir, client_for)[0] >= 1
    children = client.search_runs([exp], filter_string=f"tags.`mlflow.parentRunId` = '{parent}'")
    assert len(children) == 1 and children[0].info.status == "FINISHED"
    assert [s for s, _, _ in _history(client, children[0].info.run_id, "loss")] == [1, 2, 3]
