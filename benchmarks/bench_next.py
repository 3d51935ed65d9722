"""`sweeplab next` against `refine --top 5` and more trials of the same space (JSON on stdout).

Two deliberately mis-specified first sweeps on digits (N trials each, random search):

* underfit — tiny MLPs (2–6 units), 2 epochs, a small learning rate: avoidable bias dominates;
* overfit — wide MLPs (256–1024 units) trained on 10 % of a train split of half the data
  (``train.train_share: 0.1``, 90 examples, as a user does for quick first sweeps), no
  regularization: variance.

For each seed and each, a second round of N trials three ways: ``sweeplab next``, ``sweeplab
refine --top 5``, and N more trials of the same space (the first sweep resumed to 2N trials:
the random sequence depends only on the seed and the trial's index, so its first N trials are
the first sweep's). Reported per seed: the diagnosis `next` acted on, the knobs its written
space changed (and whether they are that diagnosis's knobs), each way's best dev error after the
two rounds (the better of the first round's and the second's) with its 95 % Wilson interval, whether `next` beats each other way beyond noise (Newcombe), and the
trials to reach a fixed dev error: the two-round `next` chain against 2N trials of the first
space. Summary: means, standard deviations, win counts.

    python benchmarks/bench_next.py --seeds 0 1 2 3 --trials 15
    python benchmarks/bench_next.py --quick          # 2 seeds, 6 trials a round
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

PROJECTS = {
    "underfit": {
        "project": """
name: bench-next-underfit
data:
  source: sklearn:digits
  splits: {train: 0.7, train_dev: 0.1, dev: 0.2}
  seed: 0
model: {name: mlp, num_layers: 1}
train: {epochs: 2, batch_size: 64, optimizer: adam}
human_level_error: 0.01
search: {space: space.yaml, sampler: random}
""",
        "space": """
parameters:
  learning_rate: {distribution: log_uniform, min: 3.0e-4, max: 3.0e-3}
  hidden_units: {distribution: int_log_uniform, min: 2, max: 6}
""",
        "expected": "avoidable_bias",
        "target": 0.35,
    },
    "overfit": {
        "project": """
name: bench-next-overfit
data:
  source: sklearn:digits
  splits: {train: 0.5, train_dev: 0.1, dev: 0.2, test: 0.2}
  seed: 0
model: {name: mlp, num_layers: 2}
train: {epochs: 15, batch_size: 32, optimizer: adam, train_share: 0.1}
human_level_error: 0.01
search: {space: space.yaml, sampler: random}
""",
        "space": """
parameters:
  learning_rate: {distribution: log_uniform, min: 1.0e-3, max: 1.0e-2}
  hidden_units: {distribution: int_log_uniform, min: 256, max: 1024}
""",
        "expected": "variance",
        "target": 0.08,
    },
}


def _cli(args: list[str]) -> int:
    from sweeplab.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(args)
    if rc != 0:
        raise RuntimeError(f"sweeplab {' '.join(args)} exited {rc}: {err.getvalue()[-500:]}")
    return rc


def _best(name: str, ws: Path) -> tuple[float, list[float]]:
    """The best dev error and the dev errors in trial order (failed / pruned: inf)."""
    from sweeplab.reports._dashboard_trials import load_sweep

    s = load_sweep(name, workspace=ws)
    best = s.top_feasible(1)[0].value("dev_error")
    by_number = sorted(s.trials, key=lambda t: t.number)
    return best, [t.metrics.get("dev_error", float("inf")) for t in by_number]


def _narrowed(old, new, name: str) -> bool:
    """``name``'s new range lies inside its old one (refine's narrowing)."""
    if name not in old or name not in new:
        return False
    a, b = old[name].distribution, new[name].distribution
    if hasattr(a, "low") and hasattr(b, "low"):
        return a.low <= b.low <= b.high <= a.high
    return all(a.contains(v) for v in getattr(b, "values", ()))


def _first_at(errors: list[float], target: float) -> int | None:
    return next((i + 1 for i, e in enumerate(errors) if e <= target), None)


def run_case(case: str, seed: int, trials: int, root: Path) -> dict:
    from sweeplab.analysis import distinguishable, wilson_interval
    from sweeplab.space import load_space
    from sweeplab.space._derive import KNOBS

    spec = PROJECTS[case]
    d = root / f"{case}-{seed}"
    d.mkdir(parents=True)
    (d / "project.yaml").write_text(spec["project"])
    (d / "space.yaml").write_text(spec["space"])
    ws = str(d / "ws")
    common = ["--workspace", ws]
    t0 = time.perf_counter()
    _cli(["sweep", str(d / "project.yaml"), "--name", "r1", "--trials", str(trials),
          "--seed", str(seed), *common])  # fmt: skip
    _cli(["next", "r1", "--trials", str(trials), "--name", "next", "--force", *common])
    _cli(["refine", "r1", "--top", "5", "--trials", str(trials), "--name", "refine", *common])
    # the same space, N more trials: the first sweep taken up to 2N
    _cli(["sweep", str(d / "project.yaml"), "--name", "r1", "--resume", "--trials",
          str(2 * trials), *common])  # fmt: skip
    wall = time.perf_counter() - t0

    from sweeplab.reports._dashboard_trials import load_sweep

    r1 = load_sweep("r1", workspace=Path(ws))
    n = int(dict(p.split("=") for p in r1.parent_params["splits"].split())["dev"])
    tags = load_sweep("next", workspace=Path(ws)).parent_tags
    problem = tags.get("sweeplab.derived_for")
    old, new = load_space(d / "space.yaml"), load_space(Path(ws) / "sweeps" / "next" / "next.yaml")
    changed = sorted(
        k
        for k in set(old.names) | set(new.names)
        if k not in old or k not in new or old[k] != new[k]
    )
    first_errors = _best("r1", Path(ws))[1]
    round1 = first_errors[:trials]
    # the best a user holds after two rounds: the first round's best or the second's
    best = {
        "next": min(min(round1), _best("next", Path(ws))[0]),
        "refine": min(min(round1), _best("refine", Path(ws))[0]),
        "same_space": min(first_errors),
        "round1": min(round1),
    }
    ci = {k: wilson_interval(v, n) for k, v in best.items() if v is not None}
    next_errors = _best("next", Path(ws))[1]
    target = spec["target"]
    at_chain = _first_at(round1, target) or (
        trials + i if (i := _first_at(next_errors, target)) else None
    )
    return {
        "case": case,
        "seed": seed,
        "trials_per_round": trials,
        "dev_n": n,
        "diagnosis": problem,
        "diagnosis_expected": problem == spec["expected"],
        "knobs_changed": changed,
        # the diagnosis's knobs moved; any other parameter only narrowed (coarse to fine)
        "knobs_are_the_diagnosis_s": bool(set(changed) & KNOBS.get(problem, set()))
        and all(_narrowed(old, new, k) for k in set(changed) - KNOBS.get(problem, set())),
        "best_dev_error": best,
        "ci95": {k: [round(c.low, 4), round(c.high, 4)] for k, c in ci.items()},
        "next_lower_than": {
            k: best["next"] < best[k] for k in ("refine", "same_space") if best[k] is not None
        },
        "next_lower_beyond_noise": {
            k: best["next"] < best[k] and distinguishable(best["next"], best[k], n)
            for k in ("refine", "same_space")
            if best[k] is not None
        },
        "target": target,
        "trials_to_target": {
            "next_chain": at_chain,
            "first_space_2n": _first_at(first_errors, target),
        },
        # every trial's dev error in trial order (another target can be read off these)
        "dev_errors": {"first_space_2n": first_errors, "next": next_errors},
        "wall_s": round(wall, 1),
    }


def summarize(rows: list[dict]) -> dict:
    out = {}
    for case in sorted({r["case"] for r in rows}):
        rs = [r for r in rows if r["case"] == case]
        stats = {}
        for way in ("round1", "next", "refine", "same_space"):
            vals = [r["best_dev_error"][way] for r in rs if r["best_dev_error"][way] is not None]
            if vals:
                stats[way] = {
                    "mean": round(statistics.fmean(vals), 4),
                    "sd": round(statistics.stdev(vals), 4) if len(vals) > 1 else None,
                    "min": round(min(vals), 4),
                    "max": round(max(vals), 4),
                }
        out[case] = {
            "seeds": len(rs),
            "diagnosis_as_expected": sum(r["diagnosis_expected"] for r in rs),
            "knobs_are_the_diagnosis_s": sum(r["knobs_are_the_diagnosis_s"] for r in rs),
            "best_dev_error": stats,
            "next_beats_both": sum(all(r["next_lower_than"].values()) for r in rs),
            "next_beats_both_beyond_noise": sum(
                all(r["next_lower_beyond_noise"].values()) for r in rs
            ),
            "trials_to_target": [r["trials_to_target"] for r in rs],
        }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    ap.add_argument("--trials", type=int, default=15, help="trials per round")
    ap.add_argument("--cases", nargs="+", default=list(PROJECTS), choices=list(PROJECTS))
    ap.add_argument("--quick", action="store_true", help="2 seeds, 6 trials a round")
    args = ap.parse_args(argv)
    if args.quick:
        args.seeds, args.trials = args.seeds[:2], 6
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-next-") as tmp:
        for seed in args.seeds:
            for case in args.cases:
                rows.append(run_case(case, seed, args.trials, Path(tmp)))
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print(json.dumps({"runs": rows, "summary": summarize(rows)}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
