"""Helpers shared by the ``bench_*.py`` modules: timing, the machine, project files, JSON.

Every benchmark prints one JSON object on stdout (progress goes to stderr). Ratios are
measured side by side in one process, the two variants interleaved (A B A B …) so that a
neighbour's load on the machine hits both alike; each figure is the median of the repeats.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

# Intra-op threads of torch in every benchmark (and in Ray workers, which inherit the
# environment). 1 by default: on a 2-core machine that others share, torch's default of one
# thread per core stalls small models badly (a spinning thread waits for a descheduled one);
# set SWEEPLAB_BENCH_THREADS=2 to measure with the default on an idle machine.
THREADS = int(os.environ.get("SWEEPLAB_BENCH_THREADS", "1"))
os.environ["OMP_NUM_THREADS"] = str(THREADS)
os.environ["MKL_NUM_THREADS"] = str(THREADS)

ROOT = Path(__file__).resolve().parent.parent
PROJECTS = ROOT / "projects"
SPACES = ROOT / "search_spaces"
VENV_BIN = Path(sys.executable).parent

__all__ = [
    "ROOT",
    "THREADS",
    "calibrate_epochs",
    "cli_args",
    "emit",
    "interleaved",
    "load_context",
    "log",
    "machine",
    "median",
    "plain_trial",
    "spread",
    "stdout_to_stderr",
    "temp_dir",
    "timed",
    "write_project",
]


def log(*parts: Any) -> None:
    """Progress on stderr, so stdout stays one JSON object."""
    print("[bench]", *parts, file=sys.stderr, flush=True)


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def spread(values: list[float]) -> dict[str, float]:
    """Median, min, max and (n > 1) standard deviation of repeated measurements; NaNs (a
    measure that does not apply to a repeat, e.g. recall with nothing to find) are left out
    and counted as ``undefined``."""
    undefined = sum(1 for v in values if math.isnan(v))
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return {"n": 0, "undefined": undefined}
    out = {"median": median(values), "min": float(min(values)), "max": float(max(values))}
    out["n"] = len(values)
    if undefined:
        out["undefined"] = undefined
    if len(values) > 1:
        out["stdev"] = float(statistics.stdev(values))
    return out


def interleaved(
    variants: dict[str, Callable[[], Any]], *, repeats: int, warmup: int = 1
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Run each variant ``repeats`` times, alternating who goes first; returns the wall times
    and the process CPU times (all threads) of each. A variant may return ``(wall, cpu)``
    of its own timed section; otherwise the whole call is timed. Warm-ups are discarded.

    CPU time is reported beside wall time because the benchmark machine may be shared: a
    neighbour's load stretches wall time, much less the CPU time our process spends.
    """
    wall: dict[str, list[float]] = {k: [] for k in variants}
    cpu: dict[str, list[float]] = {k: [] for k in variants}
    for r in range(warmup + repeats):
        order = list(variants.items())
        if r % 2:
            order.reverse()
        for name, fn in order:
            t0, c0 = time.perf_counter(), time.process_time()
            got = fn()
            dt, dc = (time.perf_counter() - t0, time.process_time() - c0) if got is None else got
            if r >= warmup:
                wall[name].append(float(dt))
                cpu[name].append(float(dc))
    return wall, cpu


def timed(fn: Callable[[], Any]) -> tuple[float, float]:
    """``(wall, cpu)`` seconds of one call."""
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


def machine() -> dict[str, Any]:
    """CPU model, cores, load, and the versions of the libraries the figures depend on."""
    from importlib.metadata import PackageNotFoundError, version

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = {}
    for pkg in ("torch", "optuna", "mlflow", "ray", "numpy", "scikit-learn", "sweeplab"):
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            versions[pkg] = None
    info: dict[str, Any] = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "versions": versions,
        "torch_threads": THREADS,
    }
    with contextlib.suppress(OSError):
        info["load_avg_1_5_15"] = [round(x, 2) for x in os.getloadavg()]
    return info


def write_project(
    folder: Path,
    *,
    name: str = "bench-digits",
    model: dict[str, Any] | None = None,
    train: dict[str, Any] | None = None,
    space: dict[str, Any] | None = None,
    sampler: str = "random",
    trials: int = 4,
    seed: int = 0,
    splits: str = "{train: 0.7, train_dev: 0.1, dev: 0.1, test: 0.1}",
) -> Path:
    """A project YAML on sklearn's digits (and its search space, when given) in ``folder``."""
    import json as _json

    folder.mkdir(parents=True, exist_ok=True)
    model = model or {"name": "mlp", "activation": "relu", "init": "he"}
    train = {"epochs": 10, "batch_size": 64, "optimizer": "adam", **(train or {})}
    lines = [
        f"name: {name}",
        "data:",
        "  source: sklearn:digits",
        f"  splits: {splits}",
        "  seed: 0",
        "task: multiclass",
        f"model: {_json.dumps(model)}",
        f"train: {_json.dumps(train)}",
        "metrics:",
        "  optimize: {name: dev_error, goal: minimize}",
        "human_level_error: {error: 0.01}",
    ]
    search = f"search: {{sampler: {sampler}, trials: {trials}, seed: {seed}"
    if space is not None:
        space_file = folder / f"{name}.space.yaml"
        body = "\n".join(f"  {k}: {_json.dumps(v)}" for k, v in space.items())
        space_file.write_text(f"parameters:\n{body}\n")
        search += f", space: {space_file.name}"
    lines.append(search + "}")
    path = folder / f"{name}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


@contextlib.contextmanager
def temp_dir(prefix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=f"sweeplab-bench-{prefix}-") as d:
        yield Path(d)


def cli_args(description: str, extra: list[tuple[str, dict[str, Any]]] = ()) -> argparse.Namespace:
    """``--quick``, and the benchmark's own options (``extra``: name, add_argument keywords)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="fewer repeats and trials")
    for name, kwargs in extra:
        parser.add_argument(name, **kwargs)
    return parser.parse_args()


def emit(name: str, result: dict[str, Any], *, started: float) -> None:
    """Print the benchmark's JSON: its figures, the machine, its own wall time."""
    out = {
        "benchmark": name,
        **result,
        "machine": machine(),
        "bench_wall_s": round(time.perf_counter() - started, 2),
    }
    print(json.dumps(out, indent=2, default=float))


def plain_trial(ctx: Any, cfg: Any) -> None:
    """What a user's own loop does for one trial: seed, build the model, ``fit``."""
    from sweeplab.models import build_model
    from sweeplab.training import TrainData, fit, seed_everything

    seed_everything(cfg.seed)
    model = build_model(
        ctx.model_name,
        ctx.model_args,
        input_shape=ctx.tensors.input_shape,
        num_outputs=ctx.tensors.num_classes,
    )
    splits = ctx.tensors.splits
    evals = {k: v for k, v in splits.items() if k in ("train_dev", "dev")}
    fit(model, TrainData(train=splits["train"], evals=evals), cfg, task=ctx.task)


def load_context(project: Path) -> Any:
    """The sweep's shared context (data loaded, split, tensors), as ``setup_sweep`` builds it."""
    from sweeplab.tasks import load_project, prepare_context

    ctx, _, _ = prepare_context(load_project(project))
    return ctx


def calibrate_epochs(ctx: Any, target_s: float, *, lo: int = 3, hi: int = 400) -> int:
    """Epochs of the project's training run that take about ``target_s`` here, now: the
    slope between a short and a longer run (so the first epoch's warm-up and the model's
    construction are not taken for per-epoch time), the best of three tries each."""
    short, long = 3, 15

    def best_of_3(epochs: int) -> float:
        cfg = ctx.project.train.model_copy(update={"epochs": epochs})
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            plain_trial(ctx, cfg)
            times.append(time.perf_counter() - t0)
        return min(times)

    best_of_3(short)  # warm-up
    t_short, t_long = best_of_3(short), best_of_3(long)
    per_epoch = max(1e-6, (t_long - t_short) / (long - short))
    fixed = max(0.0, t_short - short * per_epoch)
    return max(lo, min(hi, round((target_s - fixed) / per_epoch)))


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """The CLI prints its tables on stdout; a benchmark's stdout is its JSON only."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


def sweep_runs(uri: str, sweep: str, kind: str = "trial") -> list:
    """A sweep's runs of ``kind`` (trial | sweep) in the store ``uri``, read with MlflowClient."""
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    return client.search_runs(
        [e.experiment_id for e in client.search_experiments()],
        filter_string=f"tags.`sweeplab.sweep` = '{sweep}' and tags.`sweeplab.kind` = '{kind}'",
        max_results=5000,
    )
