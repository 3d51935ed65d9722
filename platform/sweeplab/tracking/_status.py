"""A trial's status: the values of the ``sweeplab.status`` tag of its MLflow run.

Defined here, below the tuning backends, because the tracking layer both writes the tag (a
run's end) and reads it back (``sweep_trials``); :mod:`sweeplab.tuning._lifecycle` re-exports
it. The values are the strings stored in MLflow, which users filter on
(``tags.sweeplab.status = 'finished'``): a member compares, hashes and prints as its string.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["TrialStatus"]


class TrialStatus(StrEnum):
    """How a trial ended (or that it is still running)."""

    FINISHED = "finished"
    PRUNED = "pruned"  # stopped early by the pruner / scheduler
    FAILED = "failed"  # raised, ran out of memory, diverged, or its worker crashed
    KILLED = "killed"  # the sweep process stopped while it ran; it runs again on --resume
    RUNNING = "running"

    @property
    def final(self) -> bool:
        """Whether the trial's record is whole and it never runs again (a killed trial re-runs)."""
        return self in (TrialStatus.FINISHED, TrialStatus.PRUNED, TrialStatus.FAILED)

    @property
    def run_status(self) -> str:
        """The MLflow run status this trial status ends (or keeps) the run in."""
        return _RUN_STATUS[self]

    @classmethod
    def of_run(cls, tag: str | None, run_status: str) -> TrialStatus:
        """The status of a trial's run: its ``sweeplab.status`` tag, else the run's MLflow
        status (a run the sweep never ended: RUNNING, or ended by hand)."""
        if tag in cls._value2member_map_:
            return cls(tag)
        return _FROM_RUN_STATUS.get(run_status, cls.RUNNING)


_RUN_STATUS = {
    TrialStatus.FINISHED: "FINISHED",
    TrialStatus.PRUNED: "FINISHED",
    TrialStatus.FAILED: "FAILED",
    TrialStatus.KILLED: "KILLED",
    TrialStatus.RUNNING: "RUNNING",
}
_FROM_RUN_STATUS = {
    "FINISHED": TrialStatus.FINISHED,
    "FAILED": TrialStatus.FAILED,
    "KILLED": TrialStatus.KILLED,
    "RUNNING": TrialStatus.RUNNING,
}
