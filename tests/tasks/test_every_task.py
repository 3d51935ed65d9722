"""Every registered task keeps its promises: parametrized over the task registry, so a new
task is tested the day it is registered.

For each task, one short trial of its shipped project (through ``run_trial``, as both
backends call it) must log every metric the task declares for a trial, its report tables
must build from what the trial logged, its untrained network must take the trained weights
(what reports and final evaluations load), and its final evaluation must recompute the very
dev metric the trial logged.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from sweeplab.tasks import (
    COMMON_METRICS,
    TASKS,
    load_project,
    prepare_context,
    run_trial,
    task_of,
    trial_setup,
)

REPO = Path(__file__).resolve().parents[2]


def _shipped() -> dict[str, Path]:
    """task name -> a shipped project of that task (binary / multiclass as the data says)."""
    found: dict[str, Path] = {}
    for path in sorted((REPO / "projects").glob("*.yaml")):
        if "finetune" in path.stem:  # needs its pre-training sweep's weights
            continue
        pf = load_project(path)
        task = task_of(pf.project) or prepare_context(pf)[0].task  # the data decides
        found.setdefault(task, path)
    return found


SHIPPED = _shipped()


def test_every_registered_task_ships_an_example_project() -> None:
    assert sorted(SHIPPED) == sorted(TASKS), "a task without a project in projects/"


@pytest.mark.parametrize("name", list(TASKS))
def test_task_declarations_hold_together(name: str) -> None:
    spec = TASKS.get(name)
    assert spec.name == name
    declared = (*COMMON_METRICS, *spec.metrics)
    assert len(set(spec.metrics)) == len(spec.metrics), "a metric declared twice"
    assert set(spec.headline) <= set(declared)
    assert spec.summary_metric is None or spec.summary_metric in declared
    assert spec.objectives is None or set(spec.objectives) <= {*declared, "params_count"}
    assert spec.final_dev_metric is None or spec.final_dev_metric in declared
    if spec.args is not None:
        spec.args()  # every task setting has a default: a project may leave task_args out


@pytest.mark.parametrize("name", list(TASKS))
def test_one_trial_logs_what_its_task_declares(name: str, tmp_path: Path) -> None:
    spec = TASKS.get(name)
    pf = load_project(SHIPPED[name])
    ctx, _, manifest = prepare_context(pf, manifest_path=tmp_path / "splits.json")
    assert ctx.task == name
    params = {"epochs": 1} if "epochs" in ctx.train_fields else {"steps": 4}
    result = run_trial(ctx, params, keep_model=True)

    trial_metrics = [m for m in spec.metrics if not m.startswith("test_")]
    missing = [m for m in trial_metrics if m not in result.metrics]
    assert not missing, f"{name} declares {missing} but its trial did not log them"
    assert all(not k.startswith("test_") for k in result.metrics), "a trial saw the test set"
    assert result.history, "no epoch was reported"
    if spec.dev_set:
        for key in ("train_error", "dev_error", "params_count", "latency_ms"):
            assert math.isfinite(result.metrics[key]), key
    # the report builds from what the trial logged (its artifacts), and says nothing is missing
    tables, images, notes = spec.report_tables(result.metrics, result.artifacts.get, pf, tmp_path)
    assert not [n for n in notes if "logged no" in n], notes
    for table in tables:
        assert len(table.cells) == len(table.frame) and table.header
        assert all(len(row) == len(table.header) for row in table.cells)
    if spec.final_dev_metric is None:
        return
    # the untrained network takes the trained weights; the final evaluation on them
    # recomputes the dev metric the trial logged
    setup = trial_setup(ctx, params)
    skeleton = spec.build_model(ctx, setup)
    skeleton.load_state_dict(result.model.state_dict())
    if "test" not in manifest.splits:  # breast_cancer_logreg keeps no test split
        return
    test_metrics, dev_now = spec.final_scores(ctx, result.model, setup)
    assert math.isfinite(test_metrics["test_error"])
    assert dev_now == pytest.approx(result.metrics[spec.final_dev_metric], abs=1e-6)
