"""Target 6: start-up — ``sweeplab --help``, and ``sweeplab sweep`` until its first trial runs.

* ``help_s``: wall time of the ``sweeplab --help`` console script in a fresh process
  (median of 5 after one warm-up run);
* ``sweep_to_first_trial_s``: from launching ``sweeplab sweep`` (a fresh process, through the
  same ``main``) until ``run_trial`` is first called — imports, project and space loading,
  data and split manifest, MLflow store and parent run, Optuna study — in a new workspace
  (the MLflow database is created) and in an existing one;
* ``help_imports``: ``python -X importtime`` of what ``sweeplab --help`` imports — the top
  offenders by cumulative time, and which heavy libraries are loaded at all (none of torch,
  optuna, mlflow, ray, pandas, sklearn should be).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from _common import VENV_BIN, cli_args, emit, log, median, spread, temp_dir, write_project

HEAVY = (
    "torch",
    "optuna",
    "mlflow",
    "ray",
    "pandas",
    "sklearn",
    "scipy",
    "numpy",
    "pydantic",
    "rich",
    "typer",
    "plotly",
    "jinja2",
    "sqlalchemy",
)

# Run `sweeplab sweep` and stop the process at its first trial: the time it printed is
# when the sweep's first trial started. (Importing the Optuna backend module first changes
# only the order of imports the sweep makes anyway.)
_FIRST_TRIAL = """
import os, sys, time
import sweeplab.tuning._optuna as backend
def first(*args, **kwargs):
    print(f"FIRST_TRIAL {time.time()!r}", file=sys.stderr, flush=True)
    os._exit(0)
backend.run_trial = first
from sweeplab.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _help_times(n: int) -> list[float]:
    exe = str(VENV_BIN / "sweeplab")
    times = []
    for i in range(n + 1):
        t0 = time.perf_counter()
        subprocess.run([exe, "--help"], check=True, capture_output=True)
        if i:  # the first run warms the file cache
            times.append(time.perf_counter() - t0)
    return times


def _parse_importtime(stderr: str, loaded: str) -> dict:
    """Top imports by cumulative time, self time summed per top-level package, heavy ones."""
    rows = []
    for line in stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if m:
            rows.append((int(m[1]), int(m[2]), (len(m[3]) - 1) // 2, m[4]))
    by_package: dict[str, int] = {}
    for self_us, _, _, name in rows:
        pkg = name.split(".")[0]
        by_package[pkg] = by_package.get(pkg, 0) + self_us
    # the modules sweeplab imports directly or one level down, by cumulative time
    top = sorted(((cum, name) for _, cum, depth, name in rows if depth <= 1), reverse=True)
    return {
        "total_import_s": round(sum(r[0] for r in rows) / 1e6, 3),
        "top_offenders": [{"module": n, "cumulative_s": round(us / 1e6, 3)} for us, n in top[:12]],
        "self_time_by_package_s": {
            k: round(v / 1e6, 3) for k, v in sorted(by_package.items(), key=lambda kv: -kv[1])[:12]
        },
        "heavy_modules_loaded": [m for m in HEAVY if f"'{m}'" in loaded],
    }


def _importtime() -> dict:
    code = "from sweeplab.cli import main; main(['--help']); import sys; print(sorted(sys.modules))"
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, check=True
    )
    return _parse_importtime(proc.stderr, proc.stdout.strip().splitlines()[-1])


def _sweep_importtime(project: Path, workspace: Path) -> dict:
    code = _FIRST_TRIAL.replace(
        "    os._exit(0)", "    print(sorted(sys.modules), flush=True)\n    os._exit(0)"
    )
    argv = [sys.executable, "-X", "importtime", "-c", code, "sweep", str(project), "--trials", "1"]
    argv += ["--workspace", str(workspace), "--name", "importtime"]
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=workspace.parent)
    loaded = [line for line in proc.stdout.splitlines() if line.startswith("[")]
    return _parse_importtime(proc.stderr, loaded[-1] if loaded else "")


def _first_trial(project: Path, workspace: Path, name: str) -> float:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    argv = [sys.executable, "-c", _FIRST_TRIAL, "sweep", str(project), "--trials", "1"]
    argv += ["--workspace", str(workspace), "--name", name]
    t0 = time.time()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=workspace.parent)
    m = re.search(r"FIRST_TRIAL (\S+)", proc.stderr)
    if not m:
        raise RuntimeError(f"the sweep never started a trial:\n{proc.stderr[-2000:]}")
    return float(m[1]) - t0


def main() -> None:
    args = cli_args(__doc__.splitlines()[0])
    started = time.perf_counter()
    n = 1 if args.quick else 3
    help_times = _help_times(5)
    log(f"sweeplab --help: {median(help_times):.3f} s")
    imports = _importtime()
    log(f"--help imports {imports['total_import_s']} s; heavy: {imports['heavy_modules_loaded']}")
    fresh, existing = [], []
    with temp_dir("startup") as folder:
        project = write_project(
            folder,
            name="bench-startup",
            train={"epochs": 1},
            space={"learning_rate": {"value": 0.001}},
        )
        for i in range(n):
            fresh.append(_first_trial(project, folder / f"fresh{i}", f"s{i}"))
            existing.append(_first_trial(project, folder / "fresh0", f"again{i}"))
        sweep_imports = _sweep_importtime(project, folder / "fresh0")
    log(
        f"sweep -> first trial: new workspace {median(fresh):.2f} s, existing {median(existing):.2f} s"
    )
    emit(
        "startup",
        {
            "what": __doc__.split("\n\n", 1)[1].strip(),
            "help_s": spread(help_times),
            "help_imports": imports,
            "sweep_to_first_trial_s": {
                "new_workspace": spread(fresh),
                "existing_workspace": spread(existing),
            },
            "sweep_imports": sweep_imports,
        },
        started=started,
    )


if __name__ == "__main__":
    main()
