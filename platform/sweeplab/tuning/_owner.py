"""One driver per sweep on this machine: ``sweeps/<name>/driver.lock``.

The process that drives a sweep (``sweeplab sweep``, a new one or ``--resume``; either
backend) holds an exclusive ``fcntl.flock`` on the sweep's ``driver.lock`` for as long as it
runs. The OS releases the lock when the process ends, however it ends (a kill -9 included),
so a stopped sweep can be resumed at once and no stale lock is ever left to clean up. The
file holds who holds it (pid, host, start time, command), so that a second driver is refused
with one line naming the first.

Who does *not* take it: ``--jobs`` workers (``--join``) run trials of a sweep their driver
owns; they join through the owner (its claim lock, tuning/_study.py), never around it. The
driver lock across machines on a shared study database is ``_study.hold_driver_lock``; both
are taken by :func:`own_sweep`'s caller (tuning/_sweep.py).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import json
import os
import shlex
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

from sweeplab.errors import UserError

__all__ = ["LOCK_FILE", "own_sweep", "sweep_owner"]

LOCK_FILE = "driver.lock"
_MAX_LOCK_BYTES = 64 * 1024  # what the holder writes is a few hundred bytes


def _holder_text(path: Path) -> str:
    """Who holds ``path`` (as its holder wrote it), in words."""
    try:
        with open(path, "rb") as f:
            raw = f.read(_MAX_LOCK_BYTES)
        d = json.loads(raw.decode("utf-8", "replace") or "{}")
    except (OSError, ValueError):
        d = {}
    if not isinstance(d, dict) or not d.get("pid"):
        return "by another process"
    text = f"pid {d['pid']} on {d.get('host', '?')} since {d.get('since', '?')}"
    if d.get("command"):
        text += f": {str(d['command'])[:200]!r}"
    return text


def sweep_owner(sweep_dir: Path) -> str | None:
    """Who drives the sweep in ``sweep_dir`` now (None when no process does)."""
    path = sweep_dir / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _holder_text(path)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _take(path: Path) -> int:
    """An exclusive lock on ``path`` (its fd), or one line naming the holder."""
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:  # its folder was just removed by a holder that ended
            path.parent.mkdir(parents=True, exist_ok=True)
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise UserError(
                f"sweep {path.parent.name!r} is running now ({_holder_text(path)}); wait for "
                "it to end (or stop it) instead of running it twice"
            ) from None
        # A holder that just ended may have removed the file (an empty sweep folder it
        # created): then this lock is on a file nobody else can see; take the new one.
        try:
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)


@contextlib.contextmanager
def own_sweep(sweep_dir: Path, *, command: list[str] | None = None) -> Iterator[None]:
    """While the block runs this process is the one driver of the sweep in ``sweep_dir``;
    a second one exits 2 with one line naming this one (pid, host, start, command).

    A folder this call created and the sweep left empty (it stopped on bad input before
    recording anything) is removed on the way out."""
    created = not sweep_dir.exists()
    sweep_dir.mkdir(parents=True, exist_ok=True)
    path = sweep_dir / LOCK_FILE
    fd = _take(path)
    try:
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": _dt.datetime.now().isoformat(timespec="seconds"),
            "command": shlex.join(command if command is not None else sys.argv),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)
        yield
    finally:
        try:
            if created and [p.name for p in sweep_dir.iterdir()] == [LOCK_FILE]:
                path.unlink()  # still locked: a process taking it now retries on the new file
                sweep_dir.rmdir()
        except OSError:
            pass
        os.close(fd)  # releases the lock
