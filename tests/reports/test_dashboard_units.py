"""The dashboard's pure parts: EWMA, typed params, figures on each parameter's sampling scale."""

from __future__ import annotations

import math

import pytest

from sweeplab.reports._dashboard_curves import ewma
from sweeplab.reports._dashboard_figures import (
    GROUPS,
    group_of,
    parallel_figure,
    param_figure,
)
from sweeplab.reports._dashboard_trials import SweepTrials, TrialRow, typed_params
from sweeplab.space import SearchSpace

SPACE = SearchSpace.from_yaml(
    """
parameters:
  learning_rate: {distribution: log_uniform, min: 1.0e-4, max: 1.0e-1}
  optimizer: {values: [momentum, adam]}
  beta: {distribution: one_minus_log_uniform, min: 0.9, max: 0.999, when: {optimizer: momentum}}
  hidden_units: {distribution: int_log_uniform, min: 16, max: 512}
  keep_prob: {distribution: uniform, min: 0.5, max: 1.0}
  batch_size: {values: [32, 64]}
"""
)


def _row(n, status, dev, *, feasible=True, **params):
    metrics = {} if dev is None else {"dev_error": dev}
    return TrialRow(n, status, f"run{n}", f"s #{n}", params, metrics, feasible)


def _sweep(trials):
    return SweepTrials("s", {}, SPACE, "dev_error", "minimize", [], trials)


P_MOM = {
    "learning_rate": 1e-3,
    "optimizer": "momentum",
    "beta": 0.99,
    "hidden_units": 64,
    "keep_prob": 0.7,
    "batch_size": 32,
}
P_ADAM = {
    "learning_rate": 1e-2,
    "optimizer": "adam",
    "hidden_units": 128,
    "keep_prob": 0.9,
    "batch_size": 64,
}
TRIALS = [
    _row(0, "finished", 0.05, **P_MOM),
    _row(1, "finished", 0.10, **P_ADAM),
    _row(2, "finished", 0.02, feasible=False, **P_ADAM),
    _row(3, "pruned", 0.40, **P_MOM),
    _row(4, "failed", None, **P_ADAM),
    _row(5, "running", None, **P_ADAM),
]


# --- EWMA ------------------------------------------------------------------------------------


def test_ewma_is_bias_corrected_known_values():
    # v1 = 0.1*10 = 1 -> 1/(1-0.9) = 10; v2 = 0.9*1 + 0.1*20 = 2.9 -> 2.9/(1-0.81) = 15.263…
    assert ewma([10.0, 20.0], 0.9) == pytest.approx([10.0, 2.9 / 0.19])


def test_ewma_of_a_constant_is_the_constant_from_the_first_point():
    # without the correction the first values would be pulled towards 0
    assert ewma([3.0] * 6, 0.9) == pytest.approx([3.0] * 6)


def test_ewma_with_beta_zero_is_the_raw_series_and_nan_is_skipped():
    assert ewma([1.0, 2.0, 3.0], 0.0) == [1.0, 2.0, 3.0]
    out = ewma([1.0, math.nan, 1.0], 0.5)
    assert out[0] == 1.0 and math.isnan(out[1]) and out[2] == pytest.approx(1.0)


@pytest.mark.parametrize("beta", [-0.1, 1.0, 1.5])
def test_ewma_rejects_beta_outside_zero_one(beta):
    with pytest.raises(ValueError, match="0 <= beta < 1"):
        ewma([1.0], beta)


# --- typed params ----------------------------------------------------------------------------


def test_typed_params_restores_the_types_the_space_produces():
    raw = {
        "learning_rate": "0.001",
        "optimizer": "adam",
        "hidden_units": "64",
        "batch_size": "32",
        "keep_prob": "0.75",
        "other": "x",
    }
    typed = typed_params(SPACE, raw)
    assert typed == {
        "learning_rate": 0.001,
        "optimizer": "adam",
        "hidden_units": 64,
        "batch_size": 32,
        "keep_prob": 0.75,
        "other": "x",
    }
    assert type(typed["hidden_units"]) is int and type(typed["batch_size"]) is int
    assert all(SPACE[k].distribution.contains(v) for k, v in typed.items() if k in SPACE)


# --- figures ---------------------------------------------------------------------------------


def test_groups_keep_failed_pruned_and_infeasible_apart_and_skip_running():
    groups = [group_of(t, "dev_error") for t in TRIALS]
    assert groups == ["finished", "finished", "infeasible", "pruned", "failed", "running"]


def _traces_by_label(fig):
    return {t.name: t for t in fig.data}


def test_log_uniform_is_drawn_on_a_log_axis():
    fig = param_figure(_sweep(TRIALS), "learning_rate")
    assert fig.layout.xaxis.type == "log"
    assert tuple(fig.layout.xaxis.range) == pytest.approx((-4.05, -0.95))
    traces = _traces_by_label(fig)
    labels = {label for _, label, _, _ in GROUPS}
    assert set(traces) <= labels
    finished = traces["finished"]
    assert sorted(finished.x) == [1e-3, 1e-2] and sorted(finished.y) == [0.05, 0.10]
    # pruned at its last value; failed on a line above every value; running not drawn
    assert list(traces["pruned (last value)"].y) == [0.40]
    failed = next(t for name, t in traces.items() if name.startswith("failed"))
    assert len(failed.y) == 1 and failed.y[0] > 0.40
    assert sum(len(t.x) for t in fig.data) == 5


def test_int_log_uniform_is_on_a_log_axis_and_uniform_on_a_linear_one():
    assert param_figure(_sweep(TRIALS), "hidden_units").layout.xaxis.type == "log"
    assert param_figure(_sweep(TRIALS), "keep_prob").layout.xaxis.type in (None, "linear", "-")


def test_one_minus_log_uniform_is_drawn_as_one_minus_beta_on_a_reversed_log_axis():
    fig = param_figure(_sweep(TRIALS), "beta")
    axis = fig.layout.xaxis
    assert axis.type == "log"
    lo, hi = axis.range
    assert lo > hi  # reversed: β grows to the right
    assert lo == pytest.approx(math.log10(0.1) + 0.05) and hi == pytest.approx(-3 - 0.05)
    # x is 1 − β (only the momentum trials, where beta was active); ticks say β
    xs = sorted(x for t in fig.data for x in t.x)
    assert xs == pytest.approx([0.01, 0.01])
    labels = dict(zip(axis.tickvals, axis.ticktext, strict=True))
    assert {"0.9", "0.99", "0.999"} <= set(axis.ticktext)
    for m, text in labels.items():
        assert float(text) == pytest.approx(1 - m)


def test_categorical_is_a_box_per_value_with_every_point():
    fig = param_figure(_sweep(TRIALS), "optimizer")
    assert fig.layout.xaxis.type == "category"
    assert list(fig.layout.xaxis.categoryarray) == ["momentum", "adam"]
    assert {t.type for t in fig.data} == {"box"}
    assert all(t.boxpoints == "all" for t in fig.data)
    numeric = param_figure(_sweep(TRIALS), "batch_size")
    assert list(numeric.layout.xaxis.categoryarray) == ["32", "64"]


def test_parallel_coordinates_use_the_sampling_scale_and_mark_inactive_values():
    fig = parallel_figure(_sweep(TRIALS))
    dims = {d.label: d for d in fig.data[0].dimensions}
    # finished trials only (feasible or not): 3
    assert len(dims["dev_error"].values) == 3
    assert list(dims["learning_rate (log)"].values) == pytest.approx([-3.0, -2.0, -2.0])
    beta = dims["beta (1 − β log)"]
    assert beta.values[0] == pytest.approx(2.0)  # β = 0.99 -> −log10(0.01)
    assert beta.ticktext[0] == "inactive" and beta.values[1] == beta.tickvals[0]
    assert beta.values[1] < beta.range[0] + 1e-12 and beta.range[1] == pytest.approx(3.0)
    optimizer = dims["optimizer"]
    assert list(optimizer.values) == [0, 1, 1] and list(optimizer.ticktext) == ["momentum", "adam"]


def test_no_finished_trial_gives_no_parallel_coordinates():
    assert parallel_figure(_sweep([TRIALS[4]])) is None


def test_importance_figure_shows_both_evaluators_on_a_real_study():
    """A real Optuna study where only x matters: both evaluators' bars, each subplot named by
    its evaluator, the parameters in one order."""
    import optuna
    from optuna.importance import (
        FanovaImportanceEvaluator,
        PedAnovaImportanceEvaluator,
        get_param_importances,
    )

    from sweeplab.reports._dashboard_figures import importance_figure

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(
        lambda t: (t.suggest_float("x", -1, 1) ** 2) + 0.01 * t.suggest_float("noise_y", 0, 1),
        n_trials=40,
    )
    importances = {
        "fANOVA": get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=0)),
        "PED-ANOVA": get_param_importances(study, evaluator=PedAnovaImportanceEvaluator()),
    }
    fig = importance_figure(importances)
    titles = [a.text for a in fig.layout.annotations]
    assert titles == [
        "fANOVA (share of the objective's variance)",
        "PED-ANOVA (best 10 % vs all trials)",
    ]
    assert [t.name for t in fig.data] == ["fANOVA", "PED-ANOVA"]
    for trace, evaluator in zip(fig.data, importances, strict=True):
        assert list(trace.y) == ["noise_y", "x"]  # the first evaluator's order, largest on top
        assert dict(zip(trace.y, trace.x, strict=True)) == pytest.approx(importances[evaluator])
    assert importances["fANOVA"]["x"] > importances["fANOVA"]["noise_y"]
