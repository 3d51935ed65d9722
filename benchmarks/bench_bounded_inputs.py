"""Peak memory and time of ``sweeplab`` on oversized inputs (each a fresh process).

* ``grid_trials_2``: a 10^8-point grid (8 parameters x 10 values, a few hundred bytes) with
  ``--trials 2``: two real trials run; ``one_point_trials_2`` is the same sweep over a
  2-point space, the cost of any 2-trial sweep (PyTorch + MLflow + the trials);
* ``grid_no_trials``: the same grid without ``--trials`` (refused);
* ``review_dev_zero``: ``report --review /dev/zero`` (refused at the 50 MB limit);
* ``yaml_37mb``: a 37 MB project file; ``description_50mb``: a project file whose description
  is 50 MB (both refused at the 1 MB limit, before they are parsed).

Each figure: the process's peak resident memory (``ru_maxrss`` from ``wait4``), wall time
and exit code. Not in ``run_all.py``'s targets; run it alone.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from _common import VENV_BIN, cli_args, emit, log, temp_dir

PROJECT = """\
name: bounded
data:
  source: sklearn:iris
  splits: {{train: 0.6, dev: 0.4}}
  seed: 0
model: softmax
train: {{epochs: 1, batch_size: 16, optimizer: adam}}
search: {{space: {space}, sampler: grid}}
"""

# 8 parameters x 10 values: value i of each parameter
VALUE = {
    "learning_rate": lambda i: f"{0.01 * (i + 1):.2f}",
    "batch_size": lambda i: str(8 * (i + 1)),
    "epochs": lambda i: str(i + 1),
    "l2": lambda i: f"{0.001 * i:.3f}",
    "beta1": lambda i: f"{0.8 + 0.01 * i:.2f}",
    "beta2": lambda i: f"{0.99 + 0.001 * i:.3f}",
    "epsilon": lambda i: f"{i + 1}.0e-8",
    "seed": str,
}


def _measure(args: list[str], cwd: Path) -> dict:
    env = {**os.environ, "SWEEPLAB_WORKSPACE": str(cwd / "ws"), "OMP_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [str(VENV_BIN / "sweeplab"), *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    lines = stderr.strip().splitlines()
    return {
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # KiB on Linux
        "wall_s": round(wall, 2),
        "exit_code": proc.returncode,
        "stderr_lines": len(lines),
        "message": lines[-1][:240] if lines else "",
    }


def _write(path: Path, head: str, piece: str, times: int, tail: str) -> None:
    with path.open("w") as f:
        f.write(head)
        for _ in range(times // 4096):
            f.write(piece * 4096)
        f.write(piece * (times % 4096) + tail)


def main() -> None:
    cli_args(__doc__.splitlines()[0])
    started = time.perf_counter()
    out: dict[str, dict] = {}
    with temp_dir("bounded") as d:
        grid = "parameters:\n" + "".join(
            f"  {k}: {{values: [{', '.join(map(f, range(10)))}]}}\n" for k, f in VALUE.items()
        )
        (d / "grid.yaml").write_text(grid)
        (d / "two.yaml").write_text("parameters:\n  seed: {values: [0, 1]}\n")
        (d / "p.yaml").write_text(PROJECT.format(space="grid.yaml"))
        # written in pieces: a forked child's peak counts the parent's memory before exec
        _write(d / "big.yaml", "name: big\nx: [", "1, ", 37 * 1024 * 1024 // 3, "]\n")
        _write(d / "desc.yaml", "name: d\ndescription: ", "d", 50 * 1024 * 1024, "\n")
        cases = {
            "grid_trials_2": ["sweep", "p.yaml", "--trials", "2", "--name", "g"],
            "one_point_trials_2": ["sweep", "p.yaml", "--space", "two.yaml", "--name", "o"],
            "grid_no_trials": ["sweep", "p.yaml"],
            "review_dev_zero": ["report", "--review", "/dev/zero"],
            "yaml_37mb": ["sweep", "big.yaml"],
            "description_50mb": ["sweep", "desc.yaml"],
        }
        import resource

        out["bench_process_peak_mb"] = {
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        }
        for name, args in cases.items():
            log(name)
            out[name] = _measure(args, d)
        out["grid_file_bytes"] = {"bytes": len(grid)}
    emit("bounded_inputs", out, started=started)


if __name__ == "__main__":
    main()
