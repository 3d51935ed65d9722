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
  workspace.json            where the workspace was when last opened (a moved or copied
                            workspace is noticed, and its stores follow it)
```

A workspace can be moved or copied: ``sweep.json`` records its own store as
``"tracking_uri": "workspace"`` (resolved when read), and the first command that opens the
store of a moved or copied workspace points what MLflow stored as absolute paths to the new
place (tracking/_relocate.py).
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

__all__ = ["Workspace", "DEFAULT_WORKSPACE", "WORKSPACE_STORE", "check_safe_name"]

DEFAULT_WORKSPACE = "sweeplab-workspace"
#: ``sweep.json``'s ``tracking_uri`` for the workspace's own SQLite store, wherever it is now
WORKSPACE_STORE = "workspace"
_MARKER = "workspace.json"
_MAX_MARKER_BYTES = 64 * 1024


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
        if self.recorded_root() is None:  # new, or from before workspace.json: it is here
            self.record_root()
        return self

    # -- where the workspace lives ---------------------------------------------------------------
    @property
    def tracking_uri(self) -> str:
        """The workspace's own MLflow store (SQLite), where the workspace is now."""
        return f"sqlite:///{self.root / 'mlflow.db'}"

    def recorded_root(self) -> Path | None:
        """Where the workspace was when a command last opened it (None: not recorded)."""
        try:
            with open(self.root / _MARKER, "rb") as f:
                root = json.loads(f.read(_MAX_MARKER_BYTES))["root"]
            return Path(root) if isinstance(root, str) and root.startswith("/") else None
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def record_root(self) -> None:
        write_atomic(self.root / _MARKER, json.dumps({"root": str(self.root)}) + "\n")

    def _own_store(self, uri: Any) -> bool:
        """Whether ``uri`` is this workspace's own store, here or where it was recorded."""
        if uri == WORKSPACE_STORE or uri == self.tracking_uri:
            return True
        old = self.recorded_root()
        return old is not None and uri == f"sqlite:///{old / 'mlflow.db'}"

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
        info = read_json(path)
        if self._own_store(info.get("tracking_uri")):
            info["tracking_uri"] = self.tracking_uri  # wherever the workspace is now
        return info

    def write_sweep(self, name: str, info: dict[str, Any]) -> None:
        d = self.sweep_dir(name)
        d.mkdir(parents=True, exist_ok=True)
        if self._own_store(info.get("tracking_uri")):
            info = {**info, "tracking_uri": WORKSPACE_STORE}  # follows a moved workspace
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
