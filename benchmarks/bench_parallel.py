"""Many trials at once: the issue's measurement table in one short run, on a GPU machine
(``--device cuda``; under 5 minutes on one H100/H200) or on this machine's CPUs (the default
where no GPU is found). Prints JSON.

A sweep of short ResNet trials on digits at 32×32 (``model: resnet``, 5 epochs) runs:

* ``optuna_1``: the Optuna backend, one trial at a time;
* ``optuna_jobs``: ``--jobs J`` (GPU: ``--gpus-per-trial 1/J``, J workers sharing the GPU);
* ``ray_1``: Ray Tune, one trial at a time (GPU: ``--gpus-per-trial 1``; CPU: every core);
* ``ray_pack``: Ray Tune, J at once (GPU: ``--gpus-per-trial 1/J``; CPU: one core each).

J is 8 on a GPU and the number of cores on CPUs. Figures, from MLflow's records of each
sweep (so interpreter start-up is out): per-trial wall time (median), start → first epoch
(median of the first epoch's metric timestamp − the trial run's start), and of it what is
spent before training (that less the first epoch's own ``epoch_time_s``: data on the device,
model, CUDA context), and trials per minute (trials / (last trial end − first trial start)).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import emit, log, sweep_runs, temp_dir

SWEEPLAB = str(Path(sys.executable).parent / "sweeplab")

PROJECT = """
name: parallel-resnet
data:
  source: sklearn:digits
  image_size: [32, 32]
  splits: {{train: 0.7, train_dev: 0.1, dev: 0.1, test: 0.1}}
  seed: 0
task: multiclass
model: {{name: resnet, blocks_per_stage: [1, 1], residual: true}}
train: {{epochs: {epochs}, batch_size: 64, optimizer: adam, device: {device}}}
metrics:
  optimize: {{name: dev_error, goal: minimize}}
search: {{space: space.yaml, sampler: random, trials: {trials}, seed: 0}}
"""
SPACE = """
parameters:
  base_width: {values: [8, 16]}
  learning_rate: {distribution: log_uniform, min: 3.0e-4, max: 1.0e-2}
"""


def _figures(uri: str, sweep: str) -> dict[str, float]:
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    runs = [r for r in sweep_runs(uri, sweep) if r.info.status == "FINISHED" and r.info.end_time]
    if not runs:
        return {"trials": 0}
    per_trial = [(r.info.end_time - r.info.start_time) / 1000 for r in runs]
    first_epoch, before_first = [], []
    for r in runs:
        hist = client.get_metric_history(r.info.run_id, "dev_error")
        times = client.get_metric_history(r.info.run_id, "epoch_time_s")
        if hist:
            first = min(hist, key=lambda m: m.step)
            first_epoch.append((first.timestamp - r.info.start_time) / 1000)
            own = [m.value for m in times if m.step == first.step]
            if own:
                before_first.append(first_epoch[-1] - own[0])
    span = (max(r.info.end_time for r in runs) - min(r.info.start_time for r in runs)) / 60000
    return {
        "trials": len(runs),
        "per_trial_s_median": round(statistics.median(per_trial), 3),
        "start_to_first_epoch_s_median": round(statistics.median(first_epoch), 3)
        if first_epoch
        else None,
        "before_first_epoch_s_median": round(statistics.median(before_first), 3)
        if before_first
        else None,
        "trials_per_min": round(len(runs) / span, 2),
        "devices": sorted({r.data.tags.get("sweeplab.device", "?") for r in runs}),
    }


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", choices=["auto", "cuda", "cpu"], default="auto")
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    started = time.perf_counter()
    import torch

    gpu = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    device = "cuda" if gpu else "cpu"
    cores = len(os.sched_getaffinity(0))
    jobs = 8 if gpu else max(2, cores)
    packed = jobs * 2  # trials of the packed arms: each worker runs two
    if gpu:
        arms = {
            "optuna_1": (8, []),
            "optuna_jobs": (packed, ["--jobs", str(jobs), "--gpus-per-trial", f"{1 / jobs:g}"]),
            "ray_1": (8, ["--backend", "ray", "--gpus-per-trial", "1", "--max-concurrent", "1"]),
            "ray_pack": (packed, ["--backend", "ray", "--gpus-per-trial", f"{1 / jobs:g}",
                                  "--max-concurrent", str(jobs)]),
        }  # fmt: skip
    else:
        arms = {
            "optuna_1": (4, []),
            "optuna_jobs": (packed, ["--jobs", str(jobs)]),
            "ray_1": (4, ["--backend", "ray", "--cpus-per-trial", str(cores),
                          "--max-concurrent", "1"]),
            "ray_pack": (packed, ["--backend", "ray", "--cpus-per-trial", "1",
                                  "--max-concurrent", str(jobs)]),
        }  # fmt: skip
    results = {}
    with temp_dir("parallel") as tmp:
        (tmp / "space.yaml").write_text(SPACE)
        ws = tmp / "ws"
        for arm, (trials, extra) in arms.items():
            project = tmp / f"{arm}.yaml"
            project.write_text(PROJECT.format(epochs=args.epochs, device=device, trials=trials))
            log(f"{arm}: {trials} trials {' '.join(extra)}")
            t0 = time.perf_counter()
            env = dict(os.environ)
            if arm == "optuna_jobs" and not gpu:
                env["OMP_NUM_THREADS"] = "1"
            done = subprocess.run(
                [SWEEPLAB, "sweep", str(project), "--name", arm, "-w", str(ws),
                 "--log-models", "none", *extra],
                env=env, capture_output=True, text=True, timeout=600, check=False,
            )  # fmt: skip
            figures = _figures(f"sqlite:///{ws / 'mlflow.db'}", arm)
            figures["command_wall_s"] = round(time.perf_counter() - t0, 2)
            figures["exit_code"] = done.returncode
            if done.returncode:
                figures["error"] = (done.stderr or done.stdout).strip().splitlines()[-1:]
            results[arm] = figures
    base = results["optuna_1"].get("trials_per_min") or float("nan")
    emit(
        "parallel",
        {
            "device": device,
            "jobs": jobs,
            "epochs": args.epochs,
            "arms": results,
            "throughput_vs_optuna_1": {
                arm: round((r.get("trials_per_min") or 0) / base, 2) for arm, r in results.items()
            },
        },
        started=started,
    )


if __name__ == "__main__":
    main()
