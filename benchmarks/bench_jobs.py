"""``--jobs``: trials per minute of one Optuna worker against two on this machine, with
one-thread trials (issue: many trials at once).

The same sweep (``projects/digits_mlp.yaml``'s space, a fixed number of trials, same seed)
runs as ``sweeplab sweep … --jobs 1`` and ``--jobs 2`` in fresh processes, alternately, with
``OMP_NUM_THREADS=1`` (``--jobs 2`` gives each process ``cores // 2`` = 1 thread here).
Trials per minute are read from MLflow's records: trials / (last trial run's end − first
one's start), so interpreter and data start-up are out of both figures (but a worker's own
start-up, while the driver already trains, is in); ``steady_trials_per_min`` sums each
process's own rate from its second trial on (the rate once every process runs); the whole
command's wall time is reported beside them. Each pair is checked: the same configurations finished,
each once, nothing lost (trials per sweep = trials asked).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from _common import cli_args, emit, log, spread, sweep_runs, temp_dir

REPO = Path(__file__).resolve().parents[1]
SWEEPLAB = str(Path(sys.executable).parent / "sweeplab")


def _configs(runs: list) -> Counter:
    return Counter(
        tuple(sorted((k, r.data.params[k]) for k in r.data.tags["sweeplab.sampled"].split(",")))
        for r in runs
        if r.info.status == "FINISHED"
    )


def main() -> None:
    args = cli_args(__doc__)
    started = time.perf_counter()
    trials, pairs, epochs = (8, 1, 5) if args.quick else (24, 3, 50)
    figures: dict[str, list[float]] = {"jobs1": [], "jobs2": []}
    steady: dict[str, list[float]] = {"jobs1": [], "jobs2": []}
    walls: dict[str, list[float]] = {"jobs1": [], "jobs2": []}
    workers: list[int] = []
    same = True
    with temp_dir("jobs") as tmp:
        project = tmp / "project.yaml"
        text = (REPO / "projects" / "digits_mlp.yaml").read_text()
        text = text.replace("../search_spaces/mlp.yaml", str(REPO / "search_spaces" / "mlp.yaml"))
        text = text.replace("epochs: 30", f"epochs: {epochs}").replace(
            "early_stopping_patience: 8", "early_stopping_patience: 100"
        )
        project.write_text(text)
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        for p in range(pairs):
            configs = {}
            for jobs in (1, 2) if p % 2 == 0 else (2, 1):
                name = f"jobs{jobs}-{p}"
                ws = tmp / "ws"
                log(f"pair {p}: --jobs {jobs}")
                t0 = time.perf_counter()
                subprocess.run(
                    [SWEEPLAB, "sweep", str(project), "--name", name, "-w", str(ws),
                     "--trials", str(trials), "--jobs", str(jobs), "--log-models", "none"],
                    env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )  # fmt: skip
                walls[f"jobs{jobs}"].append(time.perf_counter() - t0)
                runs = sweep_runs(f"sqlite:///{ws / 'mlflow.db'}", name)
                first = min(r.info.start_time for r in runs)
                last = max(r.info.end_time for r in runs)
                figures[f"jobs{jobs}"].append(len(runs) / ((last - first) / 60000))
                # steady state: each process's own rate from its second trial on (its first
                # pays the process's warm-up), summed over the processes
                rate = 0.0
                for who in {r.data.tags.get("sweeplab.worker") for r in runs}:
                    mine = sorted(
                        (r for r in runs if r.data.tags.get("sweeplab.worker") == who),
                        key=lambda r: r.info.start_time,
                    )[1:]
                    if len(mine) >= 2:
                        span = max(r.info.end_time for r in mine) - mine[0].info.start_time
                        rate += len(mine) / (span / 60000)
                steady[f"jobs{jobs}"].append(rate)
                configs[jobs] = _configs(runs)
                if jobs == 2:
                    workers.append(len({r.data.tags.get("sweeplab.worker") for r in runs}))
            ok = (
                configs[1] == configs[2]
                and sum(configs[2].values()) == trials
                and set(configs[2].values()) == {1}
            )
            same = same and ok
    ratio = statistics.median(figures["jobs2"]) / statistics.median(figures["jobs1"])
    emit(
        "jobs",
        {
            "trials_per_sweep": trials,
            "epochs_per_trial": epochs,
            "pairs": pairs,
            "trials_per_min": {k: spread(v) for k, v in figures.items()},
            "steady_trials_per_min": {k: spread(v) for k, v in steady.items()},
            "steady_speedup": round(
                statistics.median(steady["jobs2"]) / statistics.median(steady["jobs1"]), 3
            ),
            "command_wall_s": {k: spread(v) for k, v in walls.items()},
            "speedup_jobs2_over_jobs1": round(ratio, 3),
            "target_1_8x_met": ratio >= 1.8,
            "processes_that_ran_trials_jobs2": workers,
            "same_configurations_each_once": same,
        },
        started=started,
    )


if __name__ == "__main__":
    main()
