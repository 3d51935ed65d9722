"""Per-trial overhead of the Ray Tune backend.

Sweeps of one-epoch trials on digits, one trial at a time (``max_concurrent=1``), on one local
Ray started here (so ``run_ray`` joins it). Each sweep pays once for its Tuner and actor
start-up, so the per-trial cost is the slope between a short and a long sweep, and the
overhead per trial is that slope minus the time spent inside ``run_trial``:
``((fit_long − fit_short) − (train_long − train_short)) / (N_long − N_short)``: what Tune adds
around a trial (scheduling, the reused actor, results, Tune's state saves, the MLflow child
run). Measured with Tune's experiment state saved at every step (the backend's default, so a
killed driver loses no finished trial) and with Tune's own period ("auto", ≥ 10 s).
The Optuna backend's time per trial is given for comparison.

    .venv/bin/python benchmarks/ray_overhead.py [--quick]
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import cli_args, emit, log, temp_dir, write_project  # noqa: E402

SPACE = {
    "learning_rate": {"distribution": "log_uniform", "min": 1.0e-3, "max": 3.0e-2},
    "hidden_units": {"values": [16, 32]},
}


def _ray_fit(project: Path, ws: Path, name: str, trials: int) -> tuple[float, float]:
    """(Tuner.fit wall time, Σ time inside run_trial) of one sweep."""
    from sweeplab.tuning import RayFitDone, SweepSettings, run_sweep

    got: dict = {}

    def progress(event) -> None:
        if isinstance(event, RayFitDone):
            got.update(fit_s=event.fit_s, train_s=event.train_s)

    settings = SweepSettings(
        project_path=project,
        workspace=ws,
        name=name,
        trials=trials,
        backend="ray",
        max_concurrent=1,
    )
    outcome = run_sweep(settings, progress=progress)
    assert len(outcome.trials) == trials and all(t.status == "finished" for t in outcome.trials)
    return got["fit_s"], got["train_s"]


def _runs(ws: Path, sweep: str) -> list[tuple[float, float]]:
    """(start, end) seconds of the sweep's child runs, in start order."""
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{ws / 'mlflow.db'}")
    runs = client.search_runs(
        [e.experiment_id for e in client.search_experiments()],
        filter_string=f"tags.`sweeplab.sweep` = '{sweep}' and tags.`sweeplab.kind` = 'trial'",
    )
    return sorted((r.info.start_time / 1000, r.info.end_time / 1000) for r in runs)


def _overhead(project: Path, ws: Path, tag: str, short: int, long: int) -> dict[str, float]:
    from _common import median

    fs, ts = _ray_fit(project, ws, f"{tag}-short", short)
    fl, tl = _ray_fit(project, ws, f"{tag}-long", long)
    runs = _runs(ws, f"{tag}-long")
    # One trial at a time: the gap between a child run's end and the next one's start is what
    # Tune adds between trials (result, scheduling, reusing the actor, resolving the config).
    gaps = [b[0] - a[1] for a, b in zip(runs, runs[1:], strict=False)]
    return {
        "fit_short_s": fs,
        "fit_long_s": fl,
        "slope_per_trial_s": (fl - fs) / (long - short),
        "slope_overhead_per_trial_s": ((fl - fs) - (tl - ts)) / (long - short),
        "gap_between_trials_median_s": median(gaps),
        "gap_between_trials_max_s": max(gaps),
        "child_run_median_s": median([e - s for s, e in runs]),
        "train_median_s": tl / long,
    }


def _optuna_sweep(project: Path, ws: Path, trials: int) -> dict[str, float]:
    from sweeplab.tuning import SweepSettings, SweepStarted, TrialDone, run_sweep

    marks: dict[str, float] = {}
    durations: list[float] = []

    def progress(event) -> None:
        if isinstance(event, SweepStarted):
            marks["fit_start"] = time.perf_counter()
        if isinstance(event, TrialDone):
            durations.append(event.outcome.duration_s)

    settings = SweepSettings(project_path=project, workspace=ws, name="optuna", trials=trials)
    t0 = time.perf_counter()
    run_sweep(settings, progress=progress)
    loop_s = time.perf_counter() - marks["fit_start"]
    from _common import median

    runs = _runs(ws, "optuna")
    gaps = [b[0] - a[1] for a, b in zip(runs, runs[1:], strict=False)]
    return {
        "total_s": time.perf_counter() - t0,
        "loop_s": loop_s,
        "trial_s": sum(durations),
        "gap_between_trials_median_s": median(gaps),
        "child_run_median_s": median([e - s for s, e in runs]),
    }


def main() -> None:
    import ray

    args = cli_args(__doc__.splitlines()[0])
    started = time.perf_counter()
    short, long = (2, 6) if args.quick else (2, 12)
    results: dict = {"short_trials": short, "long_trials": long}
    t0 = time.perf_counter()
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    results["ray_start_s"] = round(time.perf_counter() - t0, 3)
    with temp_dir("ray-overhead") as d:
        project = write_project(d, train={"epochs": 1, "batch_size": 128}, space=SPACE, trials=long)
        for period in ("0", "auto"):  # the backend's default first
            os.environ["TUNE_GLOBAL_CHECKPOINT_S"] = period
            log(f"ray, Tune state saved every {period} s: {short} and {long} trials")
            r = _overhead(project, d / "ws", f"ray-{period}", short, long)
            results[f"ray_state_save_{period}"] = {k: round(v, 3) for k, v in r.items()}
        ray.shutdown()
        log(f"optuna: {long} one-epoch trials")
        opt = _optuna_sweep(project, d / "ws", long)
        results["optuna"] = {k: round(v, 3) for k, v in opt.items()}
        results["optuna_per_trial_s"] = round(opt["loop_s"] / long, 3)
    emit("ray_overhead", results, started=started)


if __name__ == "__main__":
    main()
