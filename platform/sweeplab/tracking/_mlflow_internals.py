"""Every MLflow internal sweeplab uses, in one place (the bulk metric writer, ``_bulk``).

MLflow has no public API for what :mod:`sweeplab.tracking._bulk` does (writing a batch of
metric rows in one SQL ``INSERT``), so it reaches into these; nothing else in sweeplab may
(tests/test_library_internals.py walks the package and fails on any other use):

- ``MlflowClient._tracking_client`` (a private attribute) and its ``.store`` (the client's
  tracking store, ``mlflow.tracking._tracking_service.client.TrackingServiceClient.store``);
- ``mlflow.store.tracking.sqlalchemy_store.SqlAlchemyStore`` and its ``.engine`` (the
  SQLAlchemy engine of a SQL tracking store), and the two PRAGMAs that MLflow's own sessions
  set on SQLite (``mlflow.store.db.utils``: ``foreign_keys = ON``, ``busy_timeout = 20000``);
- the ORM tables of ``mlflow.store.tracking.dbmodels.models``: ``SqlMetric`` (``metrics``),
  ``SqlLatestMetric`` (``latest_metrics``), ``SqlParam`` (``params``), ``SqlTag`` (``tags``),
  ``SqlRun`` (``runs``), with the columns ``_bulk`` reads and writes (see ``COLUMNS``) and the
  metrics table's primary key over a whole point (a point stored twice is an IntegrityError);
- the private validators ``mlflow.utils.validation._validate_metric``, ``_validate_param`` and
  ``_validate_tag`` (the latter two return the ``Param`` / ``RunTag`` to write, the value
  truncated as ``log_batch`` truncates it);
- ``mlflow.utils.mlflow_tags.MLFLOW_RUN_NAME`` (the run-name tag, which MLflow also writes
  to the run's ``name`` column: ``_bulk`` leaves it to ``log_batch``).

It also rewrites, in a SQLite store, the artifact locations MLflow keeps as absolute paths
(``ARTIFACT_COLUMNS``: a workspace that was moved or copied, see tracking/_relocate.py).

Checked with the MLflow versions in ``CHECKED``. :func:`check_version` compares major.minor:
MLflow reworks its store and validators in minor releases, but a patch release (3.17.x) keeps
them, and pyproject.toml bounds mlflow below the next minor (``<3.18``) to match. Every name is
imported lazily (``import mlflow`` takes seconds).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sweeplab._versions import unchecked_version

__all__ = [
    "CHECKED",
    "COLUMNS",
    "check_version",
    "sql_store",
    "transaction",
    "metrics_table",
    "latest_metrics_table",
    "params_table",
    "tags_table",
    "runs_table",
    "validate_metric",
    "validate_param",
    "validate_tag",
    "run_name_tag",
    "ARTIFACT_COLUMNS",
    "move_artifact_locations",
    "UI_EXPERIMENT_KIND_TAG",
    "UI_MACHINE_LEARNING",
    "UI_MODEL_DEVELOPMENT_KIND",
    "UI_SHARED_VIEW_PREFIX",
]

#: The library and the exact versions this module was checked with (tests/test_library_internals.py).
CHECKED: dict[str, tuple[str, ...]] = {"mlflow": ("3.17.2",)}

# -- The MLflow UI's conventions (its JavaScript bundle, mlflow/server/js/build/static/js, in
# the versions in CHECKED; used by tracking/_ui_view.py and checked by tests/cli/test_ui_browser.py):
#: The ``workflowType`` URL parameter's value for the runs-table views (the default: "genai").
UI_MACHINE_LEARNING = "machine_learning"
#: The experiment tag the UI reads an experiment's kind from, and the kind "Machine learning".
UI_EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
UI_MODEL_DEVELOPMENT_KIND = "custom_model_development"
#: ``?viewStateShareKey=KEY`` loads the runs table's state from the experiment tag PREFIX+KEY.
UI_SHARED_VIEW_PREFIX = "mlflow.sharedViewState."

#: Table -> the columns ``_bulk`` reads or writes.
COLUMNS: dict[str, frozenset[str]] = {
    "metrics": frozenset({"run_uuid", "key", "value", "timestamp", "step", "is_nan"}),
    "latest_metrics": frozenset({"run_uuid", "key", "value", "timestamp", "step", "is_nan"}),
    "params": frozenset({"run_uuid", "key", "value"}),
    "tags": frozenset({"run_uuid", "key", "value"}),
    "runs": frozenset({"run_uuid", "lifecycle_stage"}),
}

_USES = (
    "MlflowClient._tracking_client.store, SqlAlchemyStore.engine, the ORM tables metrics, "
    "latest_metrics, params, tags and runs, and mlflow.utils.validation._validate_metric / "
    "_validate_param / _validate_tag"
)


def check_version() -> str | None:
    """None when the installed mlflow's major.minor is one in ``CHECKED``, else why not."""
    return unchecked_version(
        "mlflow",
        CHECKED["mlflow"],
        "the bulk metric writer (sweeplab/tracking/_bulk.py) reaches into MLflow's internals "
        f"{_USES} (SWEEPLAB_BULK_METRICS=0 sends every batch through MlflowClient.log_batch)",
    )


# -- the store -------------------------------------------------------------------------------
def sql_store(client: Any) -> Any | None:
    """The client's MLflow SQL store (``SqlAlchemyStore``), if it has one in this process."""
    try:
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
    except ImportError:  # pragma: no cover - mlflow without its SQL extras
        return None
    tracking = getattr(client, "_tracking_client", None)  # MlflowClient._tracking_client
    try:
        store = tracking.store if tracking is not None else None  # TrackingServiceClient.store
    except Exception:  # noqa: BLE001 - a store that cannot be built is log_batch's to report
        return None
    return store if isinstance(store, SqlAlchemyStore) else None


@contextmanager
def transaction(store: Any) -> Iterator[Any]:
    """A connection in one transaction on the store's engine (``SqlAlchemyStore.engine``),
    with what MLflow's own sessions set on SQLite (``mlflow.store.db.utils``)."""
    with store.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA foreign_keys = ON")
            conn.exec_driver_sql("PRAGMA busy_timeout = 20000")
        yield conn


# -- the ORM tables (mlflow.store.tracking.dbmodels.models) ----------------------------------
def metrics_table() -> Any:
    from mlflow.store.tracking.dbmodels.models import SqlMetric

    return SqlMetric.__table__  # SqlMetric: "metrics"


def latest_metrics_table() -> Any:
    from mlflow.store.tracking.dbmodels.models import SqlLatestMetric

    return SqlLatestMetric.__table__  # SqlLatestMetric: "latest_metrics"


def params_table() -> Any:
    from mlflow.store.tracking.dbmodels.models import SqlParam

    return SqlParam.__table__  # SqlParam: "params"


def tags_table() -> Any:
    from mlflow.store.tracking.dbmodels.models import SqlTag

    return SqlTag.__table__  # SqlTag: "tags"


def runs_table() -> Any:
    from mlflow.store.tracking.dbmodels.models import SqlRun

    return SqlRun.__table__  # SqlRun: "runs"


# -- MLflow's validators (mlflow.utils.validation) -------------------------------------------
def validate_metric(key: str, value: float, timestamp: int, step: int) -> None:
    """Raise MLflow's error for a metric ``log_batch`` refuses (``_validate_metric``)."""
    from mlflow.utils.validation import _validate_metric

    _validate_metric(key, value, timestamp, step)


def validate_param(key: str, value: str) -> Any:
    """The ``Param`` that ``log_batch`` writes, or MLflow's error (``_validate_param``)."""
    from mlflow.utils.validation import _validate_param

    return _validate_param(key, value)


def validate_tag(key: str, value: str) -> Any:
    """The ``RunTag`` that ``log_batch`` writes, or MLflow's error (``_validate_tag``)."""
    from mlflow.utils.validation import _validate_tag

    return _validate_tag(key, value)


def run_name_tag() -> str:
    """The tag MLflow also writes to the run's name (``mlflow_tags.MLFLOW_RUN_NAME``)."""
    from mlflow.utils.mlflow_tags import MLFLOW_RUN_NAME

    return MLFLOW_RUN_NAME


# -- where a SQLite store keeps its artifact locations (a moved or copied workspace) -----------
#: Table -> the columns in which MLflow stores an artifact location as an absolute URI or
#: path (checked on MLflow 3.17.2: ``SqlExperiment.artifact_location``, ``SqlRun.artifact_uri``,
#: ``SqlLoggedModel.artifact_location``; the registry's ``SqlModelVersion.source`` and
#: ``storage_location``). MLflow has no API to change them.
ARTIFACT_COLUMNS: dict[str, tuple[str, ...]] = {
    "experiments": ("artifact_location",),
    "runs": ("artifact_uri",),
    "logged_models": ("artifact_location",),
    "model_versions": ("source", "storage_location"),
}


def move_artifact_locations(db: Any, moves: list[tuple[str, str]]) -> int:
    """In the SQLite store ``db`` (a path), every stored artifact location that starts with
    an old prefix of ``moves`` (``[(old, new), ...]``, each a folder as a path or a
    ``file://`` URI) starts with the new one instead; one transaction; the rows changed."""
    import sqlite3

    changed = 0
    con = sqlite3.connect(str(db), timeout=20)
    try:
        with con:  # one transaction: all rewritten or none
            tables = {
                r[0] for r in con.execute("select name from sqlite_master where type='table'")
            }
            for table, columns in ARTIFACT_COLUMNS.items():
                if table not in tables:
                    continue
                for column in columns:
                    for old, new in moves:  # the folder itself, or anything inside it
                        cur = con.execute(
                            f"update {table} set {column} = ? || substr({column}, ?) "
                            f"where {column} = ? or substr({column}, 1, ?) = ?",
                            (new, len(old) + 1, old, len(old) + 1, old + "/"),
                        )
                        changed += cur.rowcount
    finally:
        con.close()
    return changed
