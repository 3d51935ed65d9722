"""Parent run per sweep, nested child run per trial, metrics logged in batches.

We use :class:`mlflow.MlflowClient` with explicit run ids instead of the fluent
``mlflow.start_run`` stack: a trial may run in another thread, process or Ray worker, and
all it needs to nest under its sweep is the tracking URI and the parent run id.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sweeplab.tracking._outbox import Outbox
from sweeplab.tracking._status import TrialStatus

__all__ = [
    "GROUP_PREFIXES",
    "FIXED_TASK_PREFIX",
    "split_params",
    "TrialRun",
    "SweepRun",
    "flatten_params",
    "TAG",
]

# Tags users can filter on in the MLflow UI ("tags.sweeplab.sweep = 'x'").
TAG = {
    "sweep": "sweeplab.sweep",
    "kind": "sweeplab.kind",  # "sweep" | "trial"
    "trial": "sweeplab.trial_number",
    "status": "sweeplab.status",  # a TrialStatus: finished | pruned | failed | killed
    "failure": "sweeplab.failure",
    "backend": "sweeplab.backend",
    "sampler": "sweeplab.sampler",
    "space_hash": "sweeplab.space_hash",
    "project": "sweeplab.project",
    "sampled": "sweeplab.sampled",  # a trial's sampled param keys, comma-separated
    "device": "sweeplab.device",  # where the trial trained: cpu | cuda
    "parent": "mlflow.parentRunId",
    "run_name": "mlflow.runName",
    "note": "mlflow.note.content",
}

#: Every setting of a trial is logged as a param ``model.<name>``, ``train.<name>`` or
#: ``task.<name>`` (its group: a model argument, a training setting, a task setting), sampled
#: or fixed; the tag ``sweeplab.sampled`` lists the keys the trial sampled.
GROUP_PREFIXES = ("model.", "train.", "task.")
#: The prefix of the task settings (``ref.fixed`` of a report: the trial's fixed ones).
FIXED_TASK_PREFIX = "task."


def split_params(
    params: Mapping[str, str], tags: Mapping[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    """(sampled, fixed) settings of a trial run: the sampled ones by their search-space name
    (``learning_rate``), in the space's order; the fixed ones by their key (``train.epochs``).

    The tag ``sweeplab.sampled`` names the sampled keys. Runs of older sweeps have no such
    tag: they logged their sampled settings under the plain name, the fixed ones prefixed."""
    listed = tags.get(TAG["sampled"])
    if listed is None:  # an older sweep
        keys = [k for k in params if not k.startswith(GROUP_PREFIXES)]
    else:
        keys = [k for k in listed.split(",") if k in params]
    sampled_keys = set(keys)
    sampled = {k.partition(".")[2] if k.startswith(GROUP_PREFIXES) else k: params[k] for k in keys}
    fixed = {k: v for k, v in params.items() if k not in sampled_keys}
    return sampled, fixed


_MAX_METRICS = 1000  # MLflow's limit per log_batch call
_MAX_PARAMS = 100


def flatten_params(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"train": {"lr": 0.1}}`` -> ``{"train.lr": "0.1"}``; values as MLflow strings."""
    out: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten_params(value, prefix=f"{name}."))
        elif isinstance(value, list | tuple):
            out[name] = ",".join(str(v) for v in value)
        else:
            out[name] = str(value)[:6000]
    return out


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class TrialRun:
    """One trial's child run. Metrics are buffered and sent in batches.

    ``flush_every_s`` bounds how stale the MLflow UI's live curves are; a trial of a few
    seconds sends its whole history in one call at the end.
    """

    client: Any
    run_id: str | None
    flush_every_s: float = 10.0
    # Writes go through the outbox (ordered, retried with backoff, saved if never sent);
    # ``key`` names this run in it (the run id, or a key while the run is not created yet).
    outbox: Outbox | None = None
    key: str | None = None
    _buffer: list = field(default_factory=list)  # [key, value, timestamp_ms, step]
    _last_flush: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.outbox is None:
            self.outbox = Outbox(self.client)
        if self.key is None:
            self.key = self.outbox.bind(self.run_id)

    def _submit(self, op: dict[str, Any]) -> None:
        self.outbox.submit(self.key, op)
        self.run_id = self.outbox.run_id(self.key) or self.run_id

    def log_params(self, params: Mapping[str, Any]) -> None:
        items = list(flatten_params(params).items())
        for i in range(0, len(items), _MAX_PARAMS):
            self._submit({"op": "log_batch", "params": dict(items[i : i + _MAX_PARAMS])})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        items = [(k, str(v)[:5000]) for k, v in tags.items()]
        for i in range(0, len(items), _MAX_PARAMS):
            self._submit({"op": "log_batch", "tags": dict(items[i : i + _MAX_PARAMS])})

    def log_metrics(self, metrics: Mapping[str, float], *, step: int) -> None:
        """Buffer one step's metrics (non-finite values are skipped: MLflow rejects NaN in some stores)."""
        ts = _now_ms()
        with self._lock:
            for key, value in metrics.items():
                value = float(value)
                if math.isfinite(value):
                    self._buffer.append([key, value, ts, int(step)])
        if time.monotonic() - self._last_flush >= self.flush_every_s:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            pending, self._buffer = self._buffer, []
            self._last_flush = time.monotonic()
        for i in range(0, len(pending), _MAX_METRICS):
            self._submit({"op": "log_batch", "metrics": pending[i : i + _MAX_METRICS]})
        self.outbox.pump()  # other runs' writes that wait for a retry

    def finish(
        self,
        status: TrialStatus,
        *,
        reason: str | None = None,
        summary: Mapping[str, float] | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> None:
        """End the run. ``status``: finished | pruned | failed | killed.

        The metrics still buffered, ``summary`` and the status tags travel in one batch,
        then the run is terminated: two writes, whatever the trial logged.
        """
        status = TrialStatus(status)
        if status is TrialStatus.RUNNING:
            raise ValueError("a run ends finished, pruned, failed or killed, not running")
        if summary:
            self.log_metrics(
                {k: v for k, v in summary.items() if v is not None},
                step=int(summary.get("epoch", 0)),
            )
        all_tags = {k: str(v)[:5000] for k, v in (tags or {}).items()}
        all_tags[TAG["status"]] = status.value
        if reason:
            all_tags[TAG["failure"]] = reason
            all_tags[TAG["note"]] = f"**{status}**: {reason}"
        with self._lock:
            pending, self._buffer = self._buffer, []
        head, rest = pending[:_MAX_METRICS], pending[_MAX_METRICS:]
        for i in range(0, len(rest), _MAX_METRICS):
            self._submit({"op": "log_batch", "metrics": rest[i : i + _MAX_METRICS]})
        tag_items = list(all_tags.items())
        self._submit({"op": "log_batch", "metrics": head, "tags": dict(tag_items[:_MAX_PARAMS])})
        for i in range(_MAX_PARAMS, len(tag_items), _MAX_PARAMS):
            self._submit({"op": "log_batch", "tags": dict(tag_items[i : i + _MAX_PARAMS])})
        self._submit({"op": "set_terminated", "status": status.run_status, "end_time": _now_ms()})
        self.outbox.pump()


@dataclass
class SweepRun:
    """The sweep's parent run."""

    client: Any
    experiment_id: str
    run_id: str
    name: str
    outbox: Outbox | None = None

    def __post_init__(self) -> None:
        if self.outbox is None:
            self.outbox = Outbox(self.client)

    @classmethod
    def start(
        cls,
        client,
        experiment_id: str,
        *,
        name: str,
        tags: Mapping[str, Any],
        params: Mapping[str, Any],
        outbox: Outbox | None = None,
    ) -> SweepRun:
        run = client.create_run(
            experiment_id, run_name=name, tags={TAG["kind"]: "sweep", TAG["sweep"]: name, **tags}
        )
        sweep = cls(client, experiment_id, run.info.run_id, name, outbox)
        sweep._run().log_params(params)
        return sweep

    def _run(self) -> TrialRun:
        return TrialRun(self.client, self.run_id, outbox=self.outbox)

    def start_trial(
        self,
        *,
        number: int,
        name: str,
        tags: Mapping[str, Any] | None = None,
        key: str | None = None,
    ) -> TrialRun:
        """The trial's child run. If the store does not answer, the run is created later (the
        outbox retries) and the trial goes on; ``key`` (recorded first by the backend) finds it."""
        key = self.outbox.create_run(
            self.experiment_id,
            run_name=name,
            tags={
                TAG["parent"]: self.run_id,
                TAG["kind"]: "trial",
                TAG["sweep"]: self.name,
                TAG["trial"]: str(number),
                **{k: str(v) for k, v in (tags or {}).items()},
            },
            key=key,
        )
        return TrialRun(self.client, self.outbox.run_id(key), outbox=self.outbox, key=key)

    def log_summary(
        self, metrics: Mapping[str, float], tags: Mapping[str, Any] | None = None
    ) -> None:
        """The sweep's counts and best value. A resumed sweep sums up again at the next step:
        one value per step in every history, the latest the sweep's last word."""
        run = self._run()
        run.log_metrics(metrics, step=self._next_summary_step(metrics))
        run.flush()
        if tags:
            run.set_tags(tags)

    def _next_summary_step(self, metrics: Mapping[str, float]) -> int:
        try:
            steps = [
                m.step for k in metrics for m in self.client.get_metric_history(self.run_id, k)
            ]
        except Exception:  # noqa: BLE001 - the store is away: the outbox sends the summary later
            return 0
        return max(steps, default=-1) + 1

    def finish(self, status: str) -> None:
        status = {"finished": "FINISHED", "failed": "FAILED", "killed": "KILLED"}[status]
        self.outbox.submit(
            self.outbox.bind(self.run_id),
            {"op": "set_terminated", "status": status, "end_time": _now_ms()},
        )

    def reopen(self) -> None:
        self.outbox.submit(self.outbox.bind(self.run_id), {"op": "update_run", "status": "RUNNING"})

    def close(self, wait_s: float) -> list[Path]:
        """Send what is still queued, waiting up to ``wait_s`` s; the files where the rest was saved."""
        return self.outbox.close(wait_s)
