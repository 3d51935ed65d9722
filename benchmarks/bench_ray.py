"""Target 4: Ray backend — overhead per trial (≤ 0.5 s) and 2-way concurrency (≥ 1.8×).

A local Ray (2 CPUs) is started once by this script, so ``run_ray`` joins it instead of
starting and stopping its own; sweeps go through
``sweeplab.cli.main(["sweep", …, "--backend", "ray", "--cpus-per-trial", "1",
"--max-concurrent", C])`` with Tune's actor reuse (``reuse_actors=True`` in the backend). Every
trial trains the same CPU-bound run (one-constant space) with one torch thread
(``OMP_NUM_THREADS=1``, inherited by the workers).

Each sweep also pays per-sweep costs (parent run, Tuner, actor start-up, final report), so
the per-trial time is the slope between a sweep of C trials (so that the C actors are all
started in both) and one of C + k: ``(T(C + k) − T(C)) / k``.

* overhead per trial = slope at C = 1 − the same trial in a plain loop here (1 thread),
  timed before every sweep (so under the same load as the sweeps);
* throughput ratio = slope at C = 1 / slope at C = 2 (target ≥ 1.8× on 2 cores).

The slope is the difference of two ~10-s sweeps, each moving by ±1 s on this machine, over
4 trials. Beside it, ``steady_*``: in the longer sweep of each C, the time between the C-th
trial's end and the last trial's end (MLflow child runs' end times) over the trials that
ended in between — per-trial time at full concurrency, with no sweep-level cost in it and no
difference of two sweeps.
"""

from __future__ import annotations

import contextlib
import io
import os
import time

from _common import (
    calibrate_epochs,
    cli_args,
    emit,
    load_context,
    log,
    median,
    plain_trial,
    spread,
    temp_dir,
    write_project,
)

MODEL = {"name": "mlp", "activation": "relu", "init": "he", "hidden_units": 256, "num_layers": 2}
SPACE = {"learning_rate": {"value": 0.001}}


def _sweep(project, workspace, *, trials: int, concurrent: int, name: str) -> dict:
    from sweeplab.cli import main as cli_main

    err = io.StringIO()
    argv = [
        "sweep",
        str(project),
        "--backend",
        "ray",
        "--trials",
        str(trials),
        "--cpus-per-trial",
        "1",
        "--max-concurrent",
        str(concurrent),
        "--workspace",
        str(workspace),
        "--name",
        name,
    ]
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(err), contextlib.redirect_stderr(err):
        try:
            rc = cli_main(argv)
        except Exception as exc:  # noqa: BLE001 - a broken backend is a finding, not a crash
            rc = f"{type(exc).__name__}: {exc}"
    dt = time.perf_counter() - t0
    tail = err.getvalue().strip().splitlines()[-6:]
    log(f"ray sweep {name}: {trials} trials, C={concurrent}: {dt:.1f} s, rc={rc}")
    out = {"trials": trials, "concurrent": concurrent, "wall_s": dt, "rc": rc, "output_tail": tail}
    if rc == 0:
        out["trial_end_s"] = _trial_ends(workspace, name)
    return out


def _trial_ends(workspace, name: str) -> list[float]:
    """When each trial of sweep ``name`` ended (its MLflow child run's end time), in seconds
    after the first one ended, in order."""
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{workspace / 'mlflow.db'}")
    ids = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(
        ids, filter_string=f"tags.`sweeplab.sweep` = '{name}' and tags.`sweeplab.kind` = 'trial'"
    )
    ends = sorted(r.info.end_time for r in runs if r.info.end_time)
    return [(e - ends[0]) / 1000 for e in ends]


def _steady_per_trial(sweep: dict) -> float | None:
    """Seconds per trial while the sweep ran at full concurrency C: the time between the
    C-th trial's end and the last one's over the trials that ended in between (start-up of
    Ray, the Tuner and the actors, and the final report, are outside it)."""
    ends, c = sweep.get("trial_end_s") or [], sweep["concurrent"]
    if len(ends) <= c:
        return None
    return (ends[-1] - ends[c - 1]) / (len(ends) - c)


def main() -> None:
    args = cli_args(__doc__.splitlines()[0])
    started = time.perf_counter()
    import logging

    import ray
    import torch

    torch.set_num_threads(1)
    # per concurrency C: a sweep of C trials (every actor started once) and one of C + extra
    extra, repeats = (2, 1) if args.quick else (4, 2)
    result: dict = {"what": __doc__.split("\n\n", 1)[1].strip(), "model": MODEL}
    with temp_dir("ray") as folder:
        probe = write_project(folder / "probe", name="bench-ray-probe", model=MODEL)
        ctx = load_context(probe)
        epochs = calibrate_epochs(ctx, 1.0 if args.quick else 1.5)
        project = write_project(
            folder, name="bench-ray", model=MODEL, train={"epochs": epochs}, space=SPACE
        )
        ctx = load_context(project)
        plain = []
        for _ in range(3):
            t0 = time.perf_counter()
            plain_trial(ctx, ctx.project.train)
            plain.append(time.perf_counter() - t0)
        log(f"plain trial ({epochs} epochs, 1 thread): {median(plain):.2f} s")

        t0 = time.perf_counter()
        # address="local": a new Ray of our own, even when another one runs on this machine
        ray.init(
            address="local",
            num_cpus=2,
            include_dashboard=False,
            object_store_memory=256 * 1024**2,
            logging_level=logging.WARNING,
            log_to_driver=False,
        )
        result["ray_start_s"] = round(time.perf_counter() - t0, 2)
        runs = []
        ws = folder / "ws"
        try:
            runs.append(_sweep(project, ws, trials=1, concurrent=2, name="warmup"))
            for r in range(repeats):
                for c in (1, 2):
                    for n in (c, c + extra):
                        # the baseline trial again, between sweeps: the same load as they see
                        t0 = time.perf_counter()
                        plain_trial(ctx, ctx.project.train)
                        plain.append(time.perf_counter() - t0)
                        runs.append(
                            _sweep(project, ws, trials=n, concurrent=c, name=f"c{c}-n{n}-{r}")
                        )
        finally:
            ray.shutdown()
    ok = all(r["rc"] == 0 for r in runs)
    result.update(
        {
            "epochs_per_trial": epochs,
            "torch_threads_per_trial": 1,
            "plain_trial_s": spread(plain),
            "sweeps": runs,
            "all_sweeps_ok": ok,
        }
    )
    if ok:

        def slope(c: int) -> float:
            t = {
                n: median(
                    [r["wall_s"] for r in runs[1:] if r["concurrent"] == c and r["trials"] == n]
                )
                for n in (c, c + extra)
            }
            return (t[c + extra] - t[c]) / extra

        def steady(c: int) -> float | None:
            got = [
                _steady_per_trial(r)
                for r in runs[1:]
                if r["concurrent"] == c and r["trials"] == c + extra
            ]
            got = [g for g in got if g is not None]
            return median(got) if got else None

        s1, s2 = slope(1), slope(2)
        d1, d2 = steady(1), steady(2)
        if d1 is not None and d2 is not None:
            result.update(
                {
                    "steady_per_trial_s_concurrent_1": round(d1, 3),
                    "steady_per_trial_s_concurrent_2": round(d2, 3),
                    "steady_overhead_per_trial_s": round(d1 - median(plain), 3),
                    "steady_throughput_ratio_2_over_1": round(d1 / d2, 3),
                }
            )
        overhead = s1 - median(plain)
        result.update(
            {
                "per_trial_s_concurrent_1": round(s1, 3),
                "per_trial_s_concurrent_2": round(s2, 3),
                "overhead_per_trial_s": round(overhead, 3),
                "overhead_target": "<= 0.5 s",
                "overhead_met": overhead <= 0.5,
                "throughput_ratio_2_over_1": round(s1 / s2, 3),
                "throughput_target": ">= 1.8",
                "throughput_met": s1 / s2 >= 1.8,
            }
        )
    else:
        result["overhead_met"] = result["throughput_met"] = False
        result["error"] = "a Ray sweep failed; see sweeps[].rc and output_tail"
    result["met"] = bool(result.get("overhead_met") and result.get("throughput_met"))
    emit("ray_backend", result, started=started)


if __name__ == "__main__":
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    main()
