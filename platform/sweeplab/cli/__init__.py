"""``sweeplab`` command line: one module per command (group), all on one typer app.

Errors: a :class:`~sweeplab.errors.UserError` prints one line and exits 2; any other
error prints one line and exits 1; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import sys

# Command modules register themselves on `app` when imported.
# (command modules are imported here)
from sweeplab.cli import compare as _compare  # noqa: E402,F401
from sweeplab.cli import dashboard as _dashboard  # noqa: E402,F401
from sweeplab.cli import diagnose as _diagnose  # noqa: E402,F401
from sweeplab.cli import gradcheck as _gradcheck  # noqa: E402,F401
from sweeplab.cli import models as _models  # noqa: E402,F401
from sweeplab.cli import next as _next  # noqa: E402,F401
from sweeplab.cli import refine as _refine  # noqa: E402,F401
from sweeplab.cli import report as _report  # noqa: E402,F401
from sweeplab.cli import review as _review  # noqa: E402,F401
from sweeplab.cli import runs as _runs  # noqa: E402,F401
from sweeplab.cli import sample as _sample  # noqa: E402,F401
from sweeplab.cli import splits as _splits  # noqa: E402,F401
from sweeplab.cli import sweep as _sweep  # noqa: E402,F401
from sweeplab.cli import sync as _sync  # noqa: E402,F401
from sweeplab.cli import tasks as _tasks  # noqa: E402,F401
from sweeplab.cli import ui as _ui  # noqa: E402,F401
from sweeplab.cli._app import app, reflow_help, state
from sweeplab.cli._typer_internals import hide_flag_types

reflow_help(app)
hide_flag_types()

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> int:
    from sweeplab.errors import SweeplabError

    args = sys.argv[1:] if argv is None else argv
    state.debug = "--debug" in args
    try:
        rc = app(args=args, standalone_mode=False)
    except SystemExit as exc:  # typer's own exits (--help, usage errors)
        return int(exc.code or 0)
    except KeyboardInterrupt as exc:
        print("sweeplab: interrupted", file=sys.stderr)
        return int(getattr(exc, "exit_code", 130))  # 143 for a SIGTERM (sweeplab sweep)
    except SweeplabError as exc:
        if state.debug:
            raise
        print(f"sweeplab: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # e.g. a full disk: which file, and what the system said
        if state.debug:
            raise
        what = exc.strerror or (str(exc).splitlines() or [type(exc).__name__])[0]
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"sweeplab: error: {where}{what} ({type(exc).__name__})", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - last line of defence: one line, not a traceback
        # typer bundles its own click: recognise its usage errors by their shape.
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):
            exc.show()
            return int(exc.exit_code or 2)
        if type(exc).__name__ == "Abort":
            print("sweeplab: aborted", file=sys.stderr)
            return 1
        if state.debug:
            raise
        print(
            f"sweeplab: error: {type(exc).__name__}: {exc} (run with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1
    return rc if isinstance(rc, int) else 0


def entrypoint() -> None:
    """The console script: exit with :func:`main`'s code."""
    raise SystemExit(main())
