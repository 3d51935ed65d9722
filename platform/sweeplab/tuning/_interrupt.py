"""Stopping a sweep by a signal: SIGTERM (``kill``, a batch scheduler, ``docker stop``) ends it
as Ctrl-C (SIGINT) does, and a second signal ends the process at once.

``sweeplab sweep`` installs :class:`SignalStop` for both signals (:func:`stop_on_signals`).
The first signal raises :class:`SweepInterrupted` — a ``KeyboardInterrupt``, so everything
that ends cleanly on Ctrl-C ends the same way — in the main thread, where the Optuna backend
trains; the backend marks the running trial killed with the reason, the sweep "interrupted",
and raises it again with the sweep's name for the command to print how to resume. Ray Tune
stops a run gracefully on SIGINT (its own handler, installed by ``Tuner.fit``): the Ray backend
takes the signals back after ``ray.init`` (:func:`reclaim_signals`) and routes Tune's handler
through ours (:func:`route_library_handler`), so that either signal reaches it once and a
second one still exits at once. The second signal exits with
128 + the signal's number (130 for SIGINT, 143 for SIGTERM), leaving what the first had not
finished to ``--resume``, as after ``kill -9``.

Where the first signal is raised matters: a ``KeyboardInterrupt`` in the middle of a write to
the tracking store or the study (an MLflow call holding a SQLite transaction, a journal
record) can leave the store locked or a record half made, and the trial it interrupted is
then never recorded as killed. The Optuna backend therefore runs its bookkeeping
:func:`shielded` — the first signal is noted there and raised when the section ends — and
only the training itself :func:`interruptible` (a signal stops it at once).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "SweepInterrupted",
    "SignalStop",
    "stop_on_signals",
    "route_library_handler",
    "received_signal",
    "reclaim_signals",
    "announce_sweep",
    "killed_reason",
    "signal_of",
    "shielded",
    "interruptible",
]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class SweepInterrupted(KeyboardInterrupt):
    """A signal stopped the sweep. ``sweep`` and ``workspace`` are set once the backend has
    recorded the interruption (the sweep can be resumed by that name)."""

    def __init__(
        self,
        signum: int = signal.SIGINT,
        *,
        sweep: str | None = None,
        workspace: Path | None = None,
    ) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = int(signum)
        self.sweep = sweep
        self.workspace = workspace

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        """The shell's convention: 128 + the signal's number (130 SIGINT, 143 SIGTERM)."""
        return 128 + self.signum


def signal_of(exc: BaseException) -> int:
    """The signal behind a ``KeyboardInterrupt`` (a plain one is Ctrl-C)."""
    return int(getattr(exc, "signum", signal.SIGINT))


def killed_reason(signum: int) -> str:
    """The reason recorded on the run of a trial that a signal stopped."""
    name = signal.Signals(signum).name
    return f"the sweep was interrupted ({name}) while this trial ran; it runs again on --resume"


class SignalStop:
    """The handler of SIGINT and SIGTERM while a sweep runs (see the module docstring).

    ``second_line(signum, sweep, workspace)``: the line printed when a second signal ends the
    process at once (how to resume); ``sweep`` is None until the setup has chosen the sweep's
    name (:func:`announce_sweep`)."""

    def __init__(self, second_line: Callable[[int, str | None, Path | None], str]) -> None:
        self.second_line = second_line
        self.received: int | None = None
        self.delegate: Callable[..., Any] | None = None  # a library's own SIGINT handler
        self.sweep: tuple[str, Path] | None = None
        self.shield = 0  # depth of the shielded sections the main thread is in
        self.pending: int | None = None  # a first signal that came in one, not raised yet

    def __call__(self, signum: int, frame: Any) -> None:
        if self.received is not None:
            name, workspace = self.sweep or (None, None)
            line = self.second_line(signum, name, workspace)
            os.write(2, (line.rstrip("\n") + "\n").encode(errors="replace"))
            os._exit(128 + signum)
        self.received = signum
        if self.delegate is not None:
            # A library that stops gracefully on Ctrl-C (Ray Tune): it gets the signal as SIGINT.
            delegate, self.delegate = self.delegate, None
            delegate(signal.SIGINT, frame)
            return
        if self.shield:
            self.pending = signum  # raised when the section ends (shielded)
            return
        raise SweepInterrupted(signum)

    def raise_pending(self) -> None:
        if self.pending is not None:
            signum, self.pending = self.pending, None
            raise SweepInterrupted(signum)


_ACTIVE: list[SignalStop] = []


@contextlib.contextmanager
def stop_on_signals(
    second_line: Callable[[int, str | None, Path | None], str],
) -> Iterator[SignalStop | None]:
    """Install :class:`SignalStop` for SIGINT and SIGTERM while the block runs (the main
    thread only: elsewhere Python cannot install handlers, and nothing is changed)."""
    if threading.current_thread() is not threading.main_thread():
        yield None
        return
    stop = SignalStop(second_line)
    previous = {s: signal.getsignal(s) for s in _SIGNALS}
    for s in _SIGNALS:
        signal.signal(s, stop)
    _ACTIVE.append(stop)
    try:
        yield stop
    finally:
        _ACTIVE.remove(stop)
        for s, handler in previous.items():
            signal.signal(s, handler)


def _active() -> SignalStop | None:
    return _ACTIVE[-1] if _ACTIVE else None


def announce_sweep(name: str, workspace: Path) -> None:
    """The sweep's name is known: a second signal's line can name it."""
    stop = _active()
    if stop is not None:
        stop.sweep = (name, workspace)


def reclaim_signals() -> None:
    """Install :class:`SignalStop` again for both signals, after a library replaced it:
    ``ray.init`` installs a SIGTERM handler of its own (``sys.exit``), and Ray's core worker a
    C-level one that aborts the process."""
    stop = _active()
    if stop is None or threading.current_thread() is not threading.main_thread():
        return
    for s in _SIGNALS:
        signal.signal(s, stop)


def _main_stop() -> SignalStop | None:
    """The handler in force, when called from the main thread (where signals are handled)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return _active()


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """A section that a first signal does not cut (writes to the tracking store and the
    study): the signal is noted, and :class:`SweepInterrupted` is raised when the outermost
    section ends normally — or when the code inside enters :func:`interruptible`. A second
    signal still ends the process at once."""
    stop = _main_stop()
    if stop is None:
        yield
        return
    stop.shield += 1
    try:
        yield
    finally:
        stop.shield -= 1
    if stop.shield == 0:
        stop.raise_pending()


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """A section inside a shielded one that a signal stops at once (a trial's training); a
    signal noted before it starts is raised on entry."""
    stop = _main_stop()
    if stop is None:
        yield
        return
    depth, stop.shield = stop.shield, 0
    try:
        stop.raise_pending()
        yield
    finally:
        stop.shield = depth


def received_signal() -> int | None:
    """The signal that asked the sweep to stop, if one did (and :class:`SignalStop` is on)."""
    stop = _active()
    return stop.received if stop is not None else None


@contextlib.contextmanager
def route_library_handler() -> Iterator[Callable[[], None]]:
    """While the block runs, a SIGINT handler that a library installs (Ray Tune's, in
    ``Tuner.fit``) is reached through ours: call the yielded function from the main thread
    once the library has installed it (Tune: at its first step). Without :class:`SignalStop`
    nothing changes."""

    def route() -> None:
        stop = _active()
        if stop is None or threading.current_thread() is not threading.main_thread():
            return
        current = signal.getsignal(signal.SIGINT)
        if current is stop or not callable(current):
            return
        stop.delegate = None if stop.received is not None else current
        signal.signal(signal.SIGINT, stop)

    try:
        yield route
    finally:
        stop = _active()
        if stop is not None:
            stop.delegate = None
            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGINT, stop)
