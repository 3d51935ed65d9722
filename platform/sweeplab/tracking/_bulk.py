"""Metric batches written to MLflow's SQL store in one bulk insert.

MLflow's ``SqlAlchemyStore.log_batch`` builds one ORM object per metric value and runs
SQLAlchemy's unit of work over them: ~80–200 µs of Python per value here, so the ~600–1,100
values of a 2-s trial of short epochs cost 80–130 ms, more than everything else sweeplab does
per trial. When the tracking store is an MLflow SQL store in this process (the default
``sqlite:///…/mlflow.db`` of a workspace, or a database URI), :func:`write_metrics` writes the
same rows with one SQLAlchemy Core ``INSERT`` (executemany) through the store's own engine
and MLflow's own table definitions, plus the ``latest_metrics`` rows MLflow keeps for the
runs table, in one transaction: ~10 µs per value. :func:`write_batch` does the same for a
whole ``log_batch`` (params and tags too), so a trial's params, or its last metrics with its
status tags, are one transaction instead of MLflow's three ORM sessions.

It writes what ``log_batch`` writes — tested against it row for row
(tests/tracking/test_bulk_metrics.py): the metric history, and per key the latest value by
(step, timestamp, value), as MLflow's ``_update_latest_metrics_if_necessary`` picks it;
params that never change once logged; tags that replace the run's value. It
validates the metric names with MLflow's validator and refuses a run that is not active with
MLflow's error. Whatever it cannot write the same way it leaves to ``log_batch``: a store that
is not SQL (a tracking server, a file store), non-finite values, a point the run already
holds (a retried batch: ``log_batch`` skips duplicates), or ``SWEEPLAB_BULK_METRICS=0``.

The MLflow internals it needs (the client's SQL store and engine, the ORM tables, the private
validators) come from :mod:`sweeplab.tracking._mlflow_internals`, which names each one and the
MLflow versions it was checked with.
"""

from __future__ import annotations

import functools
import logging
import math
import os
from typing import Any

from sweeplab.tracking._mlflow_internals import (
    check_version,
    latest_metrics_table,
    metrics_table,
    params_table,
    run_name_tag,
    runs_table,
    sql_store,
    tags_table,
    transaction,
    validate_metric,
    validate_param,
    validate_tag,
)

__all__ = ["bulk_enabled", "write_batch", "write_metrics"]

_log = logging.getLogger(__name__)

#: ``SWEEPLAB_BULK_METRICS=0`` sends every metric batch through ``MlflowClient.log_batch``.
ENV = "SWEEPLAB_BULK_METRICS"


def bulk_enabled() -> bool:
    """The bulk path is on unless ``SWEEPLAB_BULK_METRICS=0``, and only for an MLflow release
    whose internals it was checked on (else every batch goes through ``log_batch``)."""
    if os.environ.get(ENV, "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    return _checked_mlflow()


@functools.cache
def _checked_mlflow() -> bool:
    problem = check_version()
    if problem:
        _log.warning("sweeplab: bulk metric writes are off: %s", problem)
    return problem is None


def write_metrics(client: Any, run_id: str, points: list[list[Any]]) -> bool:
    """Write ``points`` (``[key, value, timestamp_ms, step]``) to the run; True when written.

    False (nothing written) when the bulk path does not apply: the caller sends the batch
    through ``log_batch``. MLflow errors about the request itself (an invalid metric name, a
    deleted run) are raised as ``log_batch`` raises them; a database error (locked, gone)
    propagates too, and the outbox retries the batch.
    """
    return bool(points) and write_batch(client, run_id, metrics=points)


def write_batch(
    client: Any,
    run_id: str,
    *,
    metrics: list[list[Any]] | None = None,
    params: dict[str, Any] | None = None,
    tags: dict[str, Any] | None = None,
) -> bool:
    """``log_batch(run_id, metrics, params, tags)`` in one transaction; True when written.

    Params: new keys are inserted, a key logged again with the same value is left as it is,
    and one with another value is refused with MLflow's error (nothing is written). Tags: set,
    replacing a value the run holds. False (nothing written) where the bulk path does not apply
    (see the module's docstring, and the ``mlflow.runName`` tag, which MLflow also writes to
    the run's name): the caller sends the batch through ``log_batch``.
    """
    if not (metrics or params or tags) or not bulk_enabled():
        return False
    store = sql_store(client)
    if store is None:
        return False
    rows = _rows(run_id, metrics or [])
    if rows is None:
        return False
    param_list = [validate_param(k, str(v)) for k, v in (params or {}).items()]
    tag_list = [validate_tag(k, str(v)) for k, v in (tags or {}).items()]
    if run_name_tag() in {t.key for t in tag_list}:
        return False
    import sqlalchemy

    try:
        with transaction(store) as conn:
            _check_active(conn, run_id)
            if param_list:
                _insert_params(conn, run_id, param_list)
            if rows:
                conn.execute(sqlalchemy.insert(metrics_table()), rows)
                _update_latest(conn, latest_metrics_table(), run_id, rows)
            if tag_list:
                _set_tags(conn, run_id, tag_list)
    except sqlalchemy.exc.IntegrityError:
        # A point the run already holds (a batch retried after its commit went through):
        # the transaction rolled back; log_batch writes the rest without duplicates.
        return False
    return True


def _held(conn: Any, table: Any, run_id: str, keys: list[str]) -> dict[str, Any]:
    """``key -> row`` of the run's rows in ``table`` among ``keys`` (500 keys per query, as
    MLflow bounds its bound parameters)."""
    import sqlalchemy

    out: dict[str, Any] = {}
    for i in range(0, len(keys), 500):
        query = sqlalchemy.select(table).where(
            table.c.run_uuid == run_id, table.c.key.in_(keys[i : i + 500])
        )
        for r in conn.execute(query):
            out[r.key] = r
    return out


def _insert_params(conn: Any, run_id: str, params: list[Any]) -> None:
    """MLflow's ``_log_params``: a param's value never changes once logged."""
    import sqlalchemy
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

    table = params_table()
    held = _held(conn, table, run_id, [p.key for p in params])
    changed = [
        {"key": p.key, "old_value": held[p.key].value, "new_value": p.value}
        for p in params
        if p.key in held and held[p.key].value != p.value
    ]
    if changed:
        raise MlflowException(
            "Changing param values is not allowed. Params were already"
            f" logged='{changed}' for run ID='{run_id}'.",
            INVALID_PARAMETER_VALUE,
        )
    new = [
        {"run_uuid": run_id, "key": p.key, "value": p.value} for p in params if p.key not in held
    ]
    if new:
        conn.execute(sqlalchemy.insert(table), new)


def _set_tags(conn: Any, run_id: str, tags: list[Any]) -> None:
    """MLflow's ``_set_tags``: a tag's value is replaced when the run holds the key."""
    import sqlalchemy

    table = tags_table()
    values = {t.key: t.value for t in tags}  # the last value of a key given twice wins
    held = _held(conn, table, run_id, list(values))
    new = [{"run_uuid": run_id, "key": k, "value": v} for k, v in values.items() if k not in held]
    if new:
        conn.execute(sqlalchemy.insert(table), new)
    for key, value in values.items():
        if key in held and held[key].value != value:
            conn.execute(
                sqlalchemy.update(table)
                .where(table.c.run_uuid == run_id, table.c.key == key)
                .values(value=value)
            )


def _rows(run_id: str, points: list[list[Any]]) -> list[dict[str, Any]] | None:
    """Insert rows, validated as MLflow validates them; duplicates within the batch dropped
    (log_batch drops them too). None when a value is not finite (log_batch stores NaN / ±inf
    in its own way; the outbox never sends one, see ``TrialRun.log_metrics``)."""
    rows: list[dict[str, Any]] = []
    seen: set[tuple[str, int, int, float]] = set()
    checked: set[str] = set()
    for key, value, timestamp, step in points:
        value, timestamp, step = float(value), int(timestamp), int(step)
        if not math.isfinite(value):
            return None
        if key not in checked:  # the name's rules; values are floats and ints by now
            validate_metric(key, value, timestamp, step)
            checked.add(key)
        ident = (key, timestamp, step, value)
        if ident in seen:
            continue
        seen.add(ident)
        rows.append(
            {
                "run_uuid": run_id,
                "key": key,
                "value": value,
                "timestamp": timestamp,
                "step": step,
                "is_nan": False,
            }
        )
    return rows


def _check_active(conn: Any, run_id: str) -> None:
    """MLflow's checks before a write: the run exists and is active (not deleted)."""
    import sqlalchemy
    from mlflow.entities import LifecycleStage
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST

    runs = runs_table()
    stage = conn.execute(
        sqlalchemy.select(runs.c.lifecycle_stage).where(runs.c.run_uuid == run_id)
    ).scalar()
    if stage is None:
        raise MlflowException(f"Run with id={run_id} not found", RESOURCE_DOES_NOT_EXIST)
    if stage != LifecycleStage.ACTIVE:
        raise MlflowException(
            f"The run {run_id} must be in the 'active' state. Current state is {stage}.",
            INVALID_PARAMETER_VALUE,
        )


def _update_latest(conn: Any, table: Any, run_id: str, rows: list[dict[str, Any]]) -> None:
    """Per key, the newest point by (step, timestamp, value) — MLflow's rule — replaces the
    stored latest value when it is strictly newer, or becomes the first one."""
    import sqlalchemy

    newest: dict[str, dict[str, Any]] = {}
    for row in rows:
        best = newest.get(row["key"])
        if best is None or _order(row) > _order(best):
            newest[row["key"]] = row
    held = _held(conn, table, run_id, sorted(newest))
    inserts = [row for key, row in newest.items() if key not in held]
    if inserts:
        conn.execute(sqlalchemy.insert(table), inserts)
    for key, row in newest.items():
        old = held.get(key)
        if old is not None and _order(row) > (old.step, old.timestamp, old.value):
            conn.execute(
                sqlalchemy.update(table)
                .where(table.c.run_uuid == run_id, table.c.key == key)
                .values(
                    value=row["value"],
                    step=row["step"],
                    timestamp=row["timestamp"],
                    is_nan=False,
                )
            )


def _order(row: dict[str, Any]) -> tuple[int, int, float]:
    return (row["step"], row["timestamp"], row["value"])
