"""State files are written whole or not at all; a write that fails (a full disk) is one line
naming the file; the default sweep name of a long project name is valid; the project's
description is on the parent run."""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import subprocess
import sys

from tests.conftest import write
from tests.reliability.reliability_helpers import SWEEPLAB, sweeplab_env

from sweeplab._atomic import write_atomic
from sweeplab.cli import main
from sweeplab.tracking import default_tracking_uri


def _file_size_limit(limit: int):
    def apply() -> None:  # in the child: writes past `limit` bytes fail with EFBIG
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_failed_write_keeps_the_old_file_and_names_the_path(tmp_path):
    target = tmp_path / "state.json"
    write_atomic(target, '{"old": true}')
    code = (
        "import sys; from sweeplab._atomic import write_atomic\n"
        "try:\n    write_atomic(sys.argv[1], 'x' * 1_000_000)\n"
        "except OSError as exc:\n    print(exc.filename, exc.errno)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(target)],
        preexec_fn=_file_size_limit(64 * 1024),
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.stdout.split() == [str(target), str(27)], out  # EFBIG, the target named
    assert json.loads(target.read_text()) == {"old": True}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]  # no temp left


def _iris(tmp_path, name: str, extra: str = "", source: str = "iris"):
    return write(
        tmp_path / "p.yaml",
        f"""
        name: {name}
        {extra}
        data: {{source: sklearn:{source}, splits: {{train: 0.6, dev: 0.4}}, seed: 0}}
        model: {{name: mlp, num_layers: 1, hidden_units: 8}}
        train: {{epochs: 1}}
        search: {{trials: 1}}
        """,
    )


def test_a_full_disk_while_writing_the_split_manifest_is_one_line_and_leaves_no_torn_file(
    tmp_path,
):
    ws = tmp_path / "ws"
    project = _iris(tmp_path, "disk", source="digits")
    # 4 KiB files pass (locks, state), the split manifest (about 9 KiB for digits) does not
    proc = subprocess.run(
        [*SWEEPLAB, "sweep", str(project), "--name", "full"],
        env=sweeplab_env(ws, PYTHONDONTWRITEBYTECODE="1"),
        preexec_fn=_file_size_limit(4096),
        capture_output=True,
        text=True,
        timeout=240,
    )
    out = (proc.stdout + proc.stderr).strip()
    assert proc.returncode == 1, out
    lines = [ln for ln in out.splitlines() if ln.startswith("sweeplab: error")]
    assert len(lines) == 1 and "Traceback" not in out, out
    assert str(ws / "sweeps" / "full" / "splits.json") in lines[0], out
    left = list((ws / "sweeps").rglob("*"))
    assert not [p for p in left if p.name == "splits.json" or p.name.endswith(".tmp")], left
    # with room again, the same sweep runs
    assert main(["sweep", str(project), "--name", "full", "-w", str(ws)]) == 0


def test_a_long_project_name_gets_a_valid_default_sweep_name_and_its_description(tmp_path, capsys):
    from mlflow import MlflowClient

    name = "p" * 95
    description = "Why this sweep - " + "d" * 6000
    project = _iris(tmp_path, name, f"description: {description}")
    ws = tmp_path / "ws"
    assert main(["sweep", str(project), "-w", str(ws)]) == 0
    (sweep,) = os.listdir(ws / "sweeps")
    assert len(sweep) <= 100 and re.fullmatch(r"p{84}-\d{8}-\d{6}", sweep), sweep
    capsys.readouterr()
    assert main(["runs", sweep, "-w", str(ws), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["trials"]) == 1
    client = MlflowClient(default_tracking_uri(ws))
    exp = client.get_experiment_by_name(name)
    (parent,) = client.search_runs([exp.experiment_id], "tags.`sweeplab.kind` = 'sweep'")
    note = parent.data.tags["mlflow.note.content"]
    assert note.startswith("Why this sweep - ddd") and "sweeplab sweep of" in note
    assert 5000 <= len(note) <= 5200  # capped, the sweep's line kept
    # --resume without --name finds it by the project's (cut) name
    assert main(["sweep", str(project), "--resume", "-w", str(ws)]) == 0
