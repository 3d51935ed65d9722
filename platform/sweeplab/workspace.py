"""The local workspace: stores and per-sweep files, all in one folder.

```
sweeplab-workspace/
  mlflow.db                 MLflow tracking store (SQLite) unless --tracking-uri is given
  mlartifacts/              MLflow artifacts
  sweeps/<sweep>/sweep.json what the sweep is (project, space, backend, parent run id)
  sweeps/<sweep>/optuna.journal   the Optuna study (append-only journal: survives kill -9)
  sweeps/<sweep>/splits.json      the split manifest every trial of the sweep reuses
  sweeps/<sweep>/space.yaml       the search space as it was when the sweep started
  outbox/<sweep>/*.jsonl    MLflow writes the tracking server did not take (`sweeplab sync`)
  state.json                the last sweep (the default of `sweeplab runs`, `report`, ...)
```
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sweeplab._atomic import write_atomic
from sweeplab.config.project import SAFE_NAME
from sweeplab.errors import UserError, close_matches
from sweeplab.files import read_json

__all__ = ["Workspace", "DEFAULT_WORKSPACE", "check_safe_name"]

DEFAULT_WORKSPACE = "sweeplab-workspace"


def check_safe_name(name: str, *, what: str = "sweep name") -> str:
    """Names that become folders must stay inside the workspace."""
    if (
        not isinstance(name, str)
        or "\x00" in name
        or not SAFE_NAME.match(name)
        or name in (".", "..")
    ):
        raise UserError(
            f"{what} {name!r} is not allowed: use letters, digits, '.', '_' and '-' "
            "(starting with a letter or digit, at most 100 characters)"
        )
    return name


@dataclass(frozen=True)
class Workspace:
    root: Path

    @classmethod
    def at(cls, path: str | Path | None) -> Workspace:
        given = path or os.environ.get("SWEEPLAB_WORKSPACE") or DEFAULT_WORKSPACE
        try:
            root = Path(given).expanduser().resolve()
        except (OSError, RuntimeError, ValueError) as exc:  # a symlink loop, a NUL byte
            raise UserError(f"workspace {str(given)!r} is not a usable path: {exc}") from None
        if root.exists() and not root.is_dir():
            raise UserError(
                f"workspace {root} is not a folder (it is a file or a device); give "
                "--workspace a folder (it is created if missing)"
            )
        return cls(root)

    def ensure(self) -> Workspace:
        """The workspace, its folder made if missing (one line if it cannot be)."""
        try:
            (self.root / "sweeps").mkdir(parents=True, exist_ok=True)
            probe = self.root / f".write-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            probe.touch()
            probe.unlink()
        except OSError as exc:
            raise UserError(
                f"cannot use {self.root} as the workspace: {exc.strerror or exc}; give "
                "--workspace a folder this user can write"
            ) from None
        return self

    def sweep_dir(self, name: str) -> Path:
        check_safe_name(name)
        path = (self.root / "sweeps" / name).resolve()
        if self.root.resolve() not in path.parents:
            raise UserError(f"sweep name {name!r} would leave the workspace")
        return path

    def outbox_dir(self, name: str) -> Path:
        """Where a sweep's MLflow writes that the store did not take wait for `sweeplab sync`."""
        check_safe_name(name)
        return self.root / "outbox" / name

    @contextlib.contextmanager
    def lock(self, what: str) -> Iterator[None]:
        """An exclusive lock between processes on this workspace (``fcntl.flock``; released
        by the OS if the holder dies). For the one-time setup that is not safe to run twice
        at once, e.g. two sweeps creating the SQLite tracking store's tables."""
        import fcntl

        self.ensure()
        with open(self.root / f".{check_safe_name(what, what='lock name')}.lock", "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def sweeps(self) -> list[str]:
        base = self.root / "sweeps"
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.iterdir() if (p / "sweep.json").is_file())

    def read_sweep(self, name: str) -> dict[str, Any]:
        path = self.sweep_dir(name) / "sweep.json"
        if not path.is_file():
            known = self.sweeps()
            raise UserError(
                f"no sweep named {name!r} in the workspace {self.root}"
                + (f"; sweeps: {', '.join(known[-10:])}" if known else "; it has no sweeps yet"),
                suggestions=close_matches(name, known),
            )
        return read_json(path)

    def write_sweep(self, name: str, info: dict[str, Any]) -> None:
        d = self.sweep_dir(name)
        d.mkdir(parents=True, exist_ok=True)
        write_atomic(d / "sweep.json", json.dumps(info, indent=2, sort_keys=True))
        self._write_state({"last_sweep": name})

    def last_sweep(self) -> str:
        path = self.root / "state.json"
        try:
            state = read_json(path) if path.is_file() else {}
            return state["last_sweep"]
        except (ValueError, KeyError, TypeError):
            raise UserError(
                f"no sweep has run in the workspace {self.root} yet; start one with `sweeplab sweep PROJECT.yaml`"
            ) from None

    def _write_state(self, state: dict[str, Any]) -> None:
        self.ensure()
        write_atomic(self.root / "state.json", json.dumps(state))
