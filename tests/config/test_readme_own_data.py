"""The README's "Your own data" section, run exactly as written: its bash blocks are run in a
fresh folder (with ``.venv`` the environment running the tests, ``search_spaces/`` the
repository's), its YAML blocks written to the file named on their first line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient
from tests.conftest import REPO

pytestmark = pytest.mark.slow


def section(text: str, title: str) -> str:
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def blocks(text: str) -> list[tuple[str, str]]:
    return re.findall(r"```(\w+)\n(.*?)```", text, flags=re.S)


def test_your_own_data_runs_as_written(tmp_path: Path):
    own = section((REPO / "README.md").read_text(), "Your own data")
    for phrase in ("relative to the project file", "never a feature", "Dev and test hold target"):
        assert phrase in own
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))
    (tmp_path / "search_spaces").symlink_to(REPO / "search_spaces")
    env = {**os.environ, "SWEEPLAB_WORKSPACE": str(tmp_path / "ws"), "COLUMNS": "100"}
    outputs = []
    found = [kind for kind, _ in blocks(own)]
    assert found.count("yaml") == 2 and found.count("bash") == 4, found
    for kind, body in blocks(own):
        if kind == "yaml":
            name = body.splitlines()[0].removeprefix("# ").strip()
            (tmp_path / name).write_text(body)
            continue
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", body],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, body + "\n" + done.stdout[-2000:] + done.stderr[-2000:]
        outputs.append(done.stdout)
    # the splits table names the user's own domains
    splits = outputs[1]
    assert "field" in splits and "lab" in splits, splits
    # two sweeps, each with its 2 trials finished in MLflow
    client = MlflowClient(f"sqlite:///{tmp_path / 'ws' / 'mlflow.db'}")
    for name in ("my-wine", "my-photos"):
        experiment = client.get_experiment_by_name(name)
        assert experiment is not None, name
        runs = client.search_runs([experiment.experiment_id])
        trials = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
        assert len(trials) == 2 and all(r.info.status == "FINISHED" for r in trials), name
        assert all(0 <= r.data.metrics["dev_error"] <= 1 for r in trials)
