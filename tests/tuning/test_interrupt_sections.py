"""Where a first signal stops a sweep: never in the middle of a write to the tracking store or
the study (a ``shielded`` section: the signal waits for the section's end), at once in the
training (``interruptible``). Real signals sent to this process."""

from __future__ import annotations

import os
import signal
import time

import pytest

from sweeplab.tuning._interrupt import (
    SweepInterrupted,
    interruptible,
    shielded,
    stop_on_signals,
)


def _line(signum, sweep, workspace) -> str:
    return "second signal"


def _signal(signum: int = signal.SIGTERM) -> None:
    os.kill(os.getpid(), signum)
    time.sleep(0.05)  # the handler runs in the main thread at the next bytecode


def test_a_signal_in_a_shielded_section_is_raised_when_it_ends():
    done = []
    with stop_on_signals(_line), pytest.raises(SweepInterrupted) as err, shielded():
        _signal()
        done.append("the write after the signal")
        with shielded():  # nested: only the outermost end raises
            done.append("a nested write")
        done.append("after the nested section")
    assert done == ["the write after the signal", "a nested write", "after the nested section"]
    assert err.value.signum == signal.SIGTERM and err.value.exit_code == 143


def test_training_stops_at_once_and_a_noted_signal_stops_it_before_it_starts():
    with stop_on_signals(_line):
        steps = []
        with pytest.raises(SweepInterrupted), shielded(), interruptible():
            for i in range(100):
                steps.append(i)
                if i == 3:
                    _signal(signal.SIGINT)
        assert steps == [0, 1, 2, 3]

    with stop_on_signals(_line):
        started = []
        with pytest.raises(SweepInterrupted) as err, shielded():
            _signal(signal.SIGINT)
            with interruptible():
                started.append(True)
        assert started == [] and err.value.signum == signal.SIGINT


def test_an_epoch_hook_inside_the_training_is_shielded_then_stops_it():
    """The per-epoch writes (metrics, the pruner's report) finish; the training stops after."""
    written = []
    with stop_on_signals(_line), pytest.raises(SweepInterrupted), shielded(), interruptible():
        for epoch in range(5):
            with shielded():
                _signal()
                written.append(epoch)
    assert written == [0]


def test_a_section_that_fails_raises_its_own_error():
    with stop_on_signals(_line), pytest.raises(ValueError), shielded():
        _signal()
        raise ValueError("the write failed")


def test_without_the_handler_sections_change_nothing():
    with shielded(), interruptible():
        pass
