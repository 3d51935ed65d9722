"""Behaviour snapshot: `sweeplab runs --json` of seeded sweeps, to compare two versions.

Runs a seeded sweep of projects/digits_mlp.yaml on the Optuna and the Ray backend (6 trials
each) and a one-trial sweep of every shipped project, each in a fresh workspace, and prints
one JSON object: {sweep label: the trials of `sweeplab runs --json`, run ids and times
removed}. Compare two snapshots with `--compare A.json B.json`.

    python benchmarks/snapshot_runs.py > after.json
    python benchmarks/snapshot_runs.py --compare before.json after.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Values that differ between two runs of the same code (ids, clocks, host speed).
VOLATILE = (
    "run_id",
    "start",
    "end",
    "duration",
    "time",
    "latency_ms",
    "epoch_time_s",
    "style_seconds",
)


def _clean(value):
    if isinstance(value, dict):
        return {
            k: _clean(v)
            for k, v in sorted(value.items())
            if not any(part in k for part in VOLATILE)
        }
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, float) and math.isfinite(value):
        return round(value, 6)
    return value


def _sweep(project: Path, args: list[str], ws: Path) -> dict:
    exe = [
        sys.executable,
        "-c",
        "import sys; from sweeplab.cli import entrypoint; sys.argv[0] = 'sweeplab'; entrypoint()",
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    run = subprocess.run(
        [*exe, "sweep", str(project), "--workspace", str(ws), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    if run.returncode != 0:
        return {"sweep_failed": run.returncode, "stderr": run.stderr.strip().splitlines()[-3:]}
    out = subprocess.run(
        [*exe, "runs", "--json", "--workspace", str(ws)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    table = json.loads(out.stdout)
    rows = sorted(table["trials"], key=lambda r: r["trial"])
    return _clean({"objective": table["objective"], "goal": table["goal"], "trials": rows})


def snapshot(only: list[str] | None) -> dict:
    result = {}
    with tempfile.TemporaryDirectory() as tmp:
        jobs = [
            (
                "digits_mlp/optuna",
                ROOT / "projects/digits_mlp.yaml",
                ["--trials", "6", "--seed", "3"],
            ),
            (
                "digits_mlp/ray",
                ROOT / "projects/digits_mlp.yaml",
                ["--trials", "6", "--seed", "3", "--backend", "ray", "--max-concurrent", "1"],
            ),
        ]
        for p in sorted((ROOT / "projects").glob("*.yaml")):
            jobs.append((f"{p.stem}/one-trial", p, ["--trials", "1", "--seed", "0"]))
        for i, (label, project, args) in enumerate(jobs):
            if only and not any(o in label for o in only):
                continue
            ws = Path(tmp) / f"ws{i}"
            if "finetune" in project.stem:  # needs its pre-training sweep in the same workspace
                pre = project.with_name(project.name.replace("finetune", "pretrain"))
                _sweep(pre, ["--trials", "1", "--seed", "0"], ws)
            result[label] = _sweep(project, args, ws)
            print(f"{label}: done", file=sys.stderr)
    return result


def compare(a: dict, b: dict) -> int:
    bad = 0
    for label in sorted(set(a) | set(b)):
        same = a.get(label) == b.get(label)
        bad += not same
        print(json.dumps({"sweep": label, "same": same}))
        if not same:
            print(json.dumps({"before": a.get(label), "after": b.get(label)})[:4000])
    print(json.dumps({"sweeps": len(set(a) | set(b)), "different": bad}))
    return 1 if bad else 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"))
    ap.add_argument("--only", nargs="*")
    ns = ap.parse_args()
    if ns.compare:
        sys.exit(compare(*(json.loads(Path(p).read_text()) for p in ns.compare)))
    print(json.dumps(snapshot(ns.only), indent=1, sort_keys=True))
