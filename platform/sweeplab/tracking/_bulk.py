"""Metric batches written to MLflow's SQL store in one bulk insert.

MLflow's ``SqlAlchemyStore.log_batch`` builds one ORM object per metric value and runs
SQLAlchemy's unit of work over them: ~80–200 µs of Python per value here, so the ~600–1,100
values of a 2-s trial of short epochs cost 80–130 ms, more than everything else sweeplab does
per trial. When the tracking store is an MLflow SQL store in this process (the default
``sqlite:///…/mlflow.db`` of a workspace, or a database URI), :func:`write_metrics` writes the
same rows with one SQLAlchemy Core ``INSERT`` (executemany) through the store's own engine
and MLflow's own table definitions, plus the ``latest_metrics`` rows MLflow keeps for the
runs table, in one transaction: ~10 µs per value.

It writes what ``log_batch`` writes — tested against it row for row
(tests/tracking/test_bulk_metrics.py): the metric history, and per key the latest value by
(step, timestamp, value), as MLflow's ``_update_latest_metrics_if_necessary`` picks it. It
validates the metric names with MLflow's validator and refuses a run that is not active with
MLflow's error. Whatever it cannot write the same way it leaves to ``log_batch``: a store that
is not SQL (a tracking server, a file store), non-finite values, a point the run already
holds (a retried batch: ``log_batch`` skips duplicates), or ``SWEEPLAB_BULK_METRICS=0``.
"""

from __future__ import annotations

import logging
import math
import os
from typing import Any

__all__ = ["bulk_enabled", "write_metrics"]

_log = logging.getLogger(__name__)

#: ``SWEEPLAB_BULK_METRICS=0`` sends every metric batch through ``MlflowClient.log_batch``.
ENV = "SWEEPLAB_BULK_METRICS"


def bulk_enabled() -> bool:
    return os.environ.get(ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def _sql_store(client: Any) -> Any | None:
    """The client's MLflow SQL store, if it has one in this process."""
    try:
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
    except ImportError:  # pragma: no cover - mlflow without its SQL extras
        return None
    tracking = getattr(client, "_tracking_client", None)
    try:
        store = tracking.store if tracking is not None else None
    except Exception:  # noqa: BLE001 - a store that cannot be built is log_batch's to report
        return None
    return store if isinstance(store, SqlAlchemyStore) else None


def write_metrics(client: Any, run_id: str, points: list[list[Any]]) -> bool:
    """Write ``points`` (``[key, value, timestamp_ms, step]``) to the run; True when written.

    False (nothing written) when the bulk path does not apply: the caller sends the batch
    through ``log_batch``. MLflow errors about the request itself (an invalid metric name, a
    deleted run) are raised as ``log_batch`` raises them; a database error (locked, gone)
    propagates too, and the outbox retries the batch.
    """
    if not points or not bulk_enabled():
        return False
    store = _sql_store(client)
    if store is None:
        return False
    rows = _rows(run_id, points)
    if rows is None:
        return False
    import sqlalchemy
    from mlflow.store.tracking.dbmodels.models import SqlLatestMetric, SqlMetric

    try:
        with store.engine.begin() as conn:
            if conn.dialect.name == "sqlite":  # what MLflow's own sessions set on SQLite
                conn.exec_driver_sql("PRAGMA foreign_keys = ON")
                conn.exec_driver_sql("PRAGMA busy_timeout = 20000")
            _check_active(conn, run_id)
            conn.execute(sqlalchemy.insert(SqlMetric.__table__), rows)
            _update_latest(conn, SqlLatestMetric.__table__, run_id, rows)
    except sqlalchemy.exc.IntegrityError:
        # A point the run already holds (a batch retried after its commit went through):
        # the transaction rolled back; log_batch writes the rest without duplicates.
        return False
    return True


def _rows(run_id: str, points: list[list[Any]]) -> list[dict[str, Any]] | None:
    """Insert rows, validated as MLflow validates them; duplicates within the batch dropped
    (log_batch drops them too). None when a value is not finite (log_batch stores NaN / ±inf
    in its own way; the outbox never sends one, see ``TrialRun.log_metrics``)."""
    from mlflow.utils.validation import _validate_metric

    rows: list[dict[str, Any]] = []
    seen: set[tuple[str, int, int, float]] = set()
    checked: set[str] = set()
    for key, value, timestamp, step in points:
        value, timestamp, step = float(value), int(timestamp), int(step)
        if not math.isfinite(value):
            return None
        if key not in checked:  # the name's rules; values are floats and ints by now
            _validate_metric(key, value, timestamp, step)
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
    from mlflow.entities.lifecycle_stage import LifecycleStage
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST
    from mlflow.store.tracking.dbmodels.models import SqlRun

    runs = SqlRun.__table__
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
    keys = sorted(newest)
    held = {}
    for i in range(0, len(keys), 500):  # bound the bound parameters per query, as MLflow does
        query = sqlalchemy.select(table.c.key, table.c.step, table.c.timestamp, table.c.value)
        for r in conn.execute(
            query.where(table.c.run_uuid == run_id, table.c.key.in_(keys[i : i + 500]))
        ):
            held[r.key] = r
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
