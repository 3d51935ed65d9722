"""Run every benchmark and write one JSON file with all the figures and the machine.

    python benchmarks/run_all.py [--quick] [--out benchmarks/results/latest.json]
        [--only training,sweep,...]

Each ``bench_*.py`` runs in its own process (so torch threads, imports and Ray do not leak
from one to the next) and prints its JSON; this script gathers them under ``benchmarks``,
adds a ``summary`` (each target, its figure, whether it is met) and the machine, and
prints the summary. A benchmark that fails or runs past its time limit is recorded with its
error; the others still run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from _common import machine

HERE = Path(__file__).resolve().parent
# name -> (module, time limit in seconds for the full run)
BENCHES = {
    "training": ("bench_training.py", 240),
    "sweep": ("bench_sweep.py", 300),
    "tracking": ("bench_tracking.py", 420),
    "models": ("bench_models.py", 180),
    "ray": ("bench_ray.py", 480),
    "search": ("bench_search.py", 600),
    "startup": ("bench_startup.py", 240),
}


def _run(module: str, *, quick: bool, limit: int) -> dict:
    argv = [sys.executable, str(HERE / module)] + (["--quick"] if quick else [])
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=limit, cwd=HERE.parent)
    except subprocess.TimeoutExpired as exc:
        err = (exc.stderr or b"")[-2000:]
        return {"error": f"timed out after {limit} s", "stderr_tail": str(err)}
    wall = round(time.perf_counter() - t0, 1)
    if proc.returncode != 0:
        return {
            "error": f"exit {proc.returncode}",
            "stderr_tail": proc.stderr[-3000:],
            "wall_s": wall,
        }
    try:
        out = json.loads(proc.stdout)
    except json.JSONDecodeError:
        return {"error": "no JSON on stdout", "stdout_tail": proc.stdout[-2000:], "wall_s": wall}
    out.pop("machine", None)  # one machine section for the whole file (loads are in `loads`)
    out["wall_s"] = wall
    return out


def summarize(results: dict) -> list[dict]:
    """One row per target: what, figure, target, met."""
    rows = []

    def row(target: str, figure, goal: str, met) -> None:
        rows.append({"target": target, "figure": figure, "goal": goal, "met": met})

    t = results.get("training", {})
    for name, r in t.get("models", {}).items():
        row(
            f"1 fit vs hand loop ({name}), samples/s ratio",
            r["ratio_fit_over_hand"],
            ">= 0.95",
            r["met"],
        )
        if "ratio_fit_over_hand_fused" in r:
            row(
                f"1 fit vs hand loop with fused Adam too ({name}), samples/s ratio",
                r["ratio_fit_over_hand_fused"],
                "(the loops alone)",
                None,
            )
    if "gpu" in t:
        g = t["gpu"]
        row(
            "GPU vs CPU CNN throughput (fit, LeNet-5), cuda / cpu samples/s",
            g if isinstance(g, str) else g["ratio_cuda_over_cpu"],
            "(report where a GPU exists)",
            None,
        )
    s = results.get("sweep", {})
    if "ratio" in s:
        if "ratio_instrumented" in s:
            row(
                "2 sweep trial phase / its own training time (instrumented), ~2-s trials",
                s["ratio_instrumented"],
                "<= 1.05",
                s["ratio_instrumented_met"],
            )
        row(
            "2 sweep / plain loop wall time, ~2-s trials, paired A/B (median; best / best)",
            [s["ratio"], s.get("ratio_of_best")],
            "<= 1.05 (noisy)",
            s["ratio_met"],
        )
        row(
            "2 fixed cost per trial, ms", s["fixed_cost_per_trial_ms"], "<= 50", s["fixed_cost_met"]
        )
    m = results.get("models", {})
    if "per_trial_overhead_ms" in m:
        over = m["per_trial_overhead_ms"]
        row(
            "log_models best, per trial (a trial that beats the best so far / one that does "
            "not / mean over a 30-trial sweep), ms",
            [over["best_improves"], over["best_not_better"], over["best_sweep_of_30_mean"]],
            "<= 50",
            m["met"],
        )
        row("log_models all, per trial, ms", over["all"], "(reported)", None)
        row(
            "dataset inputs per run (one log_inputs call), wall / CPU ms",
            [m["dataset_inputs_ms_per_run"]["median"], m["dataset_inputs_cpu_ms_per_run"]],
            "(reported)",
            None,
        )
    k = results.get("tracking", {})
    if "overhead_metrics_pct" in k:
        if "overhead_metrics_pct_instrumented" in k:
            row(
                "3 batched metric logging, ~2-s trial, time inside the tracking calls, %",
                k["overhead_metrics_pct_instrumented"]["batched"],
                "<= 3",
                k["met_instrumented"],
            )
            row(
                "3 batched logging, ~2-s trial, whole run (create, params, end) inside the "
                "tracking calls, %",
                k["overhead_whole_run_pct_instrumented"]["batched"],
                "<= 3",
                k["met_whole_run_instrumented"],
            )
        row(
            "3 batched metric logging, ~2-s trial, A/B trial time difference, %",
            k["overhead_metrics_pct"]["batched"],
            "<= 3 (noisy)",
            k["met"],
        )
        if "met_whole_run" in k:
            row(
                "3 batched logging, whole run, A/B difference (create, params, end, wait), %",
                k["overhead_whole_run_pct"]["batched"],
                "<= 3 (noisy)",
                k["met_whole_run"],
            )
        if "short" in k:
            short = k["short"]
            row(
                "3 batched metric logging on a 20-epoch (~0.3-s) trial, inside the calls / A/B, %",
                [
                    short.get("overhead_metrics_pct_instrumented", {}).get("batched"),
                    short["overhead_metrics_pct"]["batched"],
                ],
                "(report)",
                None,
            )
        row(
            "3 one log_metric per value overhead, %",
            k["overhead_metrics_pct"]["per_value"],
            "(comparison)",
            None,
        )
    r = results.get("ray", {})
    if "overhead_per_trial_s" in r:
        row("4 Ray overhead per trial, s", r["overhead_per_trial_s"], "<= 0.5", r["overhead_met"])
        row(
            "4 Ray throughput 2 vs 1 concurrent (slope between sweeps)",
            r["throughput_ratio_2_over_1"],
            ">= 1.8",
            r["throughput_met"],
        )
        if "steady_throughput_ratio_2_over_1" in r:
            row(
                "4 Ray throughput 2 vs 1 concurrent (steady state, trial end times)",
                r["steady_throughput_ratio_2_over_1"],
                ">= 1.8",
                r["steady_throughput_ratio_2_over_1"] >= 1.8,
            )
            row(
                "4 Ray overhead per trial (steady state), s",
                r["steady_overhead_per_trial_s"],
                "<= 0.5",
                r["steady_overhead_per_trial_s"] <= 0.5,
            )
    elif r:
        row("4 Ray backend", r.get("error"), "runs", False)
    p = results.get("search", {}).get("pruning")
    if p:
        row(
            "5 epochs none / median pruning",
            p["epochs_ratio_none_over_median"]["median"],
            ">= 2",
            p["met"],
        )
        if "asha_vs_none" in p:
            a = p["asha_vs_none"]
            row(
                "5 epochs none / ASHA (Optuna successive halving)",
                a["epochs_ratio_none_over_pruned"]["median"],
                ">= 2",
                a["met"],
            )
        if "hyperband_vs_none" in p:
            h = p["hyperband_vs_none"]
            row(
                "5 epochs none / Hyperband (Optuna)",
                h["epochs_ratio_none_over_pruned"]["median"],
                "(report)",
                None,
            )
    u = results.get("startup", {})
    if "help_s" in u:
        row(
            "6 sweeplab --help, s",
            round(u["help_s"]["median"], 3),
            "(fast; no heavy imports)",
            not (
                set(u["help_imports"]["heavy_modules_loaded"])
                & {"torch", "optuna", "mlflow", "ray", "pandas", "sklearn"}
            ),
        )
        row(
            "6 sweep start -> first trial (existing workspace), s",
            round(u["sweep_to_first_trial_s"]["existing_workspace"]["median"], 2),
            "(report)",
            None,
        )
    for name, res in results.items():
        if "error" in res:
            row(f"{name} benchmark", res["error"], "runs", False)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, trials and seeds")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "latest.json")
    parser.add_argument(
        "--only", default="", help=f"comma-separated subset of: {', '.join(BENCHES)}"
    )
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n] or list(BENCHES)
    unknown = sorted(set(names) - set(BENCHES))
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHES)}")
    started = time.perf_counter()
    before = machine()
    results, loads = {}, {}
    for name in names:
        module, limit = BENCHES[name]
        print(f"[run_all] {name} ...", file=sys.stderr, flush=True)
        results[name] = _run(module, quick=args.quick, limit=limit)
        loads[name] = machine().get("load_avg_1_5_15")
        print(f"[run_all] {name}: {results[name].get('wall_s')} s", file=sys.stderr, flush=True)
    out = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "quick": args.quick,
        "total_wall_s": round(time.perf_counter() - started, 1),
        "machine": before,
        "load_avg_after_each": loads,
        "summary": summarize(results),
        "benchmarks": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2, default=float) + "\n")
    print(
        json.dumps(
            {"out": str(args.out), "total_wall_s": out["total_wall_s"], "summary": out["summary"]},
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
