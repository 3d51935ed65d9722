"""A workspace that was moved or copied: its SQLite store follows it.

MLflow stores artifact locations as absolute paths (the experiment's, each run's, each
logged model's). In a copied workspace they point into the original, so a resumed sweep in
the copy would write its artifacts there; in a moved one, at a folder that is gone (and that
MLflow would create again). The first command that opens the store of a workspace that is
not where ``workspace.json`` says it was rewrites them (one transaction, under the
workspace's relocate lock) and records the new place.
"""

from __future__ import annotations

from pathlib import Path

from sweeplab.tracking._mlflow_internals import move_artifact_locations
from sweeplab.workspace import Workspace

__all__ = ["follow_workspace", "workspace_of_store"]


def workspace_of_store(uri: str) -> Workspace | None:
    """The workspace whose own store ``uri`` is (``sqlite:///WS/mlflow.db`` beside a
    ``workspace.json``), or None."""
    if not uri.startswith("sqlite:///"):
        return None
    db = Path(uri.removeprefix("sqlite:///").split("?", 1)[0])
    if not db.is_absolute():
        db = Path("/" + str(db))
    if db.name != "mlflow.db" or not (db.parent / "workspace.json").is_file():
        return None
    return Workspace(db.parent)


def follow_workspace(ws: Workspace) -> int:
    """Point the store's artifact locations from where the workspace was to where it is;
    the rows changed (0 when it was not moved)."""
    old = ws.recorded_root()
    if old is None or old == ws.root:
        return 0
    # its own lock: a caller may hold the "tracking-store" lock while it opens the store
    with ws.lock("relocate"):
        old = ws.recorded_root()  # another process may have done it meanwhile
        if old is None or old == ws.root:
            return 0
        changed = 0
        db = ws.root / "mlflow.db"
        if db.is_file():
            changed = move_artifact_locations(
                db, [(old.as_uri(), ws.root.as_uri()), (str(old), str(ws.root))]
            )
        ws.record_root()
        return changed
