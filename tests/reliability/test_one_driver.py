"""One driver per sweep (sweeps/<name>/driver.lock): a second `sweeplab sweep` or `--resume`
of a running sweep exits 2 with one line naming the running process; the lock dies with its
holder, a kill -9 included."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from tests.reliability.reliability_helpers import (
    SWEEPLAB,
    child_runs,
    digits_project,
    load_study,
    start_sweep,
    sweeplab_env,
)

from sweeplab.errors import UserError
from sweeplab.tracking import default_tracking_uri
from sweeplab.tuning import sweep_owner
from sweeplab.tuning._owner import LOCK_FILE, own_sweep

_HOLD = """
import sys, time
from pathlib import Path
from sweeplab.tuning._owner import own_sweep
with own_sweep(Path(sys.argv[1]), command=["sweeplab", "sweep", "held-by-test"]):
    print("held", flush=True)
    time.sleep(600)
"""


def _holder(sweep_dir: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(sweep_dir)],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert proc.stdout.readline().strip() == b"held"
    return proc


def test_a_second_driver_is_refused_naming_the_first_and_kill_9_frees_it(tmp_path):
    sweep_dir = tmp_path / "ws" / "sweeps" / "same"
    proc = _holder(sweep_dir)
    try:
        assert f"pid {proc.pid}" in (sweep_owner(sweep_dir) or "")
        with pytest.raises(UserError) as err, own_sweep(sweep_dir):
            pass
        line = str(err.value)
        assert "\n" not in line and f"pid {proc.pid}" in line and "held-by-test" in line
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert sweep_owner(sweep_dir) is None  # the OS released it with the process
    with own_sweep(sweep_dir, command=["second"]):
        assert f"pid {os.getpid()}" in (sweep_owner(sweep_dir) or "")
    assert sweep_owner(sweep_dir) is None


def test_a_folder_left_empty_is_removed_with_its_lock(tmp_path):
    sweep_dir = tmp_path / "sweeps" / "new"
    with own_sweep(sweep_dir):
        assert (sweep_dir / LOCK_FILE).is_file()
    assert not sweep_dir.exists()
    sweep_dir.mkdir(parents=True)
    (sweep_dir / "sweep.json").write_text("{}")
    with own_sweep(sweep_dir):
        pass
    assert (sweep_dir / "sweep.json").is_file()  # a folder it did not create stays


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.mark.slow
def test_sweep_and_resume_of_a_running_sweep_are_refused_and_it_ends_whole(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    # long enough (about 35 s here) for two refused commands to start and end meanwhile
    project = digits_project(tmp_path, epochs=150, trials=4)
    log = tmp_path / "first.log"
    first = start_sweep([str(project), "--name", "same"], ws, log)
    try:
        sweep_dir = ws / "sweeps" / "same"
        _wait_for(lambda: (sweep_dir / "sweep.json").exists(), 240, "the first sweep's record")
        assert f"pid {first.pid}" in (sweep_owner(sweep_dir) or "")
        for args in (["--name", "same"], ["--name", "same", "--resume"]):
            second = subprocess.run(
                [*SWEEPLAB, "sweep", str(project), *args],
                env=sweeplab_env(ws),
                capture_output=True,
                text=True,
                timeout=240,
            )
            out = (second.stdout + second.stderr).strip()
            assert second.returncode == 2, out
            assert len(out.splitlines()) == 1 and f"pid {first.pid}" in out, out
            assert "Traceback" not in out
        assert first.poll() is None, "the first sweep ended before the second tried: lengthen it"
        assert first.wait(timeout=600) == 0, log.read_text()[-3000:]
    finally:
        if first.poll() is None:
            first.kill()
    study = load_study(ws, "same")
    assert Counter(t.state.name for t in study.trials) == {"COMPLETE": 4}
    runs = child_runs(default_tracking_uri(ws), "same")
    assert sorted(int(r.data.tags["sweeplab.trial_number"]) for r in runs) == [0, 1, 2, 3]
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert all("dev_error" in r.data.metrics for r in runs)
