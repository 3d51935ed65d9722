"""The MLflow UI's view of a sweep: its runs table, with the errors and the sampled settings
as columns, the trials' names readable, best first.

MLflow's UI (3.17) chooses what an experiment page shows from these, read in its JavaScript
bundle (``mlflow/server/js/build/static/js``; the names are in
:mod:`sweeplab.tracking._mlflow_internals`):

- the ``workflowType`` URL parameter (``genai`` | ``machine_learning``; without it the last
  choice in the browser's storage, by default ``genai``: the GenAI "Overview" page with trace
  panels) — the URL we print asks for ``machine_learning`` and the ``runs`` tab;
- the experiment tag ``mlflow.experimentKind`` (``custom_model_development``: "Machine
  learning"), which the UI reads where the workflow switch is off;
- ``viewStateShareKey=KEY`` in the URL: the runs table's state (filter, order, columns, their
  widths) from the experiment tag ``mlflow.sharedViewState.KEY`` (JSON), what the UI's own
  "share view" writes.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from sweeplab.tracking._mlflow_internals import (
    UI_EXPERIMENT_KIND_TAG,
    UI_MACHINE_LEARNING,
    UI_MODEL_DEVELOPMENT_KIND,
    UI_SHARED_VIEW_PREFIX,
)
from sweeplab.tracking._query import sweep_objective
from sweeplab.tracking._runs import TAG

__all__ = ["RUN_NAME_WIDTH", "runs_view_path", "runs_view_state"]

#: Pixels for the run-name column (MLflow's default, 190, cuts ``#12 lr=3.2e-3 adam h=256``
#: of a nested trial before its settings).
RUN_NAME_WIDTH = 260
METRIC_WIDTH = 130
#: The error ladder, shown after the sweep's objective where the trials logged them.
ERROR_COLUMNS = ("train_error", "train_dev_error", "dev_error", "test_error")


def _col(kind: str, key: str) -> str:
    return f"{kind}.`{key}`"  # the UI's column ids: attributes.`Run Name`, metrics.`dev_error`


def runs_view_state(
    sweep: str, objective: str, goal: str, metric_keys: set[str], param_keys: list[str]
) -> dict[str, Any]:
    """The runs table of one sweep: its parent and trials, best ``objective`` first, the
    objective and the error ladder as columns, then the sampled settings."""
    metrics = [objective, *(k for k in ERROR_COLUMNS if k != objective and k in metric_keys)]
    columns = [_col("metrics", k) for k in metrics] + [_col("params", k) for k in param_keys]
    name_col = _col("attributes", "Run Name")
    quoted = sweep.replace("'", "\\'")
    return {
        "searchFilter": f"tags.`{TAG['sweep']}` = '{quoted}'",
        "orderByKey": _col("metrics", objective),
        "orderByAsc": goal != "maximize",
        "startTime": "ALL",
        "lifecycleFilter": "Active",
        "selectedColumns": columns,
        "columnOrder": [name_col, *columns, "runDateAndNestInfo", "duration"],
        # metrics wide enough for 4 significant digits (the UI's default, 100, shows 0.0175…)
        "columnWidths": {
            name_col: RUN_NAME_WIDTH,
            **{c: METRIC_WIDTH for c in columns[: len(metrics)]},
        },
    }


def runs_view_path(client, experiment_id: str, sweep: str, parent_run_id: str) -> str:
    """Record the sweep's runs-table view on its experiment; the URL path (after the host)
    that opens it: ``/#/experiments/ID/runs?workflowType=machine_learning&viewStateShareKey=…``."""
    parent = client.get_run(parent_run_id)
    objective = sweep_objective(parent.data.params)
    trials = client.search_runs(
        [experiment_id],
        filter_string=f"tags.`{TAG['parent']}` = '{parent_run_id}'",
        max_results=50,
    )
    metric_keys = {k for t in trials for k in t.data.metrics}
    params: list[str] = []
    for t in trials:
        for key in t.data.tags.get(TAG["sampled"], "").split(","):
            if key and key not in params:
                params.append(key)
    state = runs_view_state(sweep, objective.name, objective.goal.value, metric_keys, params[:8])
    key = f"sweeplab-{sweep}"
    client.set_experiment_tag(experiment_id, UI_EXPERIMENT_KIND_TAG, UI_MODEL_DEVELOPMENT_KIND)
    client.set_experiment_tag(experiment_id, UI_SHARED_VIEW_PREFIX + key, json.dumps(state))
    query = urlencode({"workflowType": UI_MACHINE_LEARNING, "viewStateShareKey": key})
    return f"/#/experiments/{experiment_id}/runs?{query}"
