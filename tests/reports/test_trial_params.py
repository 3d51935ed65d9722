"""A trial's sampled and fixed settings read back from MLflow: today's runs list their sampled
keys in the tag ``sweeplab.sampled`` (every setting under ``<group>.<name>``); runs of older
sweeps have no tag and logged their sampled settings unprefixed. Reports (``resolve_trial``),
`sweeplab runs` and the dashboards read both the same way."""

from __future__ import annotations

import pytest

from sweeplab.reports import resolve_trial
from sweeplab.tasks import RunParams
from sweeplab.tracking import (
    TAG,
    SweepRun,
    client_for,
    get_or_create_experiment,
    objective_params,
    split_params,
)
from sweeplab.tuning._record import TrialRecorder
from sweeplab.workspace import Workspace

SAMPLED = {"learning_rate": "0.01", "hidden_units": "16"}
FIXED = {"train.epochs": "3", "model.num_layers": "1"}


def test_the_tag_names_the_sampled_keys():
    params = {"train.learning_rate": "0.01", "model.hidden_units": "16", **FIXED}
    tags = {TAG["sampled"]: "train.learning_rate,model.hidden_units"}
    assert split_params(params, tags) == (SAMPLED, FIXED)
    # nothing sampled (a space of constants only): every setting is fixed
    assert split_params(params, {TAG["sampled"]: ""}) == ({}, params)


def test_an_older_run_without_the_tag_sampled_its_unprefixed_params():
    assert split_params({**SAMPLED, **FIXED}, {}) == (SAMPLED, FIXED)


def test_resolve_trial_reads_old_and_new_sweeps_alike(tmp_path):
    from sweeplab.analysis import Objective

    ws = Workspace.at(tmp_path / "ws")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = client_for(uri)
    exp = get_or_create_experiment(client, "p", artifact_location=None)
    for name in ("old", "new"):
        sweep = SweepRun.start(
            client,
            exp,
            name=name,
            tags={},
            params=objective_params(Objective("dev_error", "minimize")),
        )
        if name == "old":  # as sweeps before the tag logged a trial
            run = sweep.start_trial(number=0, name="old #0 learning_rate=0.01")
            run.log_params({**SAMPLED, **FIXED})
            recorder = TrialRecorder(run)
        else:
            settings = RunParams(
                {"train.learning_rate": 0.01, "model.hidden_units": 16, **FIXED},
                ("train.learning_rate", "model.hidden_units"),
                device="cpu",
            )
            params = {"learning_rate": 0.01, "hidden_units": 16}
            recorder = TrialRecorder.start(sweep, number=0, params=params, settings=settings)
        recorder.epoch(1, {"dev_error": 0.2})
        recorder.finished({"dev_error": 0.2, "latency_ms": 1.0})
        sweep.finish("finished")
        ws.write_sweep(
            name,
            {
                "name": name,
                "tracking_uri": uri,
                "experiment_id": exp,
                "parent_run_id": sweep.run_id,
            },
        )
    for name in ("old", "new"):
        ref = resolve_trial(name, workspace=ws.root)
        assert ref.params == {"learning_rate": 0.01, "hidden_units": 16}
        assert ref.fixed == {"train.epochs": 3, "model.num_layers": 1}
        assert ref.metrics["dev_error"] == pytest.approx(0.2)
