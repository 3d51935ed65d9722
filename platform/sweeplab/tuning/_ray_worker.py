"""The Ray Tune side of a trial: what runs inside a Tune worker, on whichever node.

The trainable gets the sweep's :class:`~sweeplab.tasks.SweepContext` once per worker process
(``tune.with_parameters`` puts it in the object store) and a small :class:`WorkerSpec` that
says where to record: tracking URI, experiment id, parent run id. It resolves the sampled
config with ``space.resolve``, creates the trial's MLflow child run itself (nested under the
parent whichever node runs it), calls the one :func:`~sweeplab.tasks.run_trial`, and reports
every epoch to Tune (ASHA reads ``epoch`` and the objective).

Who writes the child run's end state: the worker for finished and failed trials; the driver
for trials Tune stopped (ASHA) or lost (a crashed worker), since the worker cannot.
"""

from __future__ import annotations

import math
import re
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from sweeplab.tasks import run_params, run_trial
from sweeplab.tracking import TAG, Outbox, SweepRun, client_for, quiet_http_retries
from sweeplab.training import use_threads
from sweeplab.tuning._lifecycle import DEVICE_TAG, FEASIBLE_TAG, TrialStatus, record_trial
from sweeplab.tuning._record import TrialRecorder, failure_reason
from sweeplab.tuning._settings import objective_value
from sweeplab.tuning._tracking import track_trial

__all__ = ["WorkerSpec", "sweep_trainable", "trial_number", "RESULT_KEY", "RAY_TRIAL_TAG"]

RESULT_KEY = "sweeplab"  # nested dict in every Tune result: status, run id, trial number
RAY_TRIAL_TAG = "sweeplab.ray_trial_id"
NODE_TAG = "sweeplab.node"
NODE_ID_TAG = "sweeplab.node_id"
THREADS_TAG = "sweeplab.threads"  # torch intra-op threads the trial trained with
_NAME = re.compile(r"^trial_(\d+)$")

# One MLflow client (and outbox) per worker process and sweep: creating a client (and, for
# SQLite, checking the schema) costs far more than a trial's own tracking calls.
_SWEEPS: dict[tuple[str, str], Any] = {}
# The sweep's context per worker process and sweep: Tune hands each call of the trainable a
# fresh copy from the object store, which would move the splits to the trial's device again
# (``SweepContext.splits_on`` caches them per context object). A reused actor keeps the first
# copy, so its second and later trials start on data already on their device.
_CONTEXTS: dict[tuple[str, str], Any] = {}
_OUTBOX_WAIT_S = 5.0  # at a trial's end, how long unsent records are retried before saving


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker needs besides the context; small and picklable."""

    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    sweep_name: str
    space: Any  # SearchSpace
    objective: str
    goal: str
    constraints: tuple[Any, ...] = ()
    flush_each_epoch: bool = False  # with ASHA: a stopped trial's curve is already stored
    # ASHA's max_t: the last epoch goes to Tune only in the final report, since ASHA stops
    # every trial that reaches max_t and the trial would never get to record "finished".
    last_epoch: int | None = None
    resumed: bool = False
    # The sweep's outbox folder (workspace/outbox/<sweep>): what a worker could not send to the
    # tracking store is saved there for `sweeplab sync` (reachable on this machine's nodes).
    outbox_dir: str | None = None
    extra_tags: dict[str, str] = field(default_factory=dict)
    # Torch intra-op threads of a trial: its CPUs (``--cpus-per-trial``, at least 1), so that
    # concurrent trials do not oversubscribe the node's cores; 0 leaves torch's setting alone.
    torch_threads: int = 0
    # Seconds between two per-epoch reports to Tune (0: every epoch, as ASHA needs). Each
    # report is a round trip through the Tune driver that the trial waits for; without a
    # scheduler they only feed the progress display, so once a second is enough.
    report_every_s: float = 0.0


def trial_number(name: str | None) -> int:
    """The sweep's trial number from the Tune trial name the driver gave (``trial_00007``)."""
    m = _NAME.match(name or "")
    return int(m.group(1)) if m else -1


def _sweep_run(spec: WorkerSpec):
    key = (spec.tracking_uri, spec.parent_run_id)
    if key not in _SWEEPS:
        quiet_http_retries()  # the outbox retries on its own schedule
        client = client_for(spec.tracking_uri)
        outbox = Outbox(client, _outbox_dir(spec), tracking_uri=spec.tracking_uri)
        _SWEEPS[key] = SweepRun(
            client, spec.experiment_id, spec.parent_run_id, spec.sweep_name, outbox
        )
    return _SWEEPS[key]


def _outbox_dir(spec: WorkerSpec):
    from pathlib import Path

    if spec.outbox_dir is None:
        return None
    path = Path(spec.outbox_dir)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:  # another machine's path: keep what is unsent in memory only
        return None
    return path


def _device() -> str:
    """CUDA when Ray gave this trial a GPU (it sets CUDA_VISIBLE_DEVICES), else CPU."""
    import ray

    try:
        gpus = ray.get_gpu_ids()
    except Exception:  # noqa: BLE001 - outside a Ray worker: no GPU was assigned
        gpus = []
    if gpus:
        import torch

        if torch.cuda.is_available():
            return "cuda"
    return "cpu"


def _use_threads(n: int) -> int:
    """Set torch's intra-op threads for this trial (actors are reused: set it every trial)."""

    return use_threads(n)


def _node() -> tuple[str, str]:
    """(``hostname (ip)``, Ray node id) of the node running this trial."""
    import ray

    try:
        ip = ray.util.get_node_ip_address()
        node_id = ray.get_runtime_context().get_node_id()
    except Exception:  # noqa: BLE001 - best effort: the tag is informative
        ip, node_id = "?", "?"
    return f"{socket.gethostname()} ({ip})", node_id


class _TuneReporter:
    """Per-epoch hook: MLflow metrics (buffered) and a Tune report (ASHA may stop us here)."""

    def __init__(self, recorder: Any, bookkeeping: dict[str, Any], spec: WorkerSpec) -> None:
        self.recorder, self.bookkeeping = recorder, bookkeeping
        self.flush, self.final_epoch = spec.flush_each_epoch, spec.last_epoch
        self.last_epoch = 0
        self.every, self.last_report = spec.report_every_s, -math.inf

    def epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        from ray import tune

        self.last_epoch = epoch
        self.recorder.epoch(epoch, metrics)
        if self.flush:
            self.recorder.run.flush()
        if self.final_epoch is not None and epoch >= self.final_epoch:
            return
        now = time.monotonic()
        if self.every and now - self.last_report < self.every:
            return
        self.last_report = now
        finite = {k: float(v) for k, v in metrics.items() if math.isfinite(float(v))}
        tune.report(
            {
                **finite,
                "epoch": epoch,
                RESULT_KEY: {**self.bookkeeping, "status": TrialStatus.RUNNING},
            }
        )


def sweep_trainable(
    config: dict[str, Any], ctx: Any = None, spec: WorkerSpec | None = None
) -> None:
    """Tune function trainable: one trial of the sweep (see the module docstring)."""
    from ray import tune

    assert ctx is not None and spec is not None, "pass ctx and spec with tune.with_parameters"
    t0 = time.monotonic()
    tctx = tune.get_context()
    trial_id = tctx.get_trial_id()
    number = trial_number(tctx.get_trial_name())
    params = spec.space.resolve(config)
    ctx = _CONTEXTS.setdefault((spec.tracking_uri, spec.parent_run_id), ctx)
    sweep = _sweep_run(spec)
    done = {"number": number, "trial_id": trial_id}

    if spec.resumed:
        previous = _finished_run(sweep.client, spec, trial_id)
        if previous is not None:  # finished before the driver stopped: report, don't re-run
            metrics = {k: float(v) for k, v in previous.data.metrics.items()}
            feasible = previous.data.tags.get(FEASIBLE_TAG, "true") == "true"
            done.update(status=TrialStatus.FINISHED, run_id=previous.info.run_id, feasible=feasible)
            done.update(train_s=0.0, reused=True)
            tune.report({**metrics, "epoch": int(metrics.get("epochs_run", 0)), RESULT_KEY: done})
            return

    device = _device()
    node, node_id = _node()
    threads = _use_threads(spec.torch_threads)
    tags = {
        THREADS_TAG: threads,
        RAY_TRIAL_TAG: trial_id,
        NODE_TAG: node,
        NODE_ID_TAG: node_id,
        DEVICE_TAG: device,
        "sweeplab.backend": "ray",
        **spec.extra_tags,
    }
    recorder = TrialRecorder.start(
        sweep, number=number, params=params, tags=tags, settings=run_params(ctx, params, device)
    )
    done["run_id"] = recorder.run_id
    track_trial(recorder, ctx)  # dataset inputs, system metrics
    reporter = _TuneReporter(recorder, dict(done), spec)
    bad = math.nan
    t_train = time.monotonic()
    try:
        result = run_trial(ctx, params, reporter, device=device)
        t_end = time.monotonic()
        objective_value(result.metrics, spec.objective)
    except Exception as exc:  # noqa: BLE001 - a failing trial is recorded; the sweep goes on
        # Not re-raised: Tune's max_failures is for crashed workers, and a trial that
        # diverges would diverge again.
        end = record_trial(recorder, TrialStatus.FAILED, reason=failure_reason(exc))
        sweep.outbox.close(_OUTBOX_WAIT_S)
        done.update(status=end.status, reason=end.reason, train_s=time.monotonic() - t_train)
        tune.report({spec.objective: bad, "epoch": reporter.last_epoch, RESULT_KEY: done})
        return
    # SystemExit (Tune stopped the trial: ASHA) goes through; the driver records "pruned".
    end = record_trial(recorder, TrialStatus.FINISHED, result=result, constraints=spec.constraints)
    sweep.outbox.close(_OUTBOX_WAIT_S)  # sent, or saved to the outbox folder
    done.update(
        status=end.status,
        feasible=end.feasible,
        device=end.device,
        train_s=t_end - t_train,
        setup_s=t_train - t0,
    )
    epoch = int(end.metrics.get("epochs_run", reporter.last_epoch))
    tune.report({**end.metrics, "epoch": epoch, RESULT_KEY: done})


def _finished_run(client: Any, spec: WorkerSpec, trial_id: str):

    runs = client.search_runs(
        [spec.experiment_id],
        filter_string=(
            f"tags.`{TAG['parent']}` = '{spec.parent_run_id}' and tags.`{RAY_TRIAL_TAG}` = "
            f"'{trial_id}' and tags.`{TAG['status']}` = '{TrialStatus.FINISHED}'"
        ),
        max_results=1,
    )
    return runs[0] if runs else None
