"""Child processes that end with the process that started them, however it ends.

- :func:`die_with_parent` (a ``preexec_fn``): on Linux the child gets a signal when its
  parent dies (``PR_SET_PDEATHSIG``), even by ``kill -9``;
- :class:`GuardedGroup`: a server started in a process group of its own (so a terminal's
  Ctrl-C or SIGHUP does not reach it half-way) plus a guard process that reads a pipe from
  the starter: when the starter is gone (the pipe's end of file, whatever killed it), the
  guard stops the whole group, the server's own children (uvicorn or gunicorn workers)
  included, which ``PR_SET_PDEATHSIG`` alone cannot reach.

``python -m sweeplab._processes PGID FD`` runs the guard (stdlib only, so it starts fast).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

__all__ = ["GuardedGroup", "die_with_parent", "group_members"]

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """In the child between fork and exec: receive ``sig`` when the parent dies (Linux)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, int(sig))


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of the process group ``pgid``, read from /proc."""
    proc = Path("/proc")
    if not proc.is_dir():  # not Linux: ask the kernel whether the group has anyone left
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return []
        return [pgid]
    members = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) >= 3 and int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def stop_group(pgid: int, *, steps: Sequence[tuple[int, float]] | None = None) -> bool:
    """SIGTERM to the group, then SIGKILL to what is left; whether the group is gone."""
    steps = steps or ((signal.SIGTERM, 8.0), (signal.SIGKILL, 5.0))
    for sig, wait_s in steps:
        if not group_members(pgid):
            return True
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if not group_members(pgid):
                return True
            time.sleep(0.05)
    return not group_members(pgid)


class GuardedGroup:
    """``cmd`` in a new session (its own process group), output to ``log``, ended with us."""

    def __init__(self, cmd: Sequence[str], *, env: Mapping[str, str], log: IO[bytes]) -> None:
        self.proc = subprocess.Popen(
            list(cmd),
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # pgid == the server's pid
            preexec_fn=die_with_parent,
        )
        self.pgid = self.proc.pid
        read_end, self._write_end = os.pipe()  # both not inheritable: only pass_fds passes
        package_root = str(Path(__file__).resolve().parents[1])
        try:
            self.guard = subprocess.Popen(
                [sys.executable, "-m", "sweeplab._processes", str(self.pgid), str(read_end)],
                env={**env, "PYTHONPATH": package_root},
                stdin=subprocess.DEVNULL,
                pass_fds=(read_end,),
                start_new_session=True,  # Ctrl-C and SIGHUP of our terminal do not reach it
            )
        except BaseException:
            stop_group(self.pgid)
            raise
        finally:
            os.close(read_end)

    def stop(self) -> bool:
        """Stop the group (SIGTERM, then SIGKILL), then the guard; whether the group is gone."""
        gone = stop_group(self.pgid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=1)
        with contextlib.suppress(OSError):
            os.close(self._write_end)  # the guard's end of file: it finds nothing left and exits
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.guard.wait(timeout=5)
        return gone


class _Stop(Exception):
    pass


def _guard(pgid: int, fd: int) -> None:
    """Wait for the end of file on ``fd`` (the starter is gone) or SIGTERM; stop ``pgid``."""
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)

    def on_term(signum, frame):
        raise _Stop

    signal.signal(signal.SIGTERM, on_term)
    try:
        while os.read(fd, 64):
            pass
    except (_Stop, OSError):
        pass
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    stop_group(pgid)


if __name__ == "__main__":
    _guard(int(sys.argv[1]), int(sys.argv[2]))
