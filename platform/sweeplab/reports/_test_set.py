"""The test set stays a final check: one evaluation per trial unless asked again, and a count.

Every look at the test error that influences a choice makes it as optimistic as the dev
error. So ``sweeplab evaluate`` and ``sweeplab report --final`` refuse a trial whose run
already has a final evaluation (its tag :data:`EVALUATED_TAG`: when) unless ``--again`` is
given, and every evaluation (``--again`` included) adds one to the parent run's tag
:data:`COUNT_TAG`, so the sweep says how often its test set was used.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from sweeplab.errors import UserError
from sweeplab.tracking import TAG, TrialRun

__all__ = ["COUNT_TAG", "EVALUATED_TAG", "check_first_evaluation", "record_final_evaluation"]

EVALUATED_TAG = "sweeplab.final_evaluation"  # trial run: when its test error was computed
COUNT_TAG = "sweeplab.test_evaluations"  # parent run: final evaluations of the sweep's trials


def check_first_evaluation(ref: Any, client: Any, *, again: bool) -> str | None:
    """Raise a :class:`UserError` when the trial was evaluated on the test set before and
    ``again`` is False; else a note for a repeated evaluation (None for a first one)."""
    tags = client.get_run(ref.run_id).data.tags
    when = tags.get(EVALUATED_TAG)
    if when is None:
        return None
    error = ref.metrics.get("test_error")
    shown = f" (test_error {error:.4f})" if error is not None else ""
    if not again:
        raise UserError(
            f"trial {ref.number} of sweep {ref.sweep!r} was evaluated on the test set on "
            f"{when}{shown}; the test error is a final check, and choosing by it makes it as "
            f"optimistic as the dev error ({_count(client, ref)} evaluation(s) in this sweep so "
            "far); add --again to evaluate it once more"
        )
    return (
        f"trial {ref.number} was evaluated on the test set before, on {when}{shown}: "
        "--again evaluates it once more, and counts it"
    )


def _evaluation_step(client: Any, ref: Any) -> int:
    """The trial's last step for its first evaluation; one step further for each one after
    it (``--again``), so that every step of ``test_error`` holds one value."""
    done = client.get_metric_history(ref.run_id, "test_error")
    if done:
        return max(m.step for m in done) + 1
    dev = client.get_metric_history(ref.run_id, "dev_error")
    return max((m.step for m in dev), default=int(ref.metrics.get("epochs_run", 0)))


def record_final_evaluation(ref: Any, client: Any, metrics: dict[str, float]) -> str:
    """Log the test metrics to the trial's run with the time, add one to the sweep's count;
    returns the line that says how much the sweep's test set has been used."""
    run = TrialRun(client, ref.run_id)
    run.log_metrics(metrics, step=_evaluation_step(client, ref))
    run.flush()
    run.set_tags({EVALUATED_TAG: _dt.datetime.now().isoformat(timespec="seconds")})
    ref.metrics.update(metrics)
    parent = ref.info.get("parent_run_id")
    if not parent:
        return "the sweep has no parent run to count its test-set evaluations on"
    count = _count(client, ref) + 1
    client.set_tag(parent, COUNT_TAG, str(count))
    trials = _evaluated_trials(client, ref, parent)
    return (
        f"the test set of sweep {ref.sweep!r} has now been used {count} time(s), by "
        f"{trials} trial(s) (tag {COUNT_TAG} of its parent run)"
    )


def _count(client: Any, ref: Any) -> int:
    parent = ref.info.get("parent_run_id")
    if not parent:
        return 0
    try:
        return int(client.get_run(parent).data.tags.get(COUNT_TAG, "0"))
    except ValueError:  # edited by hand
        return 0


def _evaluated_trials(client: Any, ref: Any, parent: str) -> int:
    runs = client.search_runs(
        [client.get_run(parent).info.experiment_id],
        filter_string=f"tags.`{TAG['parent']}` = '{parent}' and tags.`{EVALUATED_TAG}` LIKE '%'",
        max_results=1000,
    )
    return len(runs)
