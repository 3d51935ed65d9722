"""Where a sweep's Optuna study lives, and the locks that several processes on it take.

- By default the study is an append-only journal file in the sweep's folder
  (``sweeps/<name>/optuna.journal``): a killed sweep loses nothing finished; only processes
  on this machine reach it.
- ``--study-storage postgresql://…`` (or ``search.study_storage`` in the project) keeps it in
  Optuna's RDB storage on a shared database, so that a sweep can be resumed, or joined by
  workers, from another machine. The sweep's record (what ``sweep.json`` holds) is kept on the
  study too (user attribute ``sweeplab.sweep``), so a machine that never saw the sweep can
  take it up (:func:`adopt_shared_sweep`).

Two kinds of lock, both freed when their holder dies (a kill -9 included):

- the *claim* lock, held for the moment a process picks the sweep's next configuration
  and creates its trial, so that two workers never pick the same one
  (:func:`claim_lock`): a file lock beside the journal, or a PostgreSQL advisory lock;
- the *driver* lock across machines (:func:`hold_driver_lock`): a session advisory lock on
  PostgreSQL, held while a process drives the sweep (its parent run, its end).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sweeplab._atomic import write_atomic
from sweeplab.errors import UserError
from sweeplab.files import read_json

__all__ = [
    "JOURNAL",
    "SWEEP_ATTR",
    "adopt_shared_sweep",
    "check_study_storage",
    "claim_lock",
    "hold_driver_lock",
    "load_sweep_study",
    "mark_driver",
    "open_storage",
    "redact",
    "share_sweep_info",
]

JOURNAL = "optuna.journal"
SWEEP_ATTR = "sweeplab.sweep"  # the sweep's record (sweep.json) on a shared study
DRIVER_ATTR = "sweeplab.driver"  # who drives the sweep now: host, pid, since
_SCHEMES = ("postgresql", "sqlite")


def redact(uri: str | None) -> str | None:
    """``uri`` without its password (what is printed and written to ``sweep.json``)."""
    if not uri or "://" not in uri:
        return uri
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ""
    return urlunsplit(parts._replace(netloc=user + host))


def _scheme(uri: str) -> str:
    return uri.split("://", 1)[0].split("+", 1)[0] if "://" in uri else ""


def check_study_storage(uri: str) -> str:
    """The URI, if it names a database Optuna's RDB storage can share (PostgreSQL, or a
    SQLite file on one machine); one clear line otherwise."""
    if _scheme(uri) not in _SCHEMES:
        raise UserError(
            f"--study-storage {redact(uri)!r}: expected a database URI, "
            "postgresql://USER@HOST:PORT/DATABASE (shared by machines) or sqlite:///PATH "
            "(one machine); the password is best kept in ~/.pgpass or PGPASSWORD"
        )
    return uri


def open_storage(sweep_dir: Path, uri: str | None) -> Any:
    """The Optuna storage of a sweep: its journal file, or the shared database ``uri``."""
    if uri is None:
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

        path = sweep_dir / JOURNAL
        return JournalStorage(
            JournalFileBackend(str(path), lock_obj=JournalFileOpenLock(str(path)))
        )
    return _rdb_storage(uri)


def _rdb_storage(uri: str) -> Any:
    from optuna.storages import RDBStorage

    # Optuna creates its tables on first use; two workers doing it at once on a new
    # database can collide ("duplicate key" in PostgreSQL's catalog): the second retries.
    last: Exception | None = None
    for _ in range(5):
        try:
            return RDBStorage(uri, engine_kwargs={"pool_pre_ping": True})
        except Exception as exc:  # noqa: BLE001 - an unreachable database is the user's to fix
            last = exc
            if "duplicate key" not in str(exc) and "already exists" not in str(exc):
                break
            time.sleep(0.5)
    first = str(last).strip().splitlines()[0][:300] if last else ""
    raise UserError(f"cannot open the study storage {redact(uri)}: {type(last).__name__}: {first}")


def load_sweep_study(workspace: Path, name: str, info: dict[str, Any] | None = None) -> Any:
    """The study of sweep ``name`` of ``workspace`` for reading (dashboards, reports), or None
    when it has none (a Ray Tune sweep, or a journal that is gone)."""
    import optuna

    sweep_dir = workspace / "sweeps" / name
    if info is None:
        try:
            info = read_json(sweep_dir / "sweep.json")
        except (UserError, ValueError):  # gone, unreadable: the study's journal alone
            info = {}
    uri = info.get("study_storage")
    if uri is None and not (sweep_dir / JOURNAL).is_file():
        return None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        return optuna.load_study(study_name=name, storage=open_storage(sweep_dir, uri))
    except KeyError:  # no study of that name in the storage
        return None


# -- a sweep's record on its shared study ------------------------------------------------------


def share_sweep_info(study: Any, info: dict[str, Any]) -> None:
    """Keep the sweep's record on the study (what another machine needs to take it up)."""
    study.set_user_attr(SWEEP_ATTR, info)


def adopt_shared_sweep(
    sweep_dir: Path, name: str, uri: str, *, project_path: Path
) -> dict[str, Any] | None:
    """The record of sweep ``name`` from the shared study in ``uri`` (None if there is none),
    written to ``sweep_dir`` as this machine's ``sweep.json`` and ``space.yaml``: a
    ``--resume`` (or a worker) on a machine that never saw the sweep takes it up from there.
    The project file is this machine's copy; its data is checked against the sweep's data
    fingerprint when the data is loaded."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.load_study(study_name=name, storage=_rdb_storage(uri))
    except KeyError:
        return None
    info = study.user_attrs.get(SWEEP_ATTR)
    if not info:
        return None
    tracking = info.get("tracking_uri") or ""
    if tracking.startswith(("sqlite:", "file:", "/")) or tracking == "workspace":
        raise UserError(
            f"sweep {name!r} records its runs in a store on the machine that started it "
            f"({tracking}); to share a sweep, start it with --tracking-uri of an MLflow "
            "server or a database every machine reaches"
        )
    sweep_dir.mkdir(parents=True, exist_ok=True)
    space = info.pop("space_yaml", None)
    if space is not None:
        write_atomic(sweep_dir / "space.yaml", space)
    info = {**info, "project": str(project_path.resolve()), "adopted": True}
    write_atomic(sweep_dir / "sweep.json", json.dumps(info, indent=2))
    return info


# -- locks --------------------------------------------------------------------------------------


def _key(*parts: str) -> int:
    """A signed 64-bit advisory-lock key from names (stable across processes and machines)."""
    a = zlib.crc32("\0".join(parts).encode())
    b = zlib.crc32("\1".join(reversed(parts)).encode())
    value = (a << 32) | b
    return value - (1 << 64) if value >= (1 << 63) else value


def _pg_connect(uri: str):
    import psycopg

    url = uri.replace("postgresql+psycopg://", "postgresql://", 1)
    return psycopg.connect(url, autocommit=True, connect_timeout=10)


@contextlib.contextmanager
def claim_lock(sweep_dir: Path, name: str, uri: str | None) -> Iterator[None]:
    """Held while one process picks the sweep's next configuration and creates its trial."""
    if uri is not None and _scheme(uri) == "postgresql":
        with _pg_connect(uri) as con:
            key = _key("sweeplab-claim", name)
            con.execute("SELECT pg_advisory_lock(%s)", (key,))
            try:
                yield
            finally:
                con.execute("SELECT pg_advisory_unlock(%s)", (key,))
        return
    sweep_dir.mkdir(parents=True, exist_ok=True)
    with open(sweep_dir / "claim.lock", "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@contextlib.contextmanager
def hold_driver_lock(name: str, uri: str | None, *, command: str = "") -> Iterator[None]:
    """While the block runs, this process is the one driver of sweep ``name`` on the shared
    database ``uri`` (a PostgreSQL session advisory lock: it ends with the connection, so with
    the process, however it ends). A second driver anywhere gets one line naming the first.
    Nothing to hold for a study that is not on PostgreSQL (the workspace's lock covers it)."""
    if uri is None or _scheme(uri) != "postgresql":
        yield
        return
    key = _key("sweeplab-driver", name)
    con = _pg_connect(uri)
    try:
        if not con.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]:
            holder = _driver_of(_rdb_storage(uri), name)
            raise UserError(
                f"sweep {name!r} is running now ({holder}); wait for it to end instead of "
                "driving it twice"
            )
        yield
    finally:
        con.close()  # releases the advisory lock


def mark_driver(study: Any, command: str = "") -> None:
    """Say on the shared study which process drives the sweep (named to a second driver)."""
    study.set_user_attr(
        DRIVER_ATTR,
        {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "since": time.strftime("%Y-%m-%d %H:%M:%S"),
            "command": command,
        },
    )


def _driver_of(storage: Any, name: str) -> str:
    import optuna

    try:
        study = optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        return "by another process"
    d = study.user_attrs.get(DRIVER_ATTR) or {}
    if not d:
        return "by another process"
    return f"pid {d.get('pid')} on {d.get('host')} since {d.get('since')}"
