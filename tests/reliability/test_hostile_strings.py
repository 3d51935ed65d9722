"""Data strings that look like rich markup reach the terminal as they are: a categorical value
``[/x]`` and a failure reason with ``[/bold]`` neither crash the CLI nor leave the parent run
RUNNING; a sweep whose every trial failed exits 1 with the first failure's reason and its
parent run ends FAILED; if the sweep process itself raises, the parent run ends FAILED too."""

from __future__ import annotations

import csv
import io
import json
import math

import pytest
import torch
from mlflow.tracking import MlflowClient
from tests.conftest import write
from torch import nn

from sweeplab.analysis import restore_cell
from sweeplab.analysis._spreadsheet import FORMULA_STARTS
from sweeplab.cli import main
from sweeplab.config._base import Schema
from sweeplab.models import MODELS
from sweeplab.models._registry import ModelSpec
from sweeplab.tracking import default_tracking_uri
from sweeplab.tuning import SweepSettings, TrialDone, run_sweep

MARKUP = "[/x]"
FORMULAS = ["=cmd|' /C calc'!A0", "@SUM(1)", '=HYPERLINK("http://x.example","y")']


class TaggedArgs(Schema):
    tag: str = "ok"


class TaggedNet(nn.Module):
    """A real linear classifier whose training fails, with markup in the message, unless its
    tag is ``ok``."""

    def __init__(self, in_features: int, num_outputs: int, tag: str) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, num_outputs)
        self.tag = tag

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.tag != "ok":
            raise ValueError(f"[/bold] bad tag {self.tag} [red]")
        return self.linear(x.flatten(1))  # (N, D) -> (N, num_outputs)


@pytest.fixture
def tagged_model(monkeypatch):
    spec = ModelSpec(
        name="tagged_test",
        args=TaggedArgs,
        build=lambda args, *, input_shape, num_outputs: TaggedNet(
            math.prod(input_shape), num_outputs, args.tag
        ),
        tasks=("multiclass",),
        input_kind="vector",
        description="test-only model that fails with markup in its message",
        example_input=(4,),
        example_outputs=3,
    )
    monkeypatch.setitem(MODELS._entries, "tagged_test", spec)
    return "tagged_test"


def _project(tmp_path, values: list[str]) -> str:
    write(tmp_path / "space.yaml", f"parameters:\n  tag: {{values: {json.dumps(values)}}}\n")
    return str(
        write(
            tmp_path / "hostile.yaml",
            """
            name: hostile
            data: {source: sklearn:iris, splits: {train: 0.6, dev: 0.4}, seed: 0}
            model: {name: tagged_test}
            train: {epochs: 2, batch_size: 32}
            search: {space: space.yaml, sampler: grid}
            """,
        )
    )


def _parent(workspace, name: str):
    info = json.loads((workspace / "sweeps" / name / "sweep.json").read_text())
    run = MlflowClient(default_tracking_uri(workspace)).get_run(info["parent_run_id"])
    return info, run


def test_markup_in_values_and_failure_reasons_prints_as_text(
    tmp_path, workspace, tagged_model, capfd, monkeypatch
):
    monkeypatch.setenv("COLUMNS", "400")  # the runs table unfolded: one line per trial
    project = _project(tmp_path, [MARKUP, "ok", *FORMULAS])
    assert main(["sweep", project, "--name", "h"]) == 0
    out, err = capfd.readouterr()
    assert "MarkupError" not in out + err
    assert "[/bold] bad tag [/x] [red]" in " ".join(err.split())  # the failure, as raised
    assert main(["runs", "h"]) == 0
    out, err = capfd.readouterr()
    assert MARKUP in out and "[/bold]" in out and not err
    info, parent = _parent(workspace, "h")
    assert parent.info.status == "FINISHED" and info["status"] == "finished"

    # the same values as CSV for a spreadsheet: no formula; the JSON keeps them raw
    assert main(["runs", "h", "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capfd.readouterr().out)))
    assert len(rows) == 2 + len(FORMULAS)
    assert all(not _is_formula(cell) for row in rows for cell in row.values())
    assert {restore_cell(r["tag"]) for r in rows} == {MARKUP, "ok", *FORMULAS}
    assert all(math.isfinite(float(r["dev_error"])) for r in rows if r["status"] == "finished")
    assert main(["runs", "h", "--json"]) == 0
    raw = json.loads(capfd.readouterr().out)["trials"]
    assert {r["tag"] for r in raw} == {MARKUP, "ok", *FORMULAS}


def _is_formula(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return cell.lstrip(" ").startswith(FORMULA_STARTS)
    return False


def test_sample_writes_formula_values_neutralised_and_numbers_as_numbers(tmp_path, capfd):
    values = [*FORMULAS, "-neg", -3, -0.25]
    space = write(tmp_path / "s.yaml", f"parameters:\n  v: {{values: {json.dumps(values)}}}\n")
    assert main(["sample", str(space), "--grid"]) == 0
    rows = list(csv.reader(io.StringIO(capfd.readouterr().out)))
    cells = [r[0] for r in rows[1:]]
    assert all(not _is_formula(c) for c in cells)
    assert [restore_cell(c) for c in cells[: len(FORMULAS) + 1]] == [*FORMULAS, "-neg"]
    assert [float(c) for c in cells[-2:]] == [-3, -0.25]


def test_a_sweep_whose_every_trial_failed_exits_1_and_its_parent_run_failed(
    tmp_path, workspace, tagged_model, capfd
):
    project = _project(tmp_path, [MARKUP])
    assert main(["sweep", project, "--name", "allfail"]) == 1
    err = capfd.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("sweeplab: no trial finished")]
    assert len(lines) == 1 and "[/bold] bad tag [/x] [red]" in lines[0]
    assert "Traceback" not in err
    info, parent = _parent(workspace, "allfail")
    assert parent.info.status == "FAILED"
    assert "no trial finished" in parent.data.tags["sweeplab.failure"]
    assert info["status"] == "stopped"


def test_an_error_in_the_sweep_process_ends_the_parent_run_failed(
    tmp_path, workspace, tagged_model
):
    project = _project(tmp_path, ["ok"])

    def progress(event):  # the sweep's own code raising, after a trial was recorded
        if isinstance(event, TrialDone):
            raise RuntimeError("[/bold] the display broke")

    settings = SweepSettings(project_path=tmp_path / "hostile.yaml", name="broken")
    assert str(settings.project_path) == project
    with pytest.raises(RuntimeError, match="display broke"):
        run_sweep(settings, progress=progress)
    info, parent = _parent(workspace, "broken")
    assert parent.info.status == "FAILED"
    assert parent.data.tags["sweeplab.failure"] == "RuntimeError: [/bold] the display broke"
    assert info["status"] == "failed"
    client = MlflowClient(default_tracking_uri(workspace))
    children = client.search_runs(
        [parent.info.experiment_id], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'"
    )
    assert children and all(r.info.status != "RUNNING" for r in children)
