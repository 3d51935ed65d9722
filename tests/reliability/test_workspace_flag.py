"""`--workspace` is the only workspace a command touches: transfer learning
(``init_from: best:NAME``, in the project or searched per trial) and reports on such sweeps
find the source sweep there, never in ./sweeplab-workspace; a ``-w`` that cannot be a
workspace is refused with one line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tests.conftest import write
from tests.reliability.reliability_helpers import child_runs

from sweeplab.cli import main
from sweeplab.tracking import default_tracking_uri


def _lenet(tmp_path: Path, name: str, train: str, search: str = "{trials: 1}") -> Path:
    return write(
        tmp_path / f"{name}.yaml",
        f"""
        name: {name}
        data:
          source: sklearn:digits
          classes: [0, 1, 2, 3, 4]
          splits: {{train: 0.8, dev: 0.2}}
          seed: 0
        model: {{name: lenet5, padding: same, kernel_size: 3, pooling: max, activation: relu, init: he}}
        train: {train}
        search: {search}
        """,
    )


@pytest.mark.slow
def test_transfer_and_its_report_use_the_given_workspace(tmp_path, monkeypatch):
    monkeypatch.delenv("SWEEPLAB_WORKSPACE", raising=False)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    ws = tmp_path / "elsewhere"
    pre = _lenet(tmp_path, "pre", "{epochs: 1, save_checkpoint: true}")
    assert main(["sweep", str(pre), "--name", "pre", "-w", str(ws)]) == 0
    # from the project, and searched per trial (looked up when the trial starts)
    fine = _lenet(tmp_path, "fine", "{epochs: 1, init_from: 'best:pre', transfer: freeze_backbone}")
    write(tmp_path / "space.yaml", "parameters:\n  init_from: {values: ['best:pre']}\n")
    searched = _lenet(tmp_path, "searched", "{epochs: 1}", "{space: space.yaml, trials: 1}")
    for project in (fine, searched):
        name = project.stem
        assert main(["sweep", str(project), "--name", name, "-w", str(ws)]) == 0
        runs = child_runs(default_tracking_uri(ws), name)
        assert [r.info.status for r in runs] == ["FINISHED"], [r.data.tags for r in runs]
    assert main(["report", "fine", "-w", str(ws), "--no-log"]) == 0
    assert (ws / "reports").is_dir()
    assert not (cwd / "sweeplab-workspace").exists()
    assert sorted(os.listdir(cwd)) == []


@pytest.mark.parametrize("where", ["file", "/dev/null", "/proc/self", "unwritable"])
def test_a_workspace_that_cannot_be_one_is_refused_in_one_line(tmp_path, where, capsys):
    if where == "file":
        where = str(write(tmp_path / "a-file", "not a folder\n"))
    elif where == "unwritable":
        if os.geteuid() == 0:
            where = "/proc/sys/sweeplab-ws"  # root writes anywhere a folder can be made
        else:
            locked = tmp_path / "locked"
            locked.mkdir(mode=0o500)
            where = str(locked / "ws")
    project = write(
        tmp_path / "p.yaml",
        """
        name: p
        data: {source: sklearn:iris, splits: {train: 0.8, dev: 0.2}, seed: 0}
        model: {name: mlp, num_layers: 1}
        train: {epochs: 1}
        """,
    )
    for args in (["sweep", str(project)], ["runs"], ["runs", "x"], ["report"]):
        capsys.readouterr()
        assert main([*args, "-w", where]) == 2, args
        out = capsys.readouterr()
        text = (out.out + out.err).strip()
        assert len(text.splitlines()) == 1 and "Traceback" not in text, text
        assert "workspace" in text, text
