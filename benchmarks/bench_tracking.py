"""Target 3: cost of MLflow tracking of a trial's per-epoch metrics (≤ 3 %, batched).

The same trial (same parameters, same seed) runs four ways, interleaved, on the sweep's
default store (SQLite in a workspace folder). Each arm runs ``chain`` trials back to back, as
a sweep does, and its clock stops only when everything it logged is in the store:

* ``none``: ``run_trial`` with no reporter — nothing is logged;
* ``batched``: what the Optuna backend does — a child run (``TrialRecorder.start``: create
  the run, log its params), per-epoch metrics buffered by ``TrialRun.log_metrics``, then
  ``finished`` (metrics, summary, tags in one ``log_batch``, then the status), all through
  the sweep's outbox — synchronous with this SQLite store (the backend starts the outbox's
  sender thread only for a tracking server);
* ``batched_thread``: the same through an outbox with its **sender thread** (writes go to
  MLflow while the next trial trains; the last trial's wait for the sender is inside the
  clock) — the comparison behind that choice;
* ``per_value``: the same run lifecycle, but one ``MlflowClient.log_metric`` call per
  metric value per epoch (what a naive integration does); one trial per round (it is slow).

Two overheads per trial are reported: ``metrics`` (the trial's training call with its
per-epoch metric logging and the flush; run creation and end excluded) and ``whole_run``
(creation and end of the child run, and the final wait for the store, included).
Target: ``batched`` overhead ≤ 3 % (``whole_run`` is the honest figure).

Beside that A/B difference of two trial times (which moves with the machine: the same trial
varies by ±20 % here from one second to the next), the time spent inside the tracking calls
themselves is measured on the trial's thread (``inside_tracking_ms_per_trial``,
``overhead_*_pct_instrumented``: that time over the untracked trial's median time).

Two trial lengths: ``two_second``, the ~2-s trial of target 2 (bench_sweep.py; ~150 short
epochs, ~1,500 values), which the target is read on; and ``short``, 20 epochs (~0.27 s,
200 values), where a store write's fixed cost (a SQLite commit, ~3–5 ms) is a larger share.
"""

from __future__ import annotations

import time
from pathlib import Path

from _common import (
    calibrate_epochs,
    cli_args,
    emit,
    interleaved,
    load_context,
    log,
    median,
    spread,
    temp_dir,
    write_project,
)

MODEL = {"name": "mlp", "activation": "relu", "init": "he", "hidden_units": 128, "num_layers": 2}
SPACE = {"learning_rate": {"value": 0.001}}
PARAMS = {"learning_rate": 0.001}


class _Collect:
    """A reporter that hands every epoch's metrics to ``send`` and times the calls."""

    def __init__(self, send) -> None:
        self.send = send
        self.values = 0
        self.seconds = 0.0  # time inside ``send``, on the training thread

    def epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        t0 = time.perf_counter()
        self.values += len(metrics)
        self.send(epoch, metrics)
        self.seconds += time.perf_counter() - t0


def main() -> None:
    args = cli_args(__doc__.splitlines()[0])
    started = time.perf_counter()
    short, repeats, chain = (10, 2, 3) if args.quick else (20, 5, 4)
    with temp_dir("tracking") as folder:
        probe = write_project(folder / "probe", name="bench-probe", model=MODEL)
        long = calibrate_epochs(load_context(probe), 1.0 if args.quick else 2.0)
        log(f"~2-s trial = {long} epochs")
        two = measure(folder / "long", epochs=long, repeats=max(2, repeats - 1), chain=3)
        few = measure(folder / "short", epochs=short, repeats=repeats, chain=chain)
    emit(
        "tracking_overhead",
        {
            "what": __doc__.split("\n\n", 1)[1].strip(),
            "two_second": two,
            "short": few,
            # target 3 is read on the trial of target 2
            "overhead_metrics_pct": two["overhead_metrics_pct"],
            "overhead_whole_run_pct": two["overhead_whole_run_pct"],
            "overhead_metrics_pct_instrumented": two["overhead_metrics_pct_instrumented"],
            "overhead_whole_run_pct_instrumented": two["overhead_whole_run_pct_instrumented"],
            "target": two["target"],
            "met": two["met"],
            "met_whole_run": two["met_whole_run"],
            "met_instrumented": two["met_instrumented"],
            "met_whole_run_instrumented": two["met_whole_run_instrumented"],
        },
        started=started,
    )


def measure(folder: Path, *, epochs: int, repeats: int, chain: int) -> dict:
    from sweeplab.tasks import run_trial
    from sweeplab.tracking import Outbox, SweepRun
    from sweeplab.tuning import SweepSettings, setup_sweep
    from sweeplab.tuning._record import TrialRecorder

    project = write_project(
        folder, name="bench-tracking", model=MODEL, train={"epochs": epochs}, space=SPACE
    )
    setup = setup_sweep(
        SweepSettings(project_path=project, trials=1, workspace=folder / "ws", name="tracking")
    )
    ctx, sweep_run = setup.context, setup.sweep_run  # SQLite: its outbox sends in line
    client = sweep_run.client
    thread_run = SweepRun(
        client,
        sweep_run.experiment_id,
        sweep_run.run_id,
        sweep_run.name,
        Outbox(client, folder / "outbox-thread", background=True),
    )
    numbers = iter(range(1_000_000))
    split: dict[str, list[float]] = {
        "none": [],
        "batched": [],
        "batched_thread": [],
        "per_value": [],
    }
    counts: dict[str, int] = {}
    # Instrumented: seconds per trial inside the tracking calls themselves (per-epoch
    # logging + flush; and start + end of the run), measured on the trial's thread. Unlike
    # the A/B difference of two ~noisy trial times, this does not move with the machine.
    inside: dict[str, list[float]] = {"batched": [], "batched_thread": []}
    inside_run: dict[str, list[float]] = {"batched": [], "batched_thread": []}

    def none() -> tuple[float, float]:
        t_all = time.perf_counter()
        for _ in range(chain):
            t0 = time.perf_counter()
            run_trial(ctx, PARAMS, None)
            split["none"].append(time.perf_counter() - t0)
        return (time.perf_counter() - t_all) / chain, 0.0

    def recorded(name: str, parent: SweepRun):
        def arm() -> tuple[float, float]:
            t_all = time.perf_counter()
            for _ in range(chain):
                t_start = time.perf_counter()
                recorder = TrialRecorder.start(parent, number=next(numbers), params=PARAMS)
                reporter = _Collect(recorder.epoch)
                t0 = time.perf_counter()
                result = run_trial(ctx, PARAMS, reporter)
                t_flush = time.perf_counter()
                recorder.run.flush()  # sync: the metrics reach the store here; else queued
                t1 = time.perf_counter()
                split[name].append(t1 - t0)
                recorder.finished(result.metrics)
                t_end = time.perf_counter()
                metrics_s = reporter.seconds + (t1 - t_flush)
                inside[name].append(metrics_s)
                inside_run[name].append(metrics_s + (t0 - t_start) + (t_end - t1))
                counts[name] = reporter.values
            if not parent.outbox.drain(60.0):  # everything in the store before the clock stops
                raise RuntimeError("the tracking store did not take every write")
            return (time.perf_counter() - t_all) / chain, 0.0

        return arm

    def per_value() -> None:
        run = client.create_run(setup.sweep_run.experiment_id, run_name="per-value")
        run_id = run.info.run_id
        client.log_param(run_id, "learning_rate", PARAMS["learning_rate"])

        def send(epoch: int, metrics: dict[str, float]) -> None:
            for key, value in metrics.items():
                client.log_metric(run_id, key, float(value), step=epoch)

        reporter = _Collect(send)
        t0 = time.perf_counter()
        run_trial(ctx, PARAMS, reporter)
        split["per_value"].append(time.perf_counter() - t0)
        client.set_terminated(run_id, "FINISHED")
        counts["per_value"] = reporter.values

    wall, _ = interleaved(
        {
            "none": none,
            "batched": recorded("batched", sweep_run),
            "batched_thread": recorded("batched_thread", thread_run),
            "per_value": per_value,
        },
        repeats=repeats,
    )
    # drop the warm-up round (chain trials per arm, one for per_value)
    metrics = {k: v[(1 if k == "per_value" else chain) :] for k, v in split.items()}
    base_m, base_w = median(metrics["none"]), median(wall["none"])
    arms = ("batched", "batched_thread", "per_value")
    out = {
        "chain": chain,
        "trial": {"model": MODEL, "epochs": epochs, "batch_size": 64, "params": PARAMS},
        "metric_values_per_trial": counts,
        "trial_s": {k: spread(v) for k, v in metrics.items()},
        "whole_run_s": {k: spread(v) for k, v in wall.items()},
        "overhead_metrics_pct": {
            k: round(100 * (median(metrics[k]) / base_m - 1), 2) for k in arms
        },
        "overhead_whole_run_pct": {k: round(100 * (median(wall[k]) / base_w - 1), 2) for k in arms},
        "overhead_whole_run_ms_per_trial": {
            k: round(1000 * (median(wall[k]) - base_w), 1) for k in arms
        },
        "inside_tracking_ms_per_trial": {
            k: {"metrics": spread([1000 * x for x in v[chain:]]), "whole_run": None}
            for k, v in inside.items()
        },
        "target": "batched overhead <= 3 % (metrics; whole_run reported beside it)",
    }
    for k, v in inside_run.items():
        out["inside_tracking_ms_per_trial"][k]["whole_run"] = spread([1000 * x for x in v[chain:]])
    # instrumented overhead: time inside the tracking calls / the untracked trial's time
    out["overhead_metrics_pct_instrumented"] = {
        k: round(100 * median(v[chain:]) / base_m, 2) for k, v in inside.items()
    }
    out["overhead_whole_run_pct_instrumented"] = {
        k: round(100 * median(v[chain:]) / base_m, 2) for k, v in inside_run.items()
    }
    out["met"] = out["overhead_metrics_pct"]["batched"] <= 3.0
    out["met_whole_run"] = out["overhead_whole_run_pct"]["batched"] <= 3.0
    out["met_instrumented"] = out["overhead_metrics_pct_instrumented"]["batched"] <= 3.0
    out["met_whole_run_instrumented"] = out["overhead_whole_run_pct_instrumented"]["batched"] <= 3.0
    log(
        f"overheads: metrics {out['overhead_metrics_pct']}, whole run {out['overhead_whole_run_pct']}"
    )
    return out


if __name__ == "__main__":
    main()
