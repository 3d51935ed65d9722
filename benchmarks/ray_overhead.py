"""Per-trial overhead of the Ray Tune backend.

A sweep of N one-epoch trials on digits, one trial at a time (``--max-concurrent 1``), on a
local Ray. Overhead per trial = (wall time of ``Tuner.fit`` − Σ time inside ``run_trial``) / N:
what Tune adds around the trial (scheduling, the actor and its reuse, results, the MLflow child
run's creation). Ray's start-up and the sweep's setup are reported apart; they are paid once.
The Optuna backend's per-trial overhead is measured the same way for comparison.

    .venv/bin/python benchmarks/ray_overhead.py [--quick]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import cli_args, emit, log, temp_dir, write_project  # noqa: E402

SPACE = {
    "learning_rate": {"distribution": "log_uniform", "min": 1.0e-3, "max": 3.0e-2},
    "hidden_units": {"values": [16, 32]},
}


def _ray_sweep(project: Path, ws: Path, trials: int) -> dict[str, float]:
    from sweeplab.tuning import SweepSettings, run_sweep

    events: dict[str, float] = {}
    marks: dict[str, float] = {}

    def progress(event: str, data: dict) -> None:
        if event == "status" and "Ray" in data.get("message", ""):
            marks.setdefault("ray_start", time.perf_counter())
        if event == "start":
            marks["fit_start"] = time.perf_counter()
        if event == "ray_fit":
            events.update(data)

    t0 = time.perf_counter()
    settings = SweepSettings(
        project_path=project,
        workspace=ws,
        name="ray",
        trials=trials,
        backend="ray",
        max_concurrent=1,
    )
    outcome = run_sweep(settings, progress=progress)
    assert len(outcome.trials) == trials and all(t.status == "finished" for t in outcome.trials)
    return {
        "total_s": time.perf_counter() - t0,
        "setup_and_ray_start_s": marks["fit_start"] - t0,
        "fit_s": events["fit_s"],
        "train_s": events["train_s"],
        "overhead_per_trial_s": (events["fit_s"] - events["train_s"]) / trials,
    }


def _optuna_sweep(project: Path, ws: Path, trials: int) -> dict[str, float]:
    from sweeplab.tuning import SweepSettings, run_sweep

    marks: dict[str, float] = {}
    durations: list[float] = []

    def progress(event: str, data: dict) -> None:
        if event == "start":
            marks["fit_start"] = time.perf_counter()
        if event == "trial":
            durations.append(data["outcome"].duration_s)

    settings = SweepSettings(project_path=project, workspace=ws, name="optuna", trials=trials)
    t0 = time.perf_counter()
    run_sweep(settings, progress=progress)
    loop_s = time.perf_counter() - marks["fit_start"]
    return {"total_s": time.perf_counter() - t0, "loop_s": loop_s, "trial_s": sum(durations)}


def main() -> None:
    args = cli_args(__doc__.splitlines()[0])
    started = time.perf_counter()
    trials = 6 if args.quick else 16
    with temp_dir("ray-overhead") as d:
        project = write_project(
            d, train={"epochs": 1, "batch_size": 128}, space=SPACE, trials=trials
        )
        log(f"ray: {trials} one-epoch trials, one at a time")
        ray = _ray_sweep(project, d / "ws", trials)
        log(f"optuna: {trials} one-epoch trials")
        opt = _optuna_sweep(project, d / "ws", trials)
    emit(
        "ray_overhead",
        {
            "trials": trials,
            "ray": {k: round(v, 3) for k, v in ray.items()},
            "optuna": {k: round(v, 3) for k, v in opt.items()},
            "optuna_loop_per_trial_s": round(opt["loop_s"] / trials, 3),
            "ray_fit_per_trial_s": round(ray["fit_s"] / trials, 3),
        },
        started=started,
    )


if __name__ == "__main__":
    main()
