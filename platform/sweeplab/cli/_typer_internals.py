"""The one typer behaviour sweeplab changes, in one place: no ``<bool>`` after a flag.

Typer's rich help (checked with typer 0.29.2) shows a type column for every option, and for
an on/off flag (``--csv``, ``--help``) that column reads ``<bool>`` although the flag takes
no value. :meth:`typer.core.TyperOption.display_type_rich` is the method that builds the
column; it is wrapped so that a flag without a metavar of its own shows nothing there.
tests/cli/test_help_pages.py fails when an upgrade brings ``<bool>`` back.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperOption

__all__ = ["hide_flag_types"]

CHECKED = ("0.29",)


def hide_flag_types() -> None:
    """Patch once: a flag (``is_flag``) shows no type in the help's option table."""
    original = TyperOption.display_type_rich
    if getattr(original, "_sweeplab", False):
        return

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
        if getattr(self, "is_flag", False) and self.metavar is None:
            return None
        return original(self, ctx)

    display_type_rich._sweeplab = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]
