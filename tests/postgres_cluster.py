"""A throwaway PostgreSQL cluster for tests: ``initdb`` in a temp folder, a free port on
127.0.0.1, started with ``pg_ctl`` and removed at the end (Debian's ``postgresql`` package;
``.ci/run`` installs it).

As root (CI containers), PostgreSQL refuses to run: the cluster is then created and run as
the ``postgres`` system user the Debian package adds, in a folder that user owns.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["PostgresCluster", "find_pg_bin"]


def find_pg_bin() -> Path | None:
    """The folder of ``initdb`` / ``pg_ctl``: on PATH, else Debian's versioned folder."""
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    return Path(found[-1]).parent if found else None


def _version(path: str) -> int:
    try:
        return int(Path(path).parts[-3])
    except ValueError:
        return 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresCluster:
    """One cluster; ``uri(db)`` gives a SQLAlchemy URL (psycopg 3 driver)."""

    user = "sweeplab"

    def __init__(self, bin_dir: Path, *, durable: bool = False) -> None:
        """``durable``: fsync on, as a real server runs (benchmarks); tests run without it."""
        self.bin_dir = bin_dir
        self.tuning = (
            "" if durable else ("-c fsync=off -c synchronous_commit=off -c full_page_writes=off ")
        )
        self.port = _free_port()
        self.as_postgres = os.geteuid() == 0
        self.root = Path(tempfile.mkdtemp(prefix="sweeplab-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        cmd = [str(self.bin_dir / args[0]), *args[1:]]
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)

    def start(self) -> None:
        if self.as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        done = self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            self.user,
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        )
        if done.returncode:
            raise RuntimeError(f"initdb failed: {done.stderr[-2000:]}")
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} {self.tuning}"
            f"-c max_connections=200 "
            f"-c unix_socket_directories={self.root}"
        )
        done = self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )
        if done.returncode:
            raise RuntimeError(f"pg_ctl start failed: {done.stderr[-2000:]} {self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            return self.log.read_text()[-2000:]
        except OSError:
            return ""

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def uri(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new empty database; returns its URI."""
        import psycopg

        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(self.uri(), autocommit=True) as con:
                    con.execute(f'CREATE DATABASE "{name}"')
                return self.uri(name)
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
