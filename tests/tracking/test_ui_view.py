"""The runs-table view `sweeplab ui` records for a sweep, read back with MLflow's client: the
experiment's kind tag and a shared view of that sweep's runs, best first by its objective,
with the objective, the error ladder and the sampled settings as columns. (What the MLflow UI
makes of it, in Chromium: tests/cli/test_ui_browser.py.)"""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import pytest

from sweeplab.analysis import Objective
from sweeplab.tracking import TAG, client_for, objective_params
from sweeplab.tracking._ui_view import RUN_NAME_WIDTH, runs_view_path


@pytest.mark.parametrize("goal", ["minimize", "maximize"])
def test_the_view_opens_the_sweeps_runs_best_first_with_its_metrics(tmp_path, goal):
    client = client_for(f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.create_experiment("p")
    parent = client.create_run(exp, run_name="s1", tags={TAG["sweep"]: "s1"})
    for key, value in objective_params(Objective("accuracy", goal)).items():
        client.log_param(parent.info.run_id, key, value)
    for number, lr in enumerate([0.1, 0.01]):
        child = client.create_run(
            exp,
            run_name=f"#{number} lr={lr}",
            tags={
                TAG["parent"]: parent.info.run_id,
                TAG["sweep"]: "s1",
                TAG["sampled"]: "train.learning_rate,train.optimizer",
            },
        )
        for key, value in {"accuracy": 0.9, "dev_error": 0.1, "train_error": 0.05}.items():
            client.log_metric(child.info.run_id, key, value)

    path = runs_view_path(client, exp, "s1", parent.info.run_id)

    route, _, query = path.partition("?")
    assert route == f"/#/experiments/{exp}/runs"
    args = {k: v[0] for k, v in parse_qs(query).items()}
    assert args["workflowType"] == "machine_learning"  # not the GenAI overview
    tags = client.get_experiment(exp).tags
    assert tags["mlflow.experimentKind"] == "custom_model_development"
    view = json.loads(tags[f"mlflow.sharedViewState.{args['viewStateShareKey']}"])
    assert view["searchFilter"] == "tags.`sweeplab.sweep` = 's1'"
    assert view["orderByKey"] == "metrics.`accuracy`"
    assert view["orderByAsc"] is (goal == "minimize")
    assert view["selectedColumns"] == [
        "metrics.`accuracy`",
        "metrics.`train_error`",  # the error ladder, in its order, where logged
        "metrics.`dev_error`",
        "params.`train.learning_rate`",
        "params.`train.optimizer`",
    ]
    assert view["columnWidths"]["attributes.`Run Name`"] == RUN_NAME_WIDTH
    assert set(view["columnOrder"]) >= {"attributes.`Run Name`", *view["selectedColumns"]}
    # the search filter the view sets is one MLflow accepts, and it finds the sweep's runs
    found = client.search_runs([exp], filter_string=view["searchFilter"])
    assert len(found) == 3
