"""Trials that raise, run out of memory or diverge are stopped at once, recorded as failed
with their reason in all three places (the runs table, MLflow, Optuna), and the sweep goes
on; "best" never picks a non-finite value; --max-failures stops a sweep that keeps failing."""

from __future__ import annotations

import json
import math
from typing import Literal

import pytest
import torch
from tests.conftest import write
from tests.reliability.reliability_helpers import child_runs, load_study
from torch import nn

from sweeplab.analysis import Objective, rank_trials
from sweeplab.cli import main
from sweeplab.config._base import Schema
from sweeplab.models import MODELS
from sweeplab.models._registry import ModelSpec
from sweeplab.tracking import default_tracking_uri
from sweeplab.tuning import TrialOutcome
from sweeplab.tuning._lifecycle import best_trial
from sweeplab.tuning._record import failure_reason

FailMode = Literal["none", "raise", "cuda_oom", "memory_error"]


class FailingArgs(Schema):
    fail: FailMode = "none"


class FailingNet(nn.Module):
    """A real linear classifier whose forward fails the way it is told to."""

    def __init__(self, in_features: int, num_outputs: int, fail: str) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, num_outputs)
        self.fail = fail

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.fail == "raise":
            raise ValueError("boom in forward")
        if self.training and self.fail == "cuda_oom":
            # what torch raises when a too-large batch does not fit on the GPU
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        if self.training and self.fail == "memory_error":
            raise MemoryError("Unable to allocate 64.0 GiB for an array")
        return self.linear(x.flatten(1))  # (N, D) -> (N, num_outputs)


def _build(args: FailingArgs, *, input_shape: tuple[int, ...], num_outputs: int) -> nn.Module:
    return FailingNet(math.prod(input_shape), num_outputs, args.fail)


@pytest.fixture
def failing_model(monkeypatch):
    """`failing_test` in the model registry for this test only."""
    spec = ModelSpec(
        name="failing_test",
        args=FailingArgs,
        build=_build,
        tasks=("multiclass",),
        input_kind="vector",
        description="test-only model whose forward raises",
        example_input=(4,),
        example_outputs=3,
    )
    monkeypatch.setitem(MODELS._entries, "failing_test", spec)
    yield "failing_test"
    assert "failing_test" in MODELS._entries  # removed by monkeypatch on teardown


def _project(
    tmp_path, space: str, *, model: str, name: str, train: str = "{epochs: 3, batch_size: 32}"
) -> str:
    write(tmp_path / f"{name}-space.yaml", space)
    return str(
        write(
            tmp_path / f"{name}.yaml",
            f"""
            name: {name}
            data: {{source: sklearn:iris, splits: {{train: 0.6, dev: 0.4}}, seed: 0}}
            model: {model}
            train: {train}
            search: {{space: {name}-space.yaml, sampler: grid}}
            """,
        )
    )


def _runs_json(capsys, sweep: str) -> dict:
    capsys.readouterr()
    assert main(["runs", sweep, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_raising_and_out_of_memory_trials_are_recorded_and_the_sweep_goes_on(
    tmp_path, workspace, failing_model, capsys
):
    project = _project(
        tmp_path,
        "parameters:\n  fail: {values: [raise, cuda_oom, memory_error, none]}\n",
        model="{name: failing_test}",
        name="failing",
    )
    assert main(["sweep", project, "--name", "f"]) == 0
    expected = {
        "raise": "ValueError: boom in forward",
        "cuda_oom": "out of memory",
        "memory_error": "out of memory",
    }

    table = _runs_json(capsys, "f")
    by_mode = {row["fail"]: row for row in table["trials"]}
    assert by_mode["none"]["status"] == "finished" and by_mode["none"]["rank"] == 1
    for mode, reason in expected.items():
        assert by_mode[mode]["status"] == "failed"
        assert reason in by_mode[mode]["reason"]

    runs = {
        r.data.params["model.fail"]: r for r in child_runs(default_tracking_uri(workspace), "f")
    }
    for mode, reason in expected.items():
        assert runs[mode].info.status == "FAILED"
        assert reason in runs[mode].data.tags["sweeplab.failure"]
    assert runs["none"].info.status == "FINISHED"

    study = load_study(workspace, "f")
    for t in study.trials:
        mode = t.user_attrs["params"]["fail"]
        if mode == "none":
            assert t.state.name == "COMPLETE" and math.isfinite(t.value)
        else:
            assert t.state.name == "FAIL" and expected[mode] in t.user_attrs["failure"]


@pytest.mark.parametrize("lr", [10.0, 1.0e6])
def test_a_diverging_trial_fails_with_its_reason_and_best_is_finite(
    tmp_path, workspace, capsys, lr
):
    project = _project(
        tmp_path,
        f"parameters:\n  learning_rate: {{values: [{lr}, 0.01]}}\n",
        model="{name: mlp, num_layers: 2, hidden_units: 64}",
        name="diverge",
        train="{epochs: 5, batch_size: 16, optimizer: momentum}",
    )
    assert main(["sweep", project, "--name", "d"]) == 0
    table = _runs_json(capsys, "d")
    rows = {float(r["learning_rate"]): r for r in table["trials"]}
    assert rows[lr]["status"] == "failed", rows[lr]
    assert "loss" in rows[lr]["reason"].lower() and (
        "nan" in rows[lr]["reason"].lower() or "inf" in rows[lr]["reason"].lower()
    )
    assert rows[0.01]["status"] == "finished" and rows[0.01]["rank"] == 1
    study = load_study(workspace, "d")
    assert math.isfinite(study.best_value)
    failed = [t for t in study.trials if t.state.name == "FAIL"]
    assert len(failed) == 1 and failed[0].user_attrs["params"]["learning_rate"] == lr


def test_max_failures_stops_a_sweep_whose_trials_keep_failing(
    tmp_path, workspace, failing_model, capsys
):
    project = _project(
        tmp_path,
        "parameters:\n  fail: {values: [raise]}\n",
        model="{name: failing_test}",
        name="allfail",
    )
    capsys.readouterr()
    assert (
        main(
            [
                "sweep",
                project,
                "--name",
                "m",
                "--sampler",
                "random",
                "--trials",
                "6",
                "--max-failures",
                "2",
            ]
        )
        == 1
    )
    err = capsys.readouterr().err
    assert "--max-failures 2" in " ".join(err.split())
    study = load_study(workspace, "m")
    assert [t.state.name for t in study.trials] == ["FAIL", "FAIL"]


def test_failure_reasons_name_the_kind_of_failure():
    assert failure_reason(
        torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
    ).startswith("out of memory")
    assert failure_reason(MemoryError()).startswith("out of memory")
    assert failure_reason(
        RuntimeError(
            "DefaultCPUAllocator: can't allocate memory: you tried to allocate 1e12 bytes. Buy new RAM!"
        )
    )
    assert failure_reason(ValueError("x")) == "ValueError: x"


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_best_never_picks_a_non_finite_value(bad):
    outcomes = [
        TrialOutcome(0, "finished", {}, {"dev_error": bad}),
        TrialOutcome(1, "finished", {}, {"dev_error": 0.3}),
        TrialOutcome(2, "failed", {}, {"dev_error": -1.0}),
    ]
    for goal in ("minimize", "maximize"):
        objective = Objective("dev_error", goal)
        assert best_trial(outcomes, objective).number == 1
        ranked = rank_trials(
            [o.metrics for o in outcomes], objective, status=[o.status for o in outcomes]
        )
        assert outcomes[ranked[0]].number == 1
    assert best_trial(outcomes[:1], Objective("dev_error")) is None
