"""The sweep's sequence of configurations (tuning/_sequence.py), on real Optuna studies: a
configuration depends only on (seed, index); a sweep killed at any point and resumed runs the
configurations of the uninterrupted sweep; TPE never runs one twice.

The kill points are simulated on the study the way the sweep loop leaves it (a trial enqueued
and not asked for; asked and left RUNNING), and recovered with the backend's own recovery;
the real loop under real signals is tests/reliability/test_resume_sequence.py."""

from __future__ import annotations

from types import SimpleNamespace

import optuna
import pytest
from optuna.trial import TrialState

from sweeplab.space import SearchSpace
from sweeplab.tracking import SweepRun, client_for, get_or_create_experiment
from sweeplab.tuning._optuna import _recover_interrupted, make_sampler
from sweeplab.tuning._sequence import (
    INDEX_ATTR,
    REPLACED_ATTR,
    Slot,
    ask_slot,
    config_key,
    index_of,
    interrupted_trials,
    plan,
    uncounted_trials,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)

SPACE = SearchSpace.from_dict(
    {
        "parameters": {
            "learning_rate": {"distribution": "log_uniform", "min": 1e-4, "max": 1.0},
            "optimizer": {"values": ["momentum", "adam"]},
            "beta": {
                "distribution": "one_minus_log_uniform",
                "min": 0.9,
                "max": 0.999,
                "when": {"optimizer": "momentum"},
            },
            "hidden_units": {"distribution": "int_log_uniform", "min": 16, "max": 512},
        }
    }
)
GRID = SearchSpace.from_dict(
    {"parameters": {"learning_rate": {"values": [0.01, 0.1, 1.0]}, "units": {"values": [16, 32]}}}
)
SMALL = SearchSpace.from_dict({"parameters": {"units": {"values": [8, 16, 32, 64]}}})


def _study(sampler: str, seed: int = 3) -> optuna.Study:
    return optuna.create_study(sampler=make_sampler(sampler, seed=seed, constrained=False))


def _config(study: optuna.Study, space: SearchSpace, index: int) -> dict:
    study.enqueue_trial({}, user_attrs={INDEX_ATTR: index})
    trial = study.ask()
    params = space.suggest(trial)
    study.tell(trial, 0.0)
    return params


def test_a_configuration_depends_only_on_the_seed_and_its_index():
    forward = _study("random")
    first = [_config(forward, SPACE, i) for i in range(8)]
    assert len({config_key(c) for c in first}) == 8
    assert {c["optimizer"] for c in first} == {"momentum", "adam"}  # beta only with momentum
    assert all(("beta" in c) == (c["optimizer"] == "momentum") for c in first)
    # another order, another history (failed trials in between): the same configurations
    other = _study("random")
    for i in (5, 2, 7, 0, 1, 6, 3, 4):
        other.tell(other.ask(), state=TrialState.FAIL)
        assert _config(other, SPACE, i) == first[i]
    assert [_config(_study("random", seed=4), SPACE, i) for i in range(8)] != first
    # TPE's start-up trials follow the same rule
    tpe = _study("tpe")
    assert [_config(tpe, SPACE, i) for i in range(8)] == first


@pytest.fixture(scope="module")
def recovery(tmp_path_factory):
    """What the backend's recovery needs: the sweep's parent run, on a real MLflow store."""
    client = client_for(f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}")
    exp = get_or_create_experiment(client, "sequence", artifact_location=None)
    return SimpleNamespace(
        sweep_run=SweepRun.start(client, exp, name="sequence", tags={}, params={}),
        space=None,
    )


def _value(params: dict) -> float:
    return abs(params["learning_rate"] - 0.1) + 0.001 * len(params)


def _run(study, setup, sampler: str, trials: int, *, kill: tuple[str, int] | None = None):
    """The sweep loop of _optuna._run_trials without training (the objective is a function of
    the parameters). ``kill``: ("waiting" | "running", k) stops the process at its k-th trial,
    after enqueueing it, or after asking for it and drawing its parameters."""
    ended = study.get_trials(
        deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    )
    uncounted = uncounted_trials(study, ended)
    done = [t for t in ended if t.number not in uncounted]
    slots = plan(ended, uncounted, grid=setup.space.grid() if sampler == "grid" else None)
    ran = {config_key(t.user_attrs["params"]) for t in done} if sampler == "tpe" else None
    n = len(done)
    for k in range(trials):
        if n >= trials:
            return
        slot = next(slots)
        if kill == ("waiting", k):
            study.enqueue_trial(slot.fixed or {}, user_attrs=slot.user_attrs())
            return
        trial, params = ask_slot(study, slot, setup.space, ran)
        trial.set_user_attr("params", params)
        if kill == ("running", k):
            return
        study.tell(trial, _value(params))
        n += 1
        if ran is not None:
            ran.add(config_key(params))


def _finished(study) -> list[tuple]:
    return [config_key(t.user_attrs["params"]) for t in study.trials if t.state.name == "COMPLETE"]


@pytest.mark.parametrize("sampler", ["random", "grid"])
def test_a_sweep_killed_anywhere_and_resumed_runs_the_uninterrupted_configurations(
    recovery, sampler
):
    space = GRID if sampler == "grid" else SPACE
    trials = 6  # the grid's points
    setup = SimpleNamespace(sweep_run=recovery.sweep_run, space=space)
    reference = _study(sampler)
    _run(reference, setup, sampler, trials)
    expected = sorted(_finished(reference))
    assert len(set(expected)) == trials
    for where in ("waiting", "running"):
        for k in range(trials):
            study = _study(sampler)
            _run(study, setup, sampler, trials, kill=(where, k))
            _recover_interrupted(study, setup)  # what --resume does first
            _run(study, setup, sampler, trials, kill=(where, max(0, k - 2)))  # killed again
            _recover_interrupted(study, setup)
            _run(study, setup, sampler, trials)
            got = _finished(study)
            assert sorted(got) == expected, (where, k)
            indices = sorted(index_of(t) for t in study.trials if t.state == TrialState.COMPLETE)
            assert indices == sorted(set(indices)), "an index ran twice"


def test_an_interrupted_trial_runs_again_with_its_own_configuration(recovery):
    """Under TPE too, where drawing again would give another configuration."""
    setup = SimpleNamespace(sweep_run=recovery.sweep_run, space=SPACE)
    study = _study("tpe")
    _run(study, setup, "tpe", 14, kill=("running", 12))  # past TPE's 10 start-up trials
    (running,) = study.get_trials(states=(TrialState.RUNNING,))
    _recover_interrupted(study, setup)
    assert next(plan(study.trials, interrupted_trials(study))) == Slot(12, dict(running.params))
    _run(study, setup, "tpe", 14)
    rerun = [t for t in study.trials if index_of(t) == 12 and t.state == TrialState.COMPLETE]
    assert [t.user_attrs["params"] for t in rerun] == [running.user_attrs["params"]]


def test_tpe_replaces_a_configuration_that_already_ran_and_stops_when_none_is_left():
    study = _study("tpe")
    ran: set[tuple] = set()
    for i in range(4):
        trial, params = ask_slot(study, Slot(i), SMALL, ran)
        study.tell(trial, float(params["units"]))
        ran.add(config_key(params))
    assert len(ran) == 4  # the four points of the space, each once
    replaced = [t for t in study.trials if t.user_attrs.get(REPLACED_ATTR)]
    assert replaced and all(t.state == TrialState.FAIL for t in replaced)
    assert ask_slot(study, Slot(4), SMALL, ran) is None  # nothing left that has not run
