"""A sweep stopped by kill -9, SIGTERM or Ctrl-C (SIGINT) and resumed runs exactly the
configurations the same sweep runs without a stop: the SET of finished configurations, read
back from MLflow, equals an uninterrupted reference run of the same seed, none twice, and no
run is left RUNNING. A signal ends the sweep "interrupted" with one line that says how to
resume it.

Real signals to real ``sweeplab sweep`` processes. A stop "during a trial" is made
deterministic with SIGSTOP: the process is frozen once a new trial's run is RUNNING in MLflow
(created, no end recorded), the signal is sent, and SIGCONT delivers it.
"""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from mlflow import MlflowClient
from tests.conftest import write
from tests.reliability.reliability_helpers import SWEEPLAB, sweeplab_env, trial_run_states

from sweeplab.cli import main
from sweeplab.tracking import default_tracking_uri

pytestmark = pytest.mark.slow

TIMEOUT_S = 300  # generous: CI runs two test workers on two cores; a hang still fails


def _project(tmp_path: Path, *, sampler: str, trials: int) -> Path:
    # 6 epochs: a trial trains for a few tenths of a second, long enough for the 20-ms poll
    # of freeze_during_trial to see it in training on a loaded machine
    rate = (
        "{values: [0.003, 0.03]}"  # 8 grid points
        if sampler == "grid"
        else "{distribution: log_uniform, min: 1.0e-3, max: 3.0e-2}"
    )
    write(
        tmp_path / "space.yaml",
        f"""
        parameters:
          learning_rate: {rate}
          hidden_units: {{values: [16, 32]}}
          optimizer: {{values: [adam, momentum]}}
        """,
    )
    return write(
        tmp_path / "project.yaml",
        f"""
        name: seq-{sampler}
        data:
          source: sklearn:digits
          splits: {{train: 0.7, train_dev: 0.1, dev: 0.2}}
          seed: 0
        model: {{name: mlp, num_layers: 1}}
        train: {{epochs: 6, batch_size: 128, optimizer: adam}}
        search: {{space: space.yaml, sampler: {sampler}, trials: {trials}, seed: 7}}
        """,
    )


class _Sweep:
    """One ``sweeplab sweep`` process of the sweep ``name`` (stderr kept apart)."""

    def __init__(self, project: Path, ws: Path, name: str, *extra: str) -> None:
        self.err = ws.parent / f"{name}-{time.monotonic_ns()}.err"
        args = [str(project), "--name", name, "-w", str(ws), *extra]
        self.proc = subprocess.Popen(
            [*SWEEPLAB, "sweep", *args],
            env=sweeplab_env(ws),
            stdout=subprocess.DEVNULL,
            stderr=self.err.open("wb"),
            cwd=ws.parent,
        )
        self.db = ws / "mlflow.db"
        self.name = name

    def stderr(self) -> str:
        return self.err.read_text(errors="replace")

    def wait(self) -> int:
        try:
            return self.proc.wait(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail(f"the sweep did not end in {TIMEOUT_S} s: {self.stderr()[-2000:]}")

    def trial_runs(self) -> list[tuple[str, str, str]]:
        """(run id, MLflow status, sweeplab.status tag) of the sweep's trial runs."""
        return trial_run_states(self.db, self.name)

    def _poll(self, what: str, ready) -> None:
        deadline = time.monotonic() + TIMEOUT_S
        while not ready():
            assert self.proc.poll() is None, f"the sweep ended before {what}: {self.stderr()}"
            assert time.monotonic() < deadline, f"no {what} in {TIMEOUT_S} s"
            time.sleep(0.02)

    def freeze_after_finished(self, n: int) -> None:
        """SIGSTOP once ``n`` trial runs of the sweep have finished."""
        self._poll(
            f"{n} finished trials",
            lambda: sum(s == "FINISHED" for _, s, _ in self.trial_runs()) >= n,
        )
        self.proc.send_signal(signal.SIGSTOP)

    def _training(self, before: set[str]) -> list[str]:
        """Runs not in ``before`` that are RUNNING with no end recorded (in training)."""
        return [
            r for r, s, tag in self.trial_runs() if r not in before and s == "RUNNING" and not tag
        ]

    def freeze_during_trial(self) -> str:
        """SIGSTOP while a trial this process started trains (its run RUNNING, no end
        recorded); the run's id."""
        before = {r for r, _, _ in self.trial_runs()}
        while True:
            self._poll("trial in training", lambda before=before: self._training(before))
            self.proc.send_signal(signal.SIGSTOP)
            still = self._training(before)
            if still:
                return still[0]
            self.proc.send_signal(signal.SIGCONT)  # it ended meanwhile: the next one
            before |= {r for r, _, _ in self.trial_runs()}

    def signal_frozen(self, signum: int) -> int:
        """Send ``signum`` to the frozen process, let it go on, and wait for its end."""
        self.proc.send_signal(signum)
        self.proc.send_signal(signal.SIGCONT)
        return self.wait()


def _client(ws: Path) -> MlflowClient:
    return MlflowClient(default_tracking_uri(ws))


def _trials(ws: Path, name: str) -> list:
    client = _client(ws)
    exps = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(
        exps,
        filter_string=f"tags.`sweeplab.sweep` = '{name}' and tags.`sweeplab.kind` = 'trial'",
        max_results=1000,
    )


def _configs(
    ws: Path, name: str, names=("train.learning_rate", "model.hidden_units", "train.optimizer")
) -> list:
    """The sampled parameters of the sweep's finished trials, as MLflow stores them."""
    return [
        tuple(r.data.params.get(p) for p in names)
        for r in _trials(ws, name)
        if r.info.status == "FINISHED"
    ]


def _assert_nothing_running(ws: Path, name: str) -> None:
    runs = _trials(ws, name)
    statuses = Counter(r.info.status for r in runs)
    assert statuses["RUNNING"] == 0 and statuses["SCHEDULED"] == 0, statuses
    info = json.loads((ws / "sweeps" / name / "sweep.json").read_text())
    assert _client(ws).get_run(info["parent_run_id"]).info.status != "RUNNING"


def _assert_interrupted(ws: Path, sweep: _Sweep, run_id: str, signum: int, rc: int) -> None:
    """The contract of a signal: its exit code, ONE line on stderr with the exact command that
    resumes the sweep, the trial KILLED with the reason, parent run + sweep.json
    "interrupted", nothing RUNNING."""
    name = signal.Signals(signum).name
    assert rc == 128 + signum, sweep.stderr()
    command = shlex.join(
        ["sweeplab", "sweep", str(sweep.proc.args[2]), "--resume", "--name", sweep.name]
        + ["-w", str(ws)]
    )
    lines = [ln for ln in sweep.stderr().splitlines() if "--resume" in ln]
    assert lines == [f"sweeplab: interrupted ({name}); resume the sweep with: {command}"]
    client = _client(ws)
    killed = client.get_run(run_id)
    assert killed.info.status == "KILLED"
    assert killed.data.tags["sweeplab.status"] == "killed"
    assert f"interrupted ({name})" in killed.data.tags["sweeplab.failure"]
    info = json.loads((ws / "sweeps" / sweep.name / "sweep.json").read_text())
    assert info["status"] == "interrupted"
    parent = client.get_run(info["parent_run_id"])
    assert parent.info.status == "KILLED"
    assert parent.data.tags["sweeplab.status"] == "interrupted"
    _assert_nothing_running(ws, sweep.name)


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Path:
    """One workspace for the module's sweeps (each has its own name): MLflow creates the
    tables of a SQLite store once, which takes seconds."""
    return tmp_path_factory.mktemp("resume-sequence") / "ws"


def _reference(project: Path, ws: Path, name: str) -> list:
    """The uninterrupted sweep of the same seed (in this process: no signal involved)."""
    assert main(["sweep", str(project), "--name", name, "-w", str(ws)]) == 0
    return _configs(ws, name)


def _finish(project: Path, ws: Path, name: str) -> list:
    """Resume ``name`` to its end (in this process); its finished configurations, each once."""
    assert main(["sweep", str(project), "--resume", "--name", name, "-w", str(ws)]) == 0
    got = _configs(ws, name)
    assert len(set(got)) == len(got), f"a configuration ran twice: {got}"
    _assert_nothing_running(ws, name)
    assert json.loads((ws / "sweeps" / name / "sweep.json").read_text())["status"] == "finished"
    return got


def _during_trial_after(sweep: _Sweep, finished: int) -> str:
    """Freeze ``sweep`` in the middle of the first trial it starts once ``finished`` trial
    runs of the sweep have finished; that trial's run id."""
    sweep.freeze_after_finished(finished)
    sweep.proc.send_signal(signal.SIGCONT)
    return sweep.freeze_during_trial()


def test_random_sweep_stopped_by_kill_9_sigterm_and_sigint_runs_the_same_configurations(
    ws, tmp_path
):
    """(kill -9 at random moments too: test_kill_resume.py)"""
    # 9 trials: each freeze point leaves a few to stop in (a trial's end reaches the store
    # from a background sender, so the store can be a trial behind the process)
    project = _project(tmp_path, sampler="random", trials=9)
    reference = _reference(project, ws, "random-ref")
    assert len(set(reference)) == 9

    # kill -9 in the middle of a trial once trials 0 and 1 have finished
    sweep = _Sweep(project, ws, "random-cut")
    _during_trial_after(sweep, 2)
    sweep.proc.kill()
    sweep.wait()

    # SIGTERM in the middle of the next trial this process starts (the killed one runs again)
    sweep = _Sweep(project, ws, "random-cut", "--resume")
    run_id = _during_trial_after(sweep, len(_configs(ws, "random-cut")) + 1)
    _assert_interrupted(ws, sweep, run_id, signal.SIGTERM, sweep.signal_frozen(signal.SIGTERM))

    # Ctrl-C in the middle of a later trial
    sweep = _Sweep(project, ws, "random-cut", "--resume")
    run_id = _during_trial_after(sweep, len(_configs(ws, "random-cut")) + 1)
    _assert_interrupted(ws, sweep, run_id, signal.SIGINT, sweep.signal_frozen(signal.SIGINT))

    assert sorted(_finish(project, ws, "random-cut")) == sorted(reference)


@pytest.mark.parametrize(
    ("sampler", "trials", "finished", "signum"),
    [("grid", 8, 3, signal.SIGKILL), ("tpe", 14, 10, signal.SIGTERM)],
)
def test_grid_and_tpe_sweeps_resume_without_repeating_a_configuration(
    ws, tmp_path, sampler, trials, finished, signum
):
    """grid: every point once, the reference's; tpe, stopped once its 10 random start-up
    trials have run: no configuration twice and the exact trial count."""
    project = _project(tmp_path, sampler=sampler, trials=trials)
    name = f"{sampler}-cut"
    sweep = _Sweep(project, ws, name)
    run_id = _during_trial_after(sweep, finished)
    if signum == signal.SIGKILL:
        sweep.proc.kill()
        sweep.wait()
    else:
        _assert_interrupted(ws, sweep, run_id, signum, sweep.signal_frozen(signum))
    got = _finish(project, ws, name)
    assert len(got) == trials
    if sampler == "grid":
        assert sorted(got) == sorted(_reference(project, ws, "grid-ref"))


def test_a_second_signal_exits_at_once(tmp_path):
    """While the first signal's clean-up runs, a second one ends the process at once with
    128 + its number and one line that says how to resume."""
    module = Path(__file__).resolve().parents[2] / "platform/sweeplab/tuning/_interrupt.py"
    script = f"""
import importlib.util, sys, time
spec = importlib.util.spec_from_file_location("_interrupt", {str(module)!r})
m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
line = lambda signum, name, ws: f"second {{signum}} {{name}} {{ws}}"
with m.stop_on_signals(line):
    m.announce_sweep("s1", "/ws")
    try:
        print("ready", flush=True)
        time.sleep(60)
    except m.SweepInterrupted as exc:
        print("cleaning up", exc.signal_name, flush=True)
        time.sleep(60)  # a clean-up that takes long: the second signal must not wait for it
"""
    for first, second in [(signal.SIGTERM, signal.SIGTERM), (signal.SIGINT, signal.SIGINT)]:
        proc = subprocess.Popen(
            [sys.executable, "-c", script],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout.readline() == "ready\n"
        proc.send_signal(first)
        assert proc.stdout.readline() == f"cleaning up {signal.Signals(first).name}\n", (
            proc.stderr.read()
        )
        t0 = time.monotonic()
        proc.send_signal(second)
        assert proc.wait(timeout=10) == 128 + second
        assert time.monotonic() - t0 < 5
        assert proc.stderr.read().splitlines() == [f"second {int(second)} s1 /ws"]
