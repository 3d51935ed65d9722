"""Every file sweeplab reads has a size limit, checked before it is read.

A file over its limit is refused with one :class:`~sweeplab.errors.UserError` that names the
file, its size, the limit and the environment variable that raises it::

    big.yaml: the file is 37.2 MB, over the 1 MB limit for project and search-space files; set SWEEPLAB_MAX_YAML_MB to raise it

The size is checked with ``os.stat`` first; a file that is not a regular file (``/dev/zero``
reports a size of 0, a pipe none) is read at most one byte past the limit. Files that a
library reads itself (pandas, PyTorch, Pillow) are checked with :func:`check_size`, which
accepts regular files only.

========== ============================================== ======= ==============================
kind       files                                          default variable
========== ============================================== ======= ==============================
YAML       project and search-space files                 1 MB    ``SWEEPLAB_MAX_YAML_MB``
REVIEW     review CSV files (``report --review``)         50 MB   ``SWEEPLAB_MAX_REVIEW_MB``
DATA       data tables (CSV, Parquet)                     2048 MB ``SWEEPLAB_MAX_DATA_MB``
IMAGE      image files                                    50 MB   ``SWEEPLAB_MAX_IMAGE_MB``
STATE      sweep state (sweep.json, splits.json, ...)     64 MB   ``SWEEPLAB_MAX_STATE_MB``
CHECKPOINT model weights (``init_from``, reports)         4096 MB ``SWEEPLAB_MAX_CHECKPOINT_MB``
========== ============================================== ======= ==============================

Images also have a pixel limit, 50 million pixels (``SWEEPLAB_MAX_IMAGE_MPX``), checked on
the header before any pixel is decoded (a small PNG can unpack to gigabytes).
"""

from __future__ import annotations

import json
import os
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sweeplab.errors import UserError

__all__ = [
    "CHECKPOINT",
    "DATA",
    "IMAGE",
    "IMAGE_PIXELS",
    "REVIEW",
    "STATE",
    "YAML",
    "Limit",
    "check_pixels",
    "check_size",
    "last_line",
    "open_image",
    "read_bounded",
    "read_json",
    "read_text",
]

_MB = 1024 * 1024
_CHUNK = _MB


@dataclass(frozen=True)
class Limit:
    """The size limit of one kind of file: ``default`` units (MB, or millions of pixels),
    raised by the environment variable :attr:`env`."""

    kind: str
    what: str
    default: int
    unit: str = "MB"

    @property
    def env(self) -> str:
        return f"SWEEPLAB_MAX_{self.kind}_{'MPX' if self.unit == 'Mpx' else 'MB'}"

    def units(self) -> float:
        """The limit in :attr:`unit` (the environment variable, else the default)."""
        raw = os.environ.get(self.env, "").strip()
        if not raw:
            return float(self.default)
        try:
            value = float(raw)
        except ValueError:
            value = -1.0
        if not value > 0 or value == float("inf"):
            raise UserError(
                f"must be a positive number of {self.unit}, but found {raw[:40]!r}", key=self.env
            )
        return value

    def bytes(self) -> int:
        return int(self.units() * _MB)

    def shown(self) -> str:
        return f"{_number(self.units())} {self.unit}"

    def refuse(self, path: str | os.PathLike[str], found: str) -> UserError:
        return UserError(
            f"{found}, over the {self.shown()} limit for {self.what}; set {self.env} to raise it",
            file=str(path),
        )


YAML = Limit("YAML", "project and search-space files", 1)
REVIEW = Limit("REVIEW", "review CSV files", 50)
DATA = Limit("DATA", "data tables (CSV, Parquet)", 2048)
IMAGE = Limit("IMAGE", "image files", 50)
IMAGE_PIXELS = Limit("IMAGE", "images", 50, unit="Mpx")
STATE = Limit("STATE", "sweep state files", 64)
CHECKPOINT = Limit("CHECKPOINT", "checkpoints", 4096)


def _number(x: float) -> str:
    return f"{x:g}" if x < 1e6 else f"{x:,.0f}"


def _size(n: int) -> str:
    return f"{n / _MB:.1f} MB" if n >= _MB / 10 else f"{n:,} bytes"


def _stat(path: Path) -> os.stat_result:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise UserError("file not found", file=str(path)) from None
    except OSError as exc:
        raise UserError(f"cannot read the file ({exc.strerror or exc})", file=str(path)) from None
    if stat.S_ISDIR(st.st_mode):
        raise UserError("this is a folder; expected a file", file=str(path))
    return st


def check_size(path: str | os.PathLike[str], limit: Limit) -> int:
    """The size of ``path``, a regular file within ``limit`` (for files that a library reads
    itself); else one :class:`UserError`."""
    path = Path(path)
    st = _stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise UserError(
            "not a regular file (a device, pipe or socket); expected a file", file=str(path)
        )
    if st.st_size > limit.bytes():
        raise limit.refuse(path, f"the file is {_size(st.st_size)}")
    return st.st_size


def read_bounded(path: str | os.PathLike[str], limit: Limit) -> bytes:
    """The bytes of ``path``, refused before reading when over ``limit`` (a device or pipe is
    read at most one byte past it)."""
    path = Path(path)
    st = _stat(path)
    most = limit.bytes()
    if stat.S_ISREG(st.st_mode) and st.st_size > most:
        raise limit.refuse(path, f"the file is {_size(st.st_size)}")
    chunks: list[bytes] = []
    got = 0
    try:
        # O_NONBLOCK: a pipe that no one writes to is an empty file, not a hang
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        os.set_blocking(fd, True)
        with open(fd, "rb") as f:
            while got <= most:
                chunk = f.read(min(_CHUNK, most + 1 - got))
                if not chunk:
                    break
                chunks.append(chunk)
                got += len(chunk)
    except OSError as exc:
        raise UserError(f"cannot read the file ({exc.strerror or exc})", file=str(path)) from None
    if got > most:  # it grew, or it has no size (a device, a pipe)
        raise limit.refuse(path, f"the file holds more than {_size(most)}")
    return b"".join(chunks)


def read_text(path: str | os.PathLike[str], limit: Limit, *, errors: str = "strict") -> str:
    """:func:`read_bounded` decoded as UTF-8; undecodable bytes are one :class:`UserError`
    (with ``errors="strict"``)."""
    data = read_bounded(path, limit)
    try:
        return data.decode("utf-8", errors=errors)
    except UnicodeDecodeError as exc:
        raise UserError(
            f"not a UTF-8 text file (byte {exc.start} is {data[exc.start : exc.start + 1]!r})",
            file=str(path),
        ) from None


def read_json(path: str | os.PathLike[str], limit: Limit = STATE) -> Any:
    """A JSON file within ``limit`` (default: sweep state); ``ValueError`` when it is not JSON."""
    return json.loads(read_bounded(path, limit))


def last_line(path: str | os.PathLike[str], *, tail: int = 65536) -> str:
    """The last non-blank line among the last ``tail`` bytes of a log ("" when unreadable):
    a log of any length costs ``tail`` bytes."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - tail))
            lines = [x for x in f.read(tail).decode(errors="replace").splitlines() if x.strip()]
    except OSError:
        return ""
    return lines[-1] if lines else ""


def check_pixels(path: str | os.PathLike[str], width: int, height: int) -> None:
    """Refuse an image whose header says it has more pixels than :data:`IMAGE_PIXELS` allows,
    before its pixels are decoded."""
    pixels = int(width) * int(height)
    if pixels > IMAGE_PIXELS.units() * 1e6:
        raise IMAGE_PIXELS.refuse(
            path, f"the image is {width}x{height} ({pixels / 1e6:.1f} million pixels)"
        )


def open_image(path: str | os.PathLike[str]) -> Any:
    """Pillow's lazy ``Image.open`` of a file within :data:`IMAGE` and :data:`IMAGE_PIXELS`:
    the file's size is checked first, the pixel count on the header, before any pixel is
    decoded. Use it as ``with open_image(path) as im:``; an unreadable image is a
    :class:`UserError`."""
    from PIL import Image, UnidentifiedImageError

    check_size(path, IMAGE)
    most = int(IMAGE_PIXELS.units() * 1e6)
    # Pillow's own bomb check (a warning, then an error at twice its limit) stays below ours
    Image.MAX_IMAGE_PIXELS = max(Image.MAX_IMAGE_PIXELS or 0, most)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
    except Image.DecompressionBombError:
        raise IMAGE_PIXELS.refuse(
            path, f"the image has more than {2 * Image.MAX_IMAGE_PIXELS / 1e6:.0f} million pixels"
        ) from None
    except UnidentifiedImageError:
        raise UserError("cannot read image: not a format Pillow reads", file=str(path)) from None
    except OSError as exc:
        raise UserError(f"cannot read image: {exc.strerror or exc}", file=str(path)) from None
    try:
        check_pixels(path, *im.size)
    except UserError:
        im.close()
        raise
    return im
