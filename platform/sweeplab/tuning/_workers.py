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
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from sweeplab._processes import die_with_parent
from sweeplab.files import last_line
from sweeplab.tuning._settings import SweepSettings

__all__ = ["JOIN_WAIT_ENV", "Workers", "threads_per_job", "wait_for", "wait_until_ready"]

#: How long a joining worker waits for the sweep's record to appear (its driver's workers
#: start before the driver has written it); 0 (users' --join): it must exist.
JOIN_WAIT_ENV = "SWEEPLAB_JOIN_WAIT_S"
#: A file the driver creates once the study is ready (what a stopped process left is
#: repaired): its workers take trials only then.
READY_ENV = "SWEEPLAB_JOIN_READY"


def wait_for(path: Path, timeout_s: float) -> bool:
    """Wait until ``path`` exists (at most ``timeout_s``); whether it does."""
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def wait_until_ready() -> None:
    """In a worker a driver started: wait for the driver's study to be ready."""
    ready = os.environ.get(READY_ENV)
    if ready:
        wait_for(Path(ready), float(os.environ.get(JOIN_WAIT_ENV, "600")))


def threads_per_job(jobs: int) -> int:
    """Torch threads for each of ``jobs`` processes on this machine's cores."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) // max(1, jobs))


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
    """The ``jobs - 1`` worker processes a driver starts (none with ``jobs`` 1). They are
    started before the driver sets the sweep up, so that their start-up (imports, data)
    overlaps the driver's; each waits for the sweep's record (``JOIN_WAIT_ENV``)."""

    def __init__(self, settings: SweepSettings, name: str, log_dir: Path) -> None:
        self.settings, self.name, self.log_dir = settings, name, log_dir
        self.procs: list[subprocess.Popen] = []
        self.logs: list[Path] = []
        self.ready_file = log_dir / f"ready-{uuid.uuid4().hex}"

    def start(self) -> None:
        s = self.settings
        if s.jobs <= 1:
            return
        import torch

        threads = threads_per_job(s.jobs)
        torch.set_num_threads(threads)  # this process is one of the jobs
        # only what the user gave: a worker reads the rest from the sweep's record
        base = [sys.executable, "-m", "sweeplab", "sweep", str(s.project_path),
                "--name", self.name, "--join"]  # fmt: skip
        if s.workspace is not None:
            base += ["-w", str(s.workspace)]
        if s.tracking_uri:
            base += ["--tracking-uri", s.tracking_uri]
        if s.study_storage:
            base += ["--study-storage", s.study_storage]
        if s.log_models:
            base += ["--log-models", s.log_models]
        if s.system_metrics is not None:
            base += ["--system-metrics" if s.system_metrics else "--no-system-metrics"]
        if s.max_failures:
            base += ["--max-failures", str(s.max_failures)]
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for k in range(1, s.jobs):
            log = self.log_dir / f"worker-{k}.log"
            env = {
                **os.environ,
                "OMP_NUM_THREADS": str(threads),
                "MKL_NUM_THREADS": str(threads),
                JOIN_WAIT_ENV: "600",
                READY_ENV: str(self.ready_file),
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
                        preexec_fn=die_with_parent,
                    )
                )
            self.logs.append(log)

    def ready(self) -> None:
        """The study is ready: the workers may take trials."""
        if self.procs:
            self.ready_file.touch()

    def stop_if_running(self) -> None:
        """The driver ends (or failed before its study was ready): no worker outlives it."""
        self.stop(signal.SIGTERM, timeout_s=30.0)
        self.ready_file.unlink(missing_ok=True)

    def wait(self) -> list[str]:
        """Wait for the workers to run out of trials; one line per worker that failed."""
        problems = []
        for k, (proc, log) in enumerate(zip(self.procs, self.logs, strict=True), start=1):
            code = proc.wait()
            if code != 0:
                tail = last_line(log)[:300]
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
