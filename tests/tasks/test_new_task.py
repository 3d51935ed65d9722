"""Adding a task is one new module: this file registers a task (and a model for it) of its
own, then a user's whole path runs with it — a sweep, `sweeplab runs`, a report, the final
evaluation — through the same commands as the shipped tasks, with no other file touched.

The toy task, ``parity``: is a digit even or odd? A linear model on scikit-learn's digits,
trained by the task's own loop, with its own setting (``shrink``: weight decay), its own
metric (``dev_odd_error``) and its own error-analysis table (errors by digit).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pandas as pd
import pytest
import torch
from pydantic import Field
from torch import nn

from sweeplab.cli import main
from sweeplab.config import Schema
from sweeplab.data import build_splits, load_dataset, prepare_tensors
from sweeplab.models import MODELS, register_model
from sweeplab.tasks import (
    TASKS,
    ReportTable,
    SweepContext,
    Task,
    TrialResult,
    TrialSetup,
    network_result,
    num,
    pct,
    register_task,
    report_table,
    sweep_manifest,
)
from sweeplab.training import EpochResult


class ParityArgs(Schema):
    shrink: float = Field(default=0.0, ge=0.0, description="L2 weight decay of the loop.")


class ParityNetArgs(Schema):
    bias: bool = True


def _errors(model: nn.Module, X: torch.Tensor, digit: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        odd = model(X).squeeze(1) > 0
    return (odd != (digit % 2 == 1)).float()  # (N,) 1 where wrong


class Parity(Task):
    name = "parity"
    description = "is the digit odd? (a task registered by a test)"
    args: ClassVar = ParityArgs
    metrics = ("dev_odd_error", "test_odd_error")
    headline = ("dev_odd_error",)
    summary_metric = "dev_odd_error"
    error_measure = "share of digits called odd when even or even when odd"

    def prepare(self, pf, *, manifest_path, tracking_uri):
        project = pf.project
        dataset = load_dataset(project.data, base_dir=pf.base_dir)
        manifest = sweep_manifest(pf, dataset, manifest_path, build_splits)
        tensors = prepare_tensors(dataset, manifest, normalize=True, device="cpu", image=False)
        ctx = SweepContext.of(
            pf,
            task=self.name,
            model=MODELS.get(project.model.name),
            args_schema=ParityArgs,
            tensors=tensors,
        )
        return ctx, dataset, manifest

    def build_model(self, ctx: SweepContext, setup: TrialSetup) -> nn.Module:
        return MODELS.get(ctx.model_name).build(
            MODELS.get(ctx.model_name).args(**setup.model_args),
            input_shape=ctx.tensors.input_shape,
            num_outputs=1,
        )

    def run(self, ctx: SweepContext, setup: TrialSetup, on_epoch) -> TrialResult:
        model = self.build_model(ctx, setup)
        X, digit = ctx.tensors.splits["train"]
        Xd, dd = ctx.tensors.splits["dev"]
        opt = torch.optim.SGD(
            model.parameters(), lr=setup.cfg.learning_rate, weight_decay=setup.args.shrink
        )
        history = []
        for epoch in range(1, setup.cfg.epochs + 1):
            loss = nn.functional.binary_cross_entropy_with_logits(
                model(X).squeeze(1), (digit % 2).float()
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
            m = {
                "train_loss": float(loss.detach()),
                "train_error": float(_errors(model, X, digit).mean()),
                "dev_error": float(_errors(model, Xd, dd).mean()),
            }
            history.append(m)
            if on_epoch is not None:
                on_epoch(EpochResult(epoch=epoch, metrics=dict(m)))
        wrong = _errors(model, Xd, dd)
        odd = dd % 2 == 1
        by_digit = pd.DataFrame(
            {
                "digit": list(range(10)),
                "examples": [int((dd == k).sum()) for k in range(10)],
                "errors": [int(wrong[dd == k].sum()) for k in range(10)],
            }
        )
        extra = {"dev_odd_error": float(wrong[odd].mean()), "epochs_run": float(len(history))}
        result = network_result(ctx, model, history[-1], history, dev_inputs=Xd, extra=extra)
        result.artifacts = {"analysis/parity.json": by_digit.to_json(orient="records").encode()}
        return result

    def report_tables(self, metrics, fetch, pf, sweep_dir):
        logged = fetch("analysis/parity.json")
        if logged is None:
            return [], [], ["the trial logged no analysis/parity.json"]
        frame = pd.DataFrame(json.loads(logged))
        frame["error_rate"] = frame["errors"] / frame["examples"]
        table: ReportTable = report_table(
            "parity-by-digit",
            "Errors by digit (dev)",
            "Which digits the parity model gets wrong.",
            frame,
            {"digit": num, "examples": num, "errors": num, "error_rate": pct},
        )
        return [table], [], []

    def final_scores(self, ctx, model, setup):
        X, digit = ctx.tensors.splits["test"]
        Xd, dd = ctx.tensors.splits["dev"]
        wrong = _errors(model, X, digit)
        out = {
            "test_error": float(wrong.mean()),
            "test_odd_error": float(wrong[digit % 2 == 1].mean()),
        }
        return out, float(_errors(model, Xd, dd).mean())


PROJECT = """\
name: parity
data:
  source: sklearn:digits
  splits: {train: 0.7, dev: 0.15, test: 0.15}
task: parity
task_args: {shrink: 0.0}
model: parity_linear
train: {epochs: 30, learning_rate: 0.5}
metrics:
  optimize: dev_error
  satisfy: ["dev_odd_error <= 0.5"]
search: {space: space.yaml, sampler: random, trials: 2, seed: 0}
"""
SPACE = """\
parameters:
  shrink: {distribution: log_uniform, min: 1.0e-5, max: 1.0e-2}
  learning_rate: {distribution: log_uniform, min: 0.1, max: 1.0}
"""


@pytest.fixture
def parity_task() -> Iterator[None]:
    register_task(Parity)

    @register_model("parity_linear", args=ParityNetArgs, tasks=("parity",), input_kind="vector")
    def _linear(args: ParityNetArgs, *, input_shape: tuple[int, ...], num_outputs: int):
        return nn.Linear(input_shape[0], num_outputs, bias=args.bias)

    yield
    TASKS.remove("parity")
    MODELS.remove("parity_linear")


def test_a_task_registered_in_one_file_runs_a_sweep_runs_report_and_evaluate(
    parity_task, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "project.yaml").write_text(PROJECT)
    (tmp_path / "space.yaml").write_text(SPACE)
    ws = str(tmp_path / "ws")
    assert main(["sweep", str(tmp_path / "project.yaml"), "--name", "p", "-w", ws]) == 0
    capsys.readouterr()

    assert main(["runs", "p", "--json", "-w", ws]) == 0
    table = json.loads(capsys.readouterr().out)
    assert [t["status"] for t in table["trials"]] == ["finished", "finished"]
    best = table["trials"][0]
    assert best["dev_error"] < 0.3  # parity of digits is far from a coin flip
    assert "dev_odd_error" in best  # the task's summary column
    assert {"shrink", "learning_rate"} <= set(best)  # the task setting was searched

    out = tmp_path / "report"
    assert main(["report", "p", "--out", str(out), "--no-log", "-w", ws]) == 0
    summary = json.loads((out / "report.json").read_text())
    assert summary["task"] == "parity"
    rows = summary["tables"]["parity-by-digit"]
    assert sum(r["examples"] for r in rows) > 0 and len(rows) == 10
    assert "Errors by digit (dev)" in (out / "report.html").read_text()

    assert main(["evaluate", "p", "-w", ws]) == 0
    said = capsys.readouterr().out
    assert "test_error" in said and "test_odd_error" in said
    assert main(["runs", "p", "--json", "-w", ws]) == 0
    after = json.loads(capsys.readouterr().out)["trials"][0]
    assert math.isfinite(after["dev_error"])


def test_a_project_naming_an_unregistered_task_gets_close_matches(tmp_path: Path) -> None:
    (tmp_path / "project.yaml").write_text(PROJECT.replace("task: parity", "task: detectoin"))
    (tmp_path / "space.yaml").write_text(SPACE)
    from sweeplab.errors import UserError
    from sweeplab.tasks import load_project

    with pytest.raises(UserError) as err:
        load_project(tmp_path / "project.yaml")
    assert err.value.key == "task" and err.value.line == 5
    assert "detection" in err.value.suggestions
