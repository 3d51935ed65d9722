"""Time to target: wall time and trials until a sweep's best dev error reaches a fixed target,
for the shipped digits MLP (``projects/digits_mlp.yaml``) and LeNet-5
(``projects/digits_cnn.yaml``) projects, by random search, TPE, ASHA and two trials at once,
on both backends — the figure a user choosing a search method wants.

Each sweep is the project as shipped (its space, epochs, early stopping), a trial budget
(``--budget``), sampler seed 0, in a fresh process (``sweeplab sweep``), the default stores.
From MLflow's records: trials in the order they ended, the best dev error so far; for each
target (dev error 0.03, 0.02, 0.015), trials to target = how many had ended when the best
first reached it; wall to target = that trial's
end − the parent run's start (data loading and set-up included, interpreter start-up not).
"Two at once" is ``--jobs 2`` (Optuna) and ``--max-concurrent 2 --cpus-per-trial 1`` (Ray).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from _common import emit, log, sweep_runs, temp_dir

REPO = Path(__file__).resolve().parents[1]
SWEEPLAB = str(Path(sys.executable).parent / "sweeplab")
PROJECTS = {"digits_mlp": (0.03, 0.02, 0.015), "digits_cnn": (0.03, 0.02, 0.015)}  # targets
METHODS = {
    "random": [],
    "tpe": ["--sampler", "tpe"],
    "asha": {"optuna": ["--pruner", "successive_halving"], "ray": ["--scheduler", "asha"]},
    "two_at_once": {
        "optuna": ["--jobs", "2"],
        "ray": ["--max-concurrent", "2", "--cpus-per-trial", "1"],
    },
}


def _curve(uri: str, sweep: str, targets: tuple[float, ...]) -> dict:
    runs = sweep_runs(uri, sweep)
    parent = sweep_runs(uri, sweep, "sweep")[0]
    ended = sorted((r for r in runs if r.info.end_time), key=lambda r: r.info.end_time)
    best = float("inf")
    reached: dict[float, dict] = {}
    for i, r in enumerate(ended, start=1):
        value = r.data.metrics.get("dev_error")
        if r.info.status == "FINISHED" and value is not None:
            best = min(best, value)
        for target in targets:
            if target not in reached and best <= target:
                wall = (r.info.end_time - parent.info.start_time) / 1000
                reached[target] = {"trials": i, "wall_s": round(wall, 1)}
    return {
        "trials_run": len(ended),
        "best_dev_error": None if best == float("inf") else round(best, 4),
        "to_target": {str(t): reached.get(t) for t in targets},
        "sweep_wall_s": round(
            (max(r.info.end_time for r in ended) - parent.info.start_time) / 1000, 1
        )
        if ended
        else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--budget", type=int, default=20, help="trials per sweep")
    parser.add_argument("--projects", default=",".join(PROJECTS))
    parser.add_argument("--backends", default="optuna,ray")
    args = parser.parse_args()
    started = time.perf_counter()
    table = []
    with temp_dir("ttt") as tmp:
        ws = tmp / "ws"
        for project in args.projects.split(","):
            targets = PROJECTS[project]
            for backend in args.backends.split(","):
                for method, extra in METHODS.items():
                    flags = extra[backend] if isinstance(extra, dict) else extra
                    name = f"{project}-{backend}-{method}".replace("_", "-")
                    log(name)
                    done = subprocess.run(
                        [SWEEPLAB, "sweep", str(REPO / "projects" / f"{project}.yaml"),
                         "--name", name, "-w", str(ws), "--trials", str(args.budget),
                         "--backend", backend, "--log-models", "none", *flags],
                        capture_output=True, text=True, timeout=1800, check=False,
                    )  # fmt: skip
                    row = {"project": project, "backend": backend, "method": method,
                           "exit_code": done.returncode}  # fmt: skip
                    if done.returncode == 0:
                        row.update(_curve(f"sqlite:///{ws / 'mlflow.db'}", name, targets))
                    else:
                        row["error"] = (done.stderr or done.stdout).strip().splitlines()[-1:]
                    log(row)
                    table.append(row)
    emit("time_to_target", {"budget": args.budget, "table": table}, started=started)


if __name__ == "__main__":
    main()
