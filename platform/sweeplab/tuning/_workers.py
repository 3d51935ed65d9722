"""``--jobs N`` on the Optuna backend: N processes on this machine run the sweep's trials at
once. The process the user started drives the sweep (its parent run, its end) and runs trials
too; it starts ``N - 1`` workers, each ``sweeplab sweep PROJECT --name NAME --join``, which run
trials until the sweep has them all. Every process picks its next configuration under the
sweep's claim lock (tuning/_study.py), so the trials are those of the sweep's sequence, each
once, whatever the number of processes (tuning/_sequence.py).

- CPU threads are split: each process trains with ``cores // N`` torch threads (at least 1);
- GPUs (``--gpus-per-trial G``): with ``G >= 1`` worker ``k`` sees its own ``G`` GPUs through
  ``CUDA_VISIBLE_DEVICES`` (round-robin over the machine's GPUs); with a fraction, workers
  share the GPUs round-robin (``1 / G`` processes per GPU);
- a worker ends with its driver however the driver ends (``PR_SET_PDEATHSIG`` on Linux):
  a driver stopped by a signal stops its workers first (their trials are recorded killed),
  and ``--resume`` runs again what they were running.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sweeplab.tuning._settings import SweepSetup

__all__ = ["Workers", "threads_per_job"]

_PR_SET_PDEATHSIG = 1


def threads_per_job(jobs: int) -> int:
    """Torch threads for each of ``jobs`` processes on this machine's cores."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) // max(1, jobs))


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _gpu_env(k: int, gpus_per_trial: float) -> dict[str, str]:
    if gpus_per_trial <= 0:
        return {}
    try:
        import torch

        count = torch.cuda.device_count()
    except Exception:  # noqa: BLE001 - no CUDA build: nothing to assign
        count = 0
    if count == 0:
        return {}
    if gpus_per_trial >= 1:
        g = int(gpus_per_trial)
        ids = [(k * g + i) % count for i in range(g)]
    else:
        ids = [k % count]
    return {"CUDA_VISIBLE_DEVICES": ",".join(map(str, ids))}


class Workers:
    """The ``jobs - 1`` worker processes a driver starts (none with ``jobs`` 1)."""

    def __init__(self, setup: SweepSetup) -> None:
        self.setup = setup
        self.procs: list[subprocess.Popen] = []
        self.logs: list[Path] = []

    def start(self) -> None:
        s = self.setup.settings
        if s.jobs <= 1:
            return
        import torch

        threads = threads_per_job(s.jobs)
        torch.set_num_threads(threads)  # this process is one of the jobs
        base = [
            sys.executable, "-m", "sweeplab", "sweep", str(s.project_path),
            "--name", self.setup.name, "--join", "-w", str(self.setup.workspace.root),
            "--tracking-uri", self.setup.tracking_uri,
        ]  # fmt: skip
        if self.setup.study_storage:
            base += ["--study-storage", self.setup.study_storage]
        if s.log_models:
            base += ["--log-models", s.log_models]
        if s.system_metrics is not None:
            base += ["--system-metrics" if s.system_metrics else "--no-system-metrics"]
        if s.max_failures:
            base += ["--max-failures", str(s.max_failures)]
        for k in range(1, s.jobs):
            log = self.setup.sweep_dir / f"worker-{k}.log"
            env = {
                **os.environ,
                "OMP_NUM_THREADS": str(threads),
                "MKL_NUM_THREADS": str(threads),
                **_gpu_env(k, s.gpus_per_trial),
            }
            with open(log, "ab") as out:
                self.procs.append(
                    subprocess.Popen(
                        base,
                        stdin=subprocess.DEVNULL,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        env=env,
                        preexec_fn=_die_with_parent,
                    )
                )
            self.logs.append(log)

    def wait(self) -> list[str]:
        """Wait for the workers to run out of trials; one line per worker that failed."""
        problems = []
        for k, (proc, log) in enumerate(zip(self.procs, self.logs, strict=True), start=1):
            code = proc.wait()
            if code != 0:
                tail = _last_line(log)
                problems.append(f"worker {k} exited with {code}: {tail} (log: {log})")
        return problems

    def stop(self, signum: int, timeout_s: float = 60.0) -> None:
        """Pass the driver's signal on and wait for the workers to record their trials."""
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signum)
        deadline = time.monotonic() + timeout_s
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _last_line(log: Path) -> str:
    try:
        with open(log, "rb") as f:
            f.seek(max(0, os.path.getsize(log) - 4000))
            lines = [x for x in f.read().decode(errors="replace").splitlines() if x.strip()]
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""
