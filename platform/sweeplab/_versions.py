"""Which versions of a library sweeplab's private-internals modules were checked on."""

from __future__ import annotations

import importlib.metadata

__all__ = ["unchecked_version"]


def _minor(v: str) -> str:
    return ".".join(v.split(".")[:2])


def unchecked_version(lib: str, checked: tuple[str, ...], uses: str) -> str | None:
    """None when the installed ``lib``'s major.minor is one of ``checked`` (internals change
    in minor releases, not in patches), else one line saying what ``uses`` reach into."""
    try:
        installed = importlib.metadata.version(lib)
    except importlib.metadata.PackageNotFoundError:
        return f"{lib} is not installed"
    if _minor(installed) in {_minor(v) for v in checked}:
        return None
    shown = ", ".join(f"{_minor(v)}.x" for v in checked)
    return (
        f"sweeplab was checked with {lib} {shown}; {lib} {installed} is installed: {uses}; "
        "run tests/test_library_internals.py before use"
    )
