"""Optuna's successive halving and Hyperband take --grace-period / --reduction-factor, as Ray's
ASHA does: real Optuna studies (in memory) and a real short sweep."""

from __future__ import annotations

import json
from types import SimpleNamespace

import optuna
import pytest

from sweeplab.errors import UserError
from sweeplab.tuning._optuna import make_pruner

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _study(pruner):
    return optuna.create_study(direction="minimize", pruner=pruner)


def _complete(study, values: list[float]) -> None:
    """A trial that reports ``values[k]`` at step k + 1 (epochs count from 1) and completes."""
    trial = study.ask()
    for step, value in enumerate(values, 1):
        trial.report(value, step)
        assert not trial.should_prune()
    study.tell(trial, values[-1])


def _first_pruned_step(study, values: list[float]) -> int | None:
    trial = study.ask()
    for step, value in enumerate(values, 1):
        trial.report(value, step)
        if trial.should_prune():
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            return step
    study.tell(trial, values[-1])
    return None


def test_successive_halving_waits_for_the_grace_period_then_prunes_at_its_rungs():
    study = _study(
        make_pruner("successive_halving", grace_period=3, reduction_factor=3, max_epochs=12)
    )
    assert isinstance(study.pruner, optuna.pruners.SuccessiveHalvingPruner)
    for _ in range(3):  # good trials: the first of them sets the bar at every rung
        _complete(study, [0.1] * 12)
    # A clearly bad trial runs its grace period (epochs 1, 2), then stops at the first rung.
    assert _first_pruned_step(study, [0.9] * 12) == 3
    # Good at the first rung (epoch 3), bad after it: the next rung is 3 × 3 = 9 epochs, so
    # it is not stopped at 4 (factor 4 would have its rung at 12, factor 2 at 6).
    assert _first_pruned_step(study, [0.1] * 3 + [0.9] * 9) == 9
    # A trial as good as the best goes through every rung to its last epoch.
    assert _first_pruned_step(study, [0.1] * 12) is None


def test_a_grace_period_of_one_epoch_prunes_after_the_first():
    study = _study(
        make_pruner("successive_halving", grace_period=1, reduction_factor=3, max_epochs=12)
    )
    _complete(study, [0.1] * 12)
    assert _first_pruned_step(study, [0.9] * 12) == 1


def test_hyperband_spans_the_grace_period_to_the_trials_epochs():
    pruner = make_pruner("hyperband", grace_period=2, reduction_factor=3, max_epochs=12)
    assert isinstance(pruner, optuna.pruners.HyperbandPruner)
    assert (pruner._min_resource, pruner._max_resource, pruner._reduction_factor) == (2, 12, 3)
    study = _study(pruner)
    for _ in range(6):
        _complete(study, [0.1] * 12)
    # brackets of ⌊log3(12 / 2)⌋ + 1 = 2 (with "auto" it would wait for a finished trial)
    assert pruner._n_brackets == 2
    # epochs that the search space samples: no fixed largest budget
    assert make_pruner("hyperband", grace_period=2, max_epochs=None)._max_resource == "auto"


@pytest.mark.parametrize("pruner", ["successive_halving", "hyperband"])
@pytest.mark.parametrize(("grace", "words"), [(12, "as long as"), (13, "longer than")])
def test_a_grace_period_as_long_as_a_trial_is_refused(pruner, grace, words):
    with pytest.raises(UserError) as info:
        make_pruner(pruner, grace_period=grace, reduction_factor=3, max_epochs=12)
    message = str(info.value)
    assert f"--grace-period {grace} is {words} a trial (12 epochs)" in message
    assert "smaller --grace-period" in message and "\n" not in message


def test_the_median_pruner_and_none_ignore_the_rung_settings():
    median = make_pruner("median", grace_period=50, reduction_factor=5, max_epochs=3)
    assert isinstance(median, optuna.pruners.MedianPruner)
    assert isinstance(make_pruner("none", grace_period=50, max_epochs=3), optuna.pruners.NopPruner)
    # no trial length known (epochs searched): nothing to check against
    make_pruner("successive_halving", grace_period=50, max_epochs=None)


def test_trial_epochs_are_unknown_when_the_space_samples_them():
    from sweeplab.tuning._settings import trial_epochs

    project = SimpleNamespace(train=SimpleNamespace(epochs=7))
    assert trial_epochs(project, SimpleNamespace(names=("learning_rate",))) == 7
    assert trial_epochs(project, SimpleNamespace(names=("learning_rate", "epochs"))) is None


# -- a real sweep: the settings reach the study and survive --resume ---------------------------


@pytest.fixture
def pruners_used(monkeypatch):
    """The pruner of every study the Optuna backend opens (the real one, only recorded)."""
    import sweeplab.tuning._optuna as backend

    used = []
    real = backend.open_study

    def open_study(setup):
        study = real(setup)
        used.append(study.pruner)
        return study

    monkeypatch.setattr(backend, "open_study", open_study)
    return used


@pytest.mark.slow
def test_a_sweep_records_the_rungs_and_resume_keeps_them(tiny_project, workspace, pruners_used):
    from sweeplab.tuning import SweepSettings, run_sweep

    def sweep(**kw):
        return run_sweep(
            SweepSettings(project_path=tiny_project, workspace=workspace, name="sh", **kw)
        )

    # tiny_project: 3 epochs a trial; rungs at 2 (and 6, past the end)
    out = sweep(trials=4, pruner="successive_halving", grace_period=2, reduction_factor=3, seed=1)
    (pruner,) = pruners_used
    assert isinstance(pruner, optuna.pruners.SuccessiveHalvingPruner)
    assert (pruner._min_resource, pruner._reduction_factor) == (2, 3)
    pruned = [t for t in out.trials if t.status == "pruned"]
    assert pruned and all(t.reason == "pruned after epoch 2" for t in pruned)

    info = json.loads((workspace / "sweeps" / "sh" / "sweep.json").read_text())
    assert (info["pruner"], info["grace_period"], info["reduction_factor"]) == (
        "successive_halving",
        2,
        3,
    )
    from mlflow import MlflowClient

    client = MlflowClient(out.tracking_uri)
    params = client.get_run(out.parent_run_id).data.params
    assert (params["pruner"], params["grace_period"], params["reduction_factor"]) == (
        "successive_halving",
        "2",
        "3",
    )

    # --resume with other values on the command line (its defaults, say) and no --pruner:
    # the sweep goes on with its own settings
    out = sweep(trials=6, resume=True, grace_period=1, reduction_factor=4)
    assert len(out.trials) == 6
    resumed = pruners_used[-1]
    assert isinstance(resumed, optuna.pruners.SuccessiveHalvingPruner)
    assert (resumed._min_resource, resumed._reduction_factor) == (2, 3)
    # (trials of the first run come back from the study without their reason)
    new = [t for t in out.trials if t.number >= 4 and t.status == "pruned"]
    assert all(t.reason == "pruned after epoch 2" for t in new)


@pytest.mark.slow
def test_cli_grace_period_as_long_as_a_trial_exits_2_in_one_line(tiny_project, workspace, capsys):
    from sweeplab.cli import main

    args = ["sweep", str(tiny_project), "--name", "g", "--pruner", "successive_halving"]
    code = main([*args, "--grace-period", "3"])  # tiny_project trains 3 epochs
    err = capsys.readouterr().err
    assert code == 2
    assert "--grace-period 3 is as long as a trial (3 epochs)" in err
    assert len(err.strip().splitlines()) == 1  # one line, no traceback
    assert not (workspace / "sweeps" / "g").exists()  # refused before any work


def test_rays_asha_gets_the_same_rungs_from_the_default_settings():
    pytest.importorskip("ray")
    from pathlib import Path

    from sweeplab.tuning import SweepSettings
    from sweeplab.tuning._ray import _scheduler

    settings = SweepSettings(project_path=Path("p.yaml"), backend="ray", scheduler="asha")
    setup = SimpleNamespace(
        settings=settings,
        context=SimpleNamespace(project=SimpleNamespace(train=SimpleNamespace(epochs=12))),
    )
    asha = _scheduler(setup)
    # rungs at 3 and 9 epochs, as Optuna's successive halving with the same defaults
    assert sorted(milestone for milestone, _ in asha._brackets[0]._rungs) == [3, 9]


def test_a_trial_is_not_pruned_at_its_last_epoch():
    """A rung on the last epoch (grace 3, factor 3, 9-epoch trials) would drop a trial that
    has spent its whole budget; the reporter asks the pruner only before the last epoch."""
    from sweeplab.tasks import TrialPruned
    from sweeplab.tuning._optuna import _Reporter

    class Recorder:
        def epoch(self, epoch, metrics):
            pass

    def run(study, values, last_epoch):
        trial = study.ask()
        reporter = _Reporter(
            trial, Recorder(), "dev_error", True, lambda e, m: None, last_epoch=last_epoch
        )
        try:
            for epoch, value in enumerate(values, 1):
                reporter.epoch(epoch, {"dev_error": value})
        except TrialPruned as exc:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            return exc.epoch
        study.tell(trial, values[-1])
        return None

    study = _study(make_pruner("successive_halving", grace_period=3, reduction_factor=3))
    for _ in range(3):
        assert run(study, [0.1] * 9, last_epoch=9) is None
    # good until epoch 3, bad at the rung of epoch 9, which is its last epoch: it finishes
    assert run(study, [0.1, 0.1, 0.1] + [0.9] * 6, last_epoch=9) is None
    # the same values with a longer budget: pruned at the rung of epoch 9
    assert run(study, [0.1, 0.1, 0.1] + [0.9] * 6 + [0.9], last_epoch=10) == 9
