"""The one trial lifecycle both backends share, on a real MLflow SQLite store: how a trial's
end is recorded (run status, ``sweeplab.status`` and reason tags, read back with the client),
the runs a killed sweep left RUNNING, and "best" by analysis.select_best's rule."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sweeplab.analysis import Constraint, Objective, rank_trials, select_best
from sweeplab.tasks import TrialResult
from sweeplab.tracking import (
    TAG,
    SweepRun,
    TrialStatus,
    client_for,
    get_or_create_experiment,
    objective_params,
    sweep_objective,
    sweep_trials,
)
from sweeplab.tuning import TrialOutcome
from sweeplab.tuning._lifecycle import (
    DEVICE_TAG,
    DIAGNOSIS_TAG,
    FEASIBLE_TAG,
    KILLED_REASON,
    best_trial,
    end_orphan_runs,
    record_trial,
)
from sweeplab.tuning._record import TrialRecorder

DEV = Objective("dev_error", "minimize")


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    # One store for the module: creating an MLflow SQLite schema takes seconds.
    return client_for(f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}")


@pytest.fixture
def sweep(client, request):
    exp = get_or_create_experiment(client, "lifecycle", artifact_location=None)
    return SweepRun.start(client, exp, name=request.node.name[:60], tags={}, params={})


def _recorder(sweep, number: int) -> TrialRecorder:
    recorder = TrialRecorder.start(sweep, number=number, params={"learning_rate": 0.01})
    recorder.epoch(1, {"dev_error": 0.5, "train_error": 0.4})
    return recorder


def test_the_status_values_are_the_strings_stored_in_the_tags():
    assert [s.value for s in TrialStatus] == ["finished", "pruned", "failed", "killed", "running"]
    for s in TrialStatus:
        assert s == s.value and str(s) == s.value and f"{s}" == s.value
        assert TrialStatus.of_run(s.value, "FINISHED") is s


def test_a_finished_trial_is_recorded_with_its_metrics_and_tags(client, sweep):
    recorder = _recorder(sweep, 0)
    result = TrialResult(
        metrics={
            "dev_error": 0.1,
            "train_error": 0.05,
            "latency_ms": 9.0,
            "variance": 0.05,
            "avoidable_bias": 0.01,
            "train_dev_error": math.nan,  # not finite: not recorded
        },
        device="cpu",
    )
    end = record_trial(
        recorder,
        TrialStatus.FINISHED,
        result=result,
        constraints=[Constraint.parse("latency_ms <= 5")],
    )
    assert end.status is TrialStatus.FINISHED and not end.feasible and end.violations == [4.0]
    assert "train_dev_error" not in end.metrics and end.device == "cpu"

    run = client.get_run(recorder.run_id)
    tags = run.data.tags
    assert run.info.status == "FINISHED"
    assert tags[TAG["status"]] == TrialStatus.FINISHED == "finished"
    assert tags[FEASIBLE_TAG] == "false"
    assert tags[DIAGNOSIS_TAG] == "variance"
    assert tags[DEVICE_TAG] == "cpu"
    assert TAG["failure"] not in tags
    assert run.data.metrics["dev_error"] == 0.1  # the final value, not the epoch's 0.5
    assert "train_dev_error" not in run.data.metrics


@pytest.mark.parametrize(
    ("status", "kwargs", "run_status", "reason"),
    [
        (TrialStatus.FAILED, {"reason": "ValueError: x"}, "FAILED", "ValueError: x"),
        (TrialStatus.PRUNED, {"epoch": 3}, "FINISHED", "stopped early by the pruner after epoch 3"),
        (TrialStatus.KILLED, {}, "KILLED", "the sweep was interrupted while this trial ran"),
        (TrialStatus.KILLED, {"reason": KILLED_REASON}, "KILLED", KILLED_REASON),
    ],
)
def test_a_trial_that_did_not_finish_ends_its_run_with_status_and_reason(
    client, sweep, status, kwargs, run_status, reason
):
    recorder = _recorder(sweep, 1)
    end = record_trial(recorder, status, **kwargs)
    assert end.status is status and end.metrics == {}
    run = client.get_run(recorder.run_id)
    assert run.info.status == run_status == status.run_status
    assert run.data.tags[TAG["status"]] == status.value
    assert run.data.tags[TAG["failure"]] == reason
    assert FEASIBLE_TAG not in run.data.tags
    # read back as the sweep's trials: the same member
    (row,) = sweep_trials(client, sweep.experiment_id, sweep.run_id)
    assert row["status"] is status and row["reason"] == reason


def test_a_finished_trial_needs_its_result_and_running_is_not_an_end(sweep):
    recorder = _recorder(sweep, 2)
    with pytest.raises(ValueError):
        record_trial(recorder, TrialStatus.FINISHED)
    with pytest.raises(ValueError):
        record_trial(recorder, TrialStatus.RUNNING)


def test_runs_a_killed_sweep_left_running_end_as_recorded_or_killed(client, sweep):
    whole = sweep.start_trial(number=0, name="whole")
    # its end (status tag) was stored, then the process died before the run was terminated
    whole.set_tags({TAG["status"]: "failed", TAG["failure"]: "diverged"})
    torn = sweep.start_trial(number=1, name="torn")
    torn.log_metrics({"dev_error": 0.3}, step=1)
    torn.flush()
    setup = SimpleNamespace(sweep_run=sweep)
    assert end_orphan_runs(setup) == 2
    assert client.get_run(whole.run_id).info.status == "FAILED"
    killed = client.get_run(torn.run_id)
    assert killed.info.status == "KILLED"
    assert killed.data.tags[TAG["status"]] == TrialStatus.KILLED
    assert killed.data.tags[TAG["failure"]] == KILLED_REASON
    rows = sweep_trials(client, sweep.experiment_id, sweep.run_id)
    assert sorted(r["status"] for r in rows) == [TrialStatus.FAILED, TrialStatus.KILLED]
    assert end_orphan_runs(setup) == 0  # nothing is left RUNNING


def test_resume_fails_interrupted_trials_through_optunas_public_api(sweep):
    import optuna
    from optuna.trial import TrialState

    from sweeplab.tuning._optuna import _recover_interrupted, interrupted_trials

    study = optuna.create_study()
    study.tell(study.ask(), 0.5)
    legacy = study.ask()  # marked by an older version, on the trial itself
    legacy.set_user_attr("interrupted", True)
    study.tell(legacy, state=TrialState.FAIL)
    running = study.ask()  # the sweep process died while it ran
    assert _recover_interrupted(study, SimpleNamespace(sweep_run=sweep)) == 1
    assert study.trials[running.number].state == TrialState.FAIL
    assert interrupted_trials(study) == {legacy.number, running.number}
    assert _recover_interrupted(study, SimpleNamespace(sweep_run=sweep)) == 0


def test_a_run_killed_before_its_params_were_sent_gets_them_from_the_study(client, sweep):
    """A machine killed between creating a trial's run and sending its params (its unsent
    writes stay on its own disk): the process that takes the sweep up ends the run KILLED
    with the params the study holds for that trial; a run that has params keeps its own."""
    from sweeplab.tracking import flatten_params
    from sweeplab.tuning._lifecycle import end_interrupted_run

    bare = sweep.start_trial(number=0, name="bare", key="k-bare")  # created, nothing else
    whole = sweep.start_trial(number=1, name="whole", key="k-whole")
    whole.log_params({"train.learning_rate": 0.5})
    sweep.outbox.pump()
    setup = SimpleNamespace(sweep_run=sweep)
    logged = {"train.learning_rate": 0.01, "model.hidden_units": 32}
    end_interrupted_run(setup, None, "k-bare", params=logged)  # found by its key
    end_interrupted_run(setup, whole.run_id, None, params=logged)
    sweep.outbox.pump()
    killed = client.get_run(bare.run_id)
    assert killed.info.status == "KILLED"
    assert killed.data.params == flatten_params(logged)
    kept = client.get_run(whole.run_id)
    assert kept.info.status == "KILLED" and kept.data.params == {"train.learning_rate": "0.5"}


def test_the_objective_is_read_back_typed_and_from_older_sweeps():
    maximize = Objective("dev_map", "maximize")
    assert sweep_objective(objective_params(maximize)) == maximize
    assert objective_params(maximize)["objective"] == "maximize dev_map"  # what users know
    assert sweep_objective({"objective": "maximize dev_map"}) == maximize  # older sweeps
    assert sweep_objective({}) == DEV


# -- the best trial: analysis.select_best's rule ------------------------------------------------------
def _outcome(number, value, status="finished", feasible=True):
    return TrialOutcome(number, status, {}, {"dev_error": value}, feasible=feasible)


def test_best_is_the_best_finite_finished_feasible_trial_ties_to_the_earliest():
    outcomes = [
        _outcome(4, 0.10),
        _outcome(0, math.nan),
        _outcome(1, 0.01, feasible=False),  # better, but breaks a constraint
        _outcome(2, 0.00, status="pruned"),
        _outcome(5, -1.0, status="failed"),
        _outcome(3, 0.10),  # ties with #4 and started first
        _outcome(6, -math.inf),
    ]
    assert best_trial(outcomes, DEV).number == 3
    assert best_trial(outcomes, Objective("dev_error", "maximize")).number == 3
    assert best_trial(outcomes[1:3], DEV) is None
    assert best_trial([], DEV) is None


value = st.one_of(st.sampled_from([0.1, 0.2, 0.3]), st.just(math.nan), st.just(math.inf))
outcome = st.tuples(value, st.sampled_from(list(TrialStatus)), st.booleans())


@given(st.lists(outcome, max_size=10), st.permutations(range(10)), st.sampled_from(["min", "max"]))
def test_best_agrees_with_select_best_and_heads_the_ranking(trials, numbers, goal):
    objective = Objective("dev_error", "maximize" if goal == "max" else "minimize")
    outcomes = [
        _outcome(n, v, status=s, feasible=f) for n, (v, s, f) in zip(numbers, trials, strict=False)
    ]
    best = best_trial(outcomes, objective)
    # select_best on the trials that may be best, earliest first
    candidates = sorted(
        (o for o in outcomes if o.status == "finished" and o.feasible), key=lambda o: o.number
    )
    selection = select_best([o.metrics for o in candidates], objective) if candidates else None
    expected = candidates[selection.index] if selection else None
    assert best is expected
    ranked = rank_trials(
        [o.metrics for o in outcomes],
        objective,
        status=[o.status for o in outcomes],
        feasible=[o.feasible for o in outcomes],
        order=[o.number for o in outcomes],
    )
    assert sorted(ranked) == list(range(len(outcomes)))
    if best is not None:
        assert outcomes[ranked[0]] is best


def _runs_order(rows, objective):
    """The order `sweeplab runs` has always printed: finished feasible trials by the objective,
    then finished infeasible ones, pruned, running, the rest; ties by trial number."""
    sign = 1.0 if objective.goal == "minimize" else -1.0

    def key(t):
        v = t["metrics"].get(objective.name, math.nan)
        finite = math.isfinite(v)
        finished = t["status"] == "finished" and finite
        group = (
            (0 if t["feasible"] else 1)
            if finished
            else {"pruned": 2, "running": 3}.get(t["status"], 4)
        )
        return (group, sign * v if finite else math.inf, t["number"])

    return sorted(rows, key=key)


@given(st.lists(outcome, max_size=10), st.permutations(range(10)), st.sampled_from(["min", "max"]))
def test_the_runs_table_keeps_its_order(trials, numbers, goal):
    objective = Objective("dev_error", "maximize" if goal == "max" else "minimize")
    rows = [
        {
            "number": n,
            "status": s,
            "feasible": f,
            "metrics": {} if math.isinf(v) else {"dev_error": v},
        }
        for n, (v, s, f) in zip(numbers, trials, strict=False)
    ]
    order = rank_trials(
        [r["metrics"] for r in rows],
        objective,
        status=[r["status"] for r in rows],
        feasible=[r["feasible"] for r in rows],
        order=[r["number"] for r in rows],
    )
    assert [rows[i]["number"] for i in order] == [r["number"] for r in _runs_order(rows, objective)]
