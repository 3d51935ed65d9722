"""The outbox: MLflow writes that did not get through, kept in order and sent again.

Every write a sweep makes to a run (create, params / tags / metrics, status) goes through
an :class:`Outbox`. Writes of one run are sent in order; when the tracking store does not
answer, the run's queue waits (exponential backoff) and the next flush tries again, so a
trial keeps training through a server outage. What is still unsent when the sweep ends is
saved as ``workspace/outbox/<sweep>/<key>.jsonl`` and ``sweeplab sync`` sends it later.

Retries never duplicate: a request that failed may still have reached the server (the
connection dropped after the commit), so a retried ``create_run`` first looks the run up
by its ``sweeplab.run_key`` tag, and a retried metric batch first reads the server's
history and sends only the points (key, step, timestamp, value) it does not hold yet.
Params, tags and statuses are idempotent in MLflow.

With ``background=True`` (the in-process Optuna backend) a sender thread does the sending:
``submit`` appends the write to the run's file in the outbox folder first (so a kill -9 loses
nothing: the next ``--resume`` or ``sweeplab sync`` sends it) and returns at once, and the
trial's end (final metrics, status) reaches MLflow while the next trial trains instead of on
its critical path. ``close`` stops the thread and sends the rest, as in the synchronous mode.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sweeplab._atomic import write_atomic
from sweeplab.files import STATE, read_bounded
from sweeplab.tracking._bulk import write_batch

__all__ = ["Outbox", "RUN_KEY_TAG", "new_run_key", "quiet_http_retries", "sync_directory"]

_log = logging.getLogger(__name__)

RUN_KEY_TAG = "sweeplab.run_key"

# MLflow codes that say the request itself is wrong: sending it again cannot help.
_PERMANENT = {
    "INVALID_PARAMETER_VALUE",
    "RESOURCE_DOES_NOT_EXIST",
    "RESOURCE_ALREADY_EXISTS",
    "BAD_REQUEST",
    "INVALID_STATE",
    "PERMISSION_DENIED",
    "UNAUTHENTICATED",
}


def new_run_key() -> str:
    return uuid.uuid4().hex


def quiet_http_retries() -> None:
    """MLflow's HTTP client retries 7 times with backoff (minutes) and waits 120 s per request
    by default; the outbox retries on its own schedule, so one attempt, 10 s at most.
    Users can still override both variables."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")


def is_permanent(exc: BaseException) -> bool:
    return getattr(exc, "error_code", None) in _PERMANENT


@dataclass
class _Queue:
    key: str
    run_id: str | None
    ops: list[dict[str, Any]] = field(default_factory=list)
    failures: int = 0
    next_try: float = 0.0
    on_disk: bool = False  # its file holds exactly ``ops`` (background mode appends to it)


class Outbox:
    """Ordered, retried writes per run. Thread-safe; one per sweep process.

    ``directory`` (optional) is where queues that could not be sent are kept on disk, so a
    killed or finished sweep leaves them for ``sweeplab sync``.
    """

    def __init__(
        self,
        client: Any,
        directory: Path | None = None,
        *,
        tracking_uri: str | None = None,
        base_delay_s: float = 0.5,
        max_delay_s: float = 10.0,
        background: bool = False,
    ) -> None:
        self.client = client
        self.directory = Path(directory) if directory is not None else None
        self.tracking_uri = tracking_uri
        self.base_delay_s, self.max_delay_s = base_delay_s, max_delay_s
        self._queues: dict[str, _Queue] = {}
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._background = background
        self._thread: threading.Thread | None = None
        self._stop = False
        self._busy = False  # the sender thread is sending a queue's head (outside the lock)
        if self.directory is not None and self.directory.is_dir():
            for path in sorted(self.directory.glob("*.jsonl")):
                q = _load_queue(path)
                if q is not None:
                    self._queues[q.key] = q

    # -- keys and run ids -------------------------------------------------------------------
    def bind(self, run_id: str) -> str:
        """A run that already exists: its key is its id."""
        with self._lock:
            self._queues.setdefault(run_id, _Queue(run_id, run_id))
        return run_id

    def run_id(self, key: str) -> str | None:
        q = self._queues.get(key)
        return q.run_id if q else None

    def create_run(
        self, experiment_id: str, *, run_name: str, tags: dict[str, str], key: str | None = None
    ) -> str:
        """Queue the creation of a run and try it now; returns the run's key."""
        key = key or new_run_key()
        op = {
            "op": "create_run",
            "experiment_id": experiment_id,
            "run_name": run_name,
            "tags": {**tags, RUN_KEY_TAG: key},
            "start_time": int(time.time() * 1000),
        }
        with self._lock:
            self._queues.setdefault(key, _Queue(key, None))
        self.submit(key, op)
        return key

    # -- sending ----------------------------------------------------------------------------
    def submit(self, key: str, op: dict[str, Any]) -> None:
        with self._lock:
            q = self._queues.setdefault(key, _Queue(key, key))
            q.ops.append(op)
            if self._background:
                self._persist_op(q, op)  # on disk before the caller goes on: kill -9 loses nothing
                self._start_sender()
                self._cond.notify_all()
                return
            if time.monotonic() >= q.next_try:
                self._drain(q)
            else:
                self._persist(q)

    def pump(self) -> bool:
        """Try every queue whose backoff has passed; True when nothing is left to send.
        In background mode: wake the sender thread (it sends) and return at once."""
        with self._lock:
            if self._sender_alive():
                self._cond.notify_all()
                return self.pending() == 0
            now = time.monotonic()
            for q in list(self._queues.values()):
                if q.ops and now >= q.next_try:
                    self._drain(q)
            return self.pending() == 0

    def pending(self) -> int:
        return sum(len(q.ops) for q in self._queues.values())

    def drain(self, timeout_s: float) -> bool:
        """Background mode: wait until every write that can be sent now has been sent (queues
        waiting for a retry are left waiting), at most ``timeout_s``. True when none is left."""
        if not self._sender_alive():
            return self.pump()
        deadline = time.monotonic() + max(0.0, timeout_s)
        with self._cond:
            self._cond.notify_all()
            while self._busy or self._ready(time.monotonic()) is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            return self.pending() == 0

    def wait_created(self, key: str, timeout_s: float) -> str | None:
        """The run id of ``key`` once its ``create_run`` went through (background mode: wait
        for it, at most ``timeout_s``, or until the store fails to answer); else None."""
        deadline = time.monotonic() + max(0.0, timeout_s)
        with self._cond:
            while True:
                q = self._queues.get(key)
                if q is None or q.run_id is not None or not self._sender_alive():
                    return q.run_id if q else None
                if q.failures or not q.ops:  # the store is away: the outbox creates it later
                    return None
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)

    def close(self, wait_s: float) -> list[Path]:
        """Retry for up to ``wait_s`` seconds; return the files what is still unsent was saved to."""
        deadline = time.monotonic() + max(0.0, wait_s)
        self._stop_sender()  # from here on, this thread sends (synchronous mode)
        while not self.pump():
            with self._lock:
                nxt = min((q.next_try for q in self._queues.values() if q.ops), default=0.0)
            if nxt > deadline:
                break
            time.sleep(max(0.0, nxt - time.monotonic()) + 0.01)
        with self._lock:
            left = [q for q in self._queues.values() if q.ops]
            for q in left:
                self._persist(q)
            return [self._path(q.key) for q in left if self.directory is not None]

    def _drain(self, q: _Queue) -> None:
        while q.ops:
            op = q.ops[0]
            if not self._settle(q, op, self._attempt(q, op)):
                break
        self._persist(q)

    def _attempt(self, q: _Queue, op: dict[str, Any]) -> Exception | None:
        try:
            self._send(q, op)
        except Exception as exc:  # noqa: BLE001 - the store's errors are many; sort them
            return exc
        return None

    def _settle(self, q: _Queue, op: dict[str, Any], exc: Exception | None) -> bool:
        """Book the outcome of sending ``q``'s head ``op``; True to go on with the next write."""
        if exc is None:
            q.ops.pop(0)
            q.failures, q.next_try = 0, 0.0
            return True
        if is_permanent(exc):
            _log.warning(
                "sweeplab: MLflow rejected %s for run %s: %s", op["op"], q.run_id or q.key, exc
            )
            if op["op"] == "create_run":
                q.ops.clear()  # nothing can be written to a run that cannot exist
            else:
                q.ops.pop(0)
            return True
        op["tries"] = op.get("tries", 0) + 1
        q.failures += 1
        q.next_try = time.monotonic() + min(
            self.max_delay_s, self.base_delay_s * 2 ** (q.failures - 1)
        )
        return False

    # -- the sender thread (background mode) ---------------------------------------------------
    def _sender_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _start_sender(self) -> None:
        if not self._sender_alive():
            self._stop = False
            self._thread = threading.Thread(
                target=self._sender, name="sweeplab-outbox", daemon=True
            )
            self._thread.start()

    def _stop_sender(self) -> None:
        with self._cond:
            self._background = False
            self._stop = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()  # it finishes the write in flight (bounded by the store's timeout)
        self._thread = None

    def _ready(self, now: float) -> _Queue | None:
        for q in self._queues.values():
            if q.ops and now >= q.next_try:
                return q
        return None

    def _sender(self) -> None:
        """Send the queues' writes in order, one at a time, outside the lock (so ``submit``
        never waits for the store); a queue that fails waits for its backoff."""
        while True:
            with self._cond:
                while True:
                    if self._stop:
                        self._cond.notify_all()
                        return
                    now = time.monotonic()
                    q = self._ready(now)
                    if q is not None:
                        break
                    nxt = min((x.next_try for x in self._queues.values() if x.ops), default=None)
                    self._cond.wait(None if nxt is None else max(0.01, nxt - now))
                op = q.ops[0]
                self._busy = True
            exc = self._attempt(q, op)
            with self._cond:
                self._busy = False
                self._settle(q, op, exc)
                self._persist(q)
                self._cond.notify_all()

    def _send(self, q: _Queue, op: dict[str, Any]) -> None:
        from mlflow.entities import Metric, Param, RunTag

        kind = op["op"]
        if kind == "create_run":
            run_id = self._find_run(op) if op.get("tries") else None
            if run_id is None:
                run = self.client.create_run(
                    op["experiment_id"],
                    start_time=op["start_time"],
                    tags=op["tags"],
                    run_name=op["run_name"],
                )
                run_id = run.info.run_id
            q.run_id = run_id
            return
        if q.run_id is None:  # pragma: no cover - create_run is always first in its queue
            raise RuntimeError(f"run {q.key} was never created")
        if kind == "log_batch":
            metrics = op.get("metrics") or []
            if metrics and op.get("tries"):
                metrics = self._unsent_metrics(q.run_id, metrics)
                op["metrics"] = metrics
            if not (metrics or op.get("params") or op.get("tags")):
                return
            if write_batch(
                self.client, q.run_id, metrics=metrics, params=op.get("params"), tags=op.get("tags")
            ):
                return
            self.client.log_batch(
                q.run_id,
                metrics=[Metric(k, float(v), int(ts), int(step)) for k, v, ts, step in metrics],
                params=[Param(k, v) for k, v in (op.get("params") or {}).items()],
                tags=[RunTag(k, v) for k, v in (op.get("tags") or {}).items()],
            )
        elif kind == "set_terminated":
            self.client.set_terminated(q.run_id, op["status"], end_time=op.get("end_time"))
        elif kind == "update_run":
            self.client.update_run(q.run_id, status=op["status"])
        else:  # pragma: no cover - written by this module only
            raise ValueError(f"unknown outbox operation {kind!r}")

    def _find_run(self, op: dict[str, Any]) -> str | None:
        key = op["tags"][RUN_KEY_TAG]
        found = self.client.search_runs(
            [op["experiment_id"]], filter_string=f"tags.`{RUN_KEY_TAG}` = '{key}'", max_results=1
        )
        return found[0].info.run_id if found else None

    def _unsent_metrics(self, run_id: str, metrics: list[list[Any]]) -> list[list[Any]]:
        """The points of ``metrics`` the server does not hold yet (a retry must not duplicate)."""
        held: set[tuple[str, int, int, float]] = set()
        for name in {m[0] for m in metrics}:
            for h in self.client.get_metric_history(run_id, name):
                held.add((name, int(h.step), int(h.timestamp), float(h.value)))
        return [m for m in metrics if (m[0], int(m[3]), int(m[2]), float(m[1])) not in held]

    # -- on disk ----------------------------------------------------------------------------
    def _path(self, key: str) -> Path:
        assert self.directory is not None
        return self.directory / f"{key}.jsonl"

    def _persist(self, q: _Queue) -> None:
        """Keep a queue with unsent writes on disk (so kill -9 loses nothing); drop it when empty."""
        if self.directory is None:
            return
        path = self._path(q.key)
        if not q.ops:
            if q.on_disk or path.exists():
                path.unlink(missing_ok=True)
            q.on_disk = False
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        header = {"key": q.key, "run_id": q.run_id, "tracking_uri": self.tracking_uri}
        write_atomic(path, "\n".join(json.dumps(x) for x in [header, *q.ops]) + "\n", sync=False)
        q.on_disk = True

    def _persist_op(self, q: _Queue, op: dict[str, Any]) -> None:
        """``op`` was just appended to ``q``: append it to the queue's file (one line)."""
        if self.directory is None:
            return
        if not q.on_disk or len(q.ops) == 1:
            self._persist(q)
            return
        with open(self._path(q.key), "a") as f:
            f.write(json.dumps(op) + "\n")


def _load_queue(path: Path) -> _Queue | None:
    try:
        text = read_bounded(path, STATE).decode()  # over the limit: refused, kept on disk
        raw = [line for line in text.splitlines() if line.strip()]
        lines = []
        for i, line in enumerate(raw):
            try:
                lines.append(json.loads(line))
            except ValueError:
                if i < len(raw) - 1:
                    raise
                # a torn last line: the process was killed while appending that write, which
                # therefore never counted as made; the lines before it are whole
    except (OSError, ValueError):
        _log.warning("sweeplab: skipping unreadable outbox file %s", path)
        return None
    if not lines:
        return None
    header, ops = lines[0], lines[1:]
    for op in ops:
        op["tries"] = max(1, op.get("tries", 0))  # it may have reached the server: check first
    return _Queue(header["key"], header.get("run_id"), ops, on_disk=True)


def _first_line(path: Path) -> str:
    """The header line of a saved queue (it is short: a key, a run id, a tracking URI)."""
    with open(path, "rb") as f:
        return f.readline(65536).decode("utf-8", errors="replace")


def sync_directory(
    directory: Path, client_for_uri: Callable[[str], Any], *, tracking_uri: str | None = None
) -> tuple[int, int]:
    """Send the saved queues in ``directory``; returns (runs sent, runs still unsent).

    Idempotent: a second call finds nothing, or re-checks what the server already holds."""
    by_uri: dict[str, list[Path]] = {}
    # the driver's queues, then its workers' (worker-<host>-<pid>/, see tuning/_sweep.py)
    for path in sorted(Path(directory).glob("*.jsonl")) + sorted(
        Path(directory).glob("worker-*/*.jsonl")
    ):
        try:
            uri = tracking_uri or json.loads(_first_line(path)).get("tracking_uri")
        except (OSError, ValueError, IndexError):
            continue
        if uri:
            by_uri.setdefault(uri, []).append(path)
    sent = left = 0
    for uri, paths in by_uri.items():
        box = Outbox(client_for_uri(uri), None, tracking_uri=uri)
        for path in paths:
            box.directory = path.parent
            q = _load_queue(path)
            if q is None:
                continue
            box._queues[q.key] = q
            with box._lock:
                box._drain(q)
            if q.ops:
                left += 1
            else:
                sent += 1
    return sent, left
