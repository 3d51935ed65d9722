"""What a test of `sweeplab ui` reads from /proc: listening sockets, processes' command lines."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cmdlines", "listening", "processes_mentioning"]


def listening(port: int) -> list[str]:
    """Local addresses (hex, as in /proc/net/tcp*) with a socket listening on ``port``."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        with open(table) as f:
            for line in f.readlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                addr, hexport = local.rsplit(":", 1)
                if state == "0A" and int(hexport, 16) == port:
                    found.append(addr)
    return found


def cmdlines() -> dict[int, str]:
    """pid -> command line (NUL-separated) of every process but this one."""
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                out[int(entry)] = (
                    Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace")
                )
            except OSError:
                continue
    return out


def processes_mentioning(text: str) -> list[int]:
    return [pid for pid, cmdline in cmdlines().items() if text in cmdline]
