"""Target 3: cost of MLflow tracking of a trial's per-epoch metrics (≤ 3 %, batched).

The same trial (same parameters, same seed) runs three ways, interleaved, on the sweep's
default store (SQLite in a workspace folder):

* ``none``: ``run_trial`` with no reporter — nothing is logged;
* ``batched``: what the backends do — a child run (``TrialRecorder.start``: create the run,
  log its params), per-epoch metrics buffered by ``TrialRun.log_metrics`` and sent with
  ``log_batch``, then ``finished`` (summary, tags, status);
* ``per_value``: the same run lifecycle, but one ``MlflowClient.log_metric`` call per
  metric value per epoch (what a naive integration does).

Two overheads are reported: ``metrics`` (the trial's training call with its per-epoch
metric logging, run creation and end excluded) and ``whole_run`` (creation and end of the
child run included). Target: ``batched`` metrics overhead ≤ 3 %.
"""

from __future__ import annotations

import time
from pathlib import Path

from _common import cli_args, emit, interleaved, log, median, spread, temp_dir, write_project

MODEL = {"name": "mlp", "activation": "relu", "init": "he", "hidden_units": 128, "num_layers": 2}
SPACE = {"learning_rate": {"value": 0.001}}
PARAMS = {"learning_rate": 0.001}


class _Collect:
    """A reporter that hands every epoch's metrics to ``send``."""

    def __init__(self, send) -> None:
        self.send = send
        self.values = 0

    def epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        self.values += len(metrics)
        self.send(epoch, metrics)


def main() -> None:
    args = cli_args(__doc__.splitlines()[0])
    started = time.perf_counter()
    epochs, repeats = (10, 2) if args.quick else (20, 5)
    with temp_dir("tracking") as folder:
        result = measure(folder, epochs=epochs, repeats=repeats)
    emit("tracking_overhead", result, started=started)


def measure(folder: Path, *, epochs: int, repeats: int) -> dict:
    from sweeplab.tuning import SweepSettings, run_trial, setup_sweep
    from sweeplab.tuning._record import TrialRecorder

    project = write_project(
        folder, name="bench-tracking", model=MODEL, train={"epochs": epochs}, space=SPACE
    )
    setup = setup_sweep(
        SweepSettings(project_path=project, trials=1, workspace=folder / "ws", name="tracking")
    )
    ctx, sweep_run = setup.context, setup.sweep_run
    client = sweep_run.client
    numbers = iter(range(1_000_000))
    split: dict[str, list[float]] = {"none": [], "batched": [], "per_value": []}
    counts: dict[str, int] = {}

    def none() -> None:
        t0 = time.perf_counter()
        run_trial(ctx, PARAMS, None)
        split["none"].append(time.perf_counter() - t0)

    def batched() -> None:
        recorder = TrialRecorder.start(sweep_run, number=next(numbers), params=PARAMS)
        reporter = _Collect(recorder.epoch)
        t0 = time.perf_counter()
        result = run_trial(ctx, PARAMS, reporter)
        recorder.run.flush()  # the metrics reach the store inside the timed section
        split["batched"].append(time.perf_counter() - t0)
        recorder.finished(result.metrics)
        counts["batched"] = reporter.values

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
        {"none": none, "batched": batched, "per_value": per_value}, repeats=repeats
    )
    metrics = {k: v[1:] for k, v in split.items()}  # drop the warm-up round
    base_m, base_w = median(metrics["none"]), median(wall["none"])
    out = {
        "what": __doc__.split("\n\n", 1)[1].strip(),
        "trial": {"model": MODEL, "epochs": epochs, "batch_size": 64, "params": PARAMS},
        "metric_values_per_trial": counts,
        "trial_s": {k: spread(v) for k, v in metrics.items()},
        "whole_run_s": {k: spread(v) for k, v in wall.items()},
        "overhead_metrics_pct": {
            k: round(100 * (median(metrics[k]) / base_m - 1), 2) for k in ("batched", "per_value")
        },
        "overhead_whole_run_pct": {
            k: round(100 * (median(wall[k]) / base_w - 1), 2) for k in ("batched", "per_value")
        },
        "target": "batched metrics overhead <= 3 %",
    }
    out["met"] = out["overhead_metrics_pct"]["batched"] <= 3.0
    log(
        f"overheads: metrics {out['overhead_metrics_pct']}, whole run {out['overhead_whole_run_pct']}"
    )
    return out


if __name__ == "__main__":
    main()
