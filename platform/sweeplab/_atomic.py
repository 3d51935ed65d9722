"""Files written whole or not at all: a state file (``sweep.json``, ``state.json``,
``splits.json``, ...) is written to a temporary file beside it and renamed over it
(``os.replace``, atomic on POSIX), so a full disk or a kill leaves the old file or the new
one, never a torn or empty one. An ``OSError`` names the file (the CLI prints it in one line).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path

__all__ = ["write_atomic"]


def write_atomic(
    path: str | Path, data: str | bytes, *, encoding: str = "utf-8", sync: bool = True
) -> None:
    """Write ``data`` to ``path`` atomically (a temp file in the same folder, then a rename);
    ``sync``: on disk before the rename (a power cut keeps the old file or the new one)."""
    path = Path(path)
    raw = data.encode(encoding) if isinstance(data, str) else data
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            view = memoryview(raw)
            while view:
                view = view[os.write(fd, view) :]
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        # the file the user knows: the target, not the temp name
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from None
