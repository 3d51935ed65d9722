"""`sweeplab refine`: the refined space around the top-K trials, its YAML file, the new sweep."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from tests.conftest import sweep_into

from sweeplab.cli import main
from sweeplab.cli.refine import REFINED_FROM_TAG, refined_space_text
from sweeplab.space import SearchSpace, load_space, refine
from sweeplab.workspace import Workspace

OLD = SearchSpace.from_yaml(
    """
parameters:
  learning_rate: {distribution: log_uniform, min: 1.0e-5, max: 1.0}
  beta: {distribution: one_minus_log_uniform, min: 0.9, max: 0.9999}
  units: {distribution: int_log_uniform, min: 8, max: 1024}
  optimizer: {values: [momentum, adam, rmsprop]}
"""
)


def test_log_uniform_is_refined_in_log_space_and_the_yaml_loads_back(tmp_path):
    top = [
        {"learning_rate": 1e-3, "beta": 0.99, "units": 32, "optimizer": "adam"},
        {"learning_rate": 1e-2, "beta": 0.999, "units": 128, "optimizer": "adam"},
    ]
    new = refine(OLD, top, margin=0.25)
    lr = new["learning_rate"].distribution
    # log10 span [-3, -2], widened by 0.25 of it on each side: [-3.25, -1.75]
    assert (lr.low, lr.high) == pytest.approx((10**-3.25, 10**-1.75))
    # β in log10(1 − β): [-3, -2] -> [-3.25, -1.75] -> β in [1 − 10^-1.75, 1 − 10^-3.25]
    beta = new["beta"].distribution
    assert (beta.low, beta.high) == pytest.approx((1 - 10**-1.75, 1 - 10**-3.25))
    units = new["units"].distribution  # log2-ish span, rounded outward
    assert units.low <= 32 and units.high >= 128 and (units.low, units.high) != (8, 1024)
    assert new["optimizer"].distribution.values == ("adam",)

    path = tmp_path / "refined.yaml"
    path.write_text(refined_space_text(new, source="old", top=2, margin=0.25, numbers=[4, 7]))
    text = path.read_text()
    assert text.startswith("# Refined from sweep old") and "#4, #7" in text
    assert load_space(path) == new


# --- end to end ------------------------------------------------------------------------------

SPACE = """
parameters:
  learning_rate: {distribution: log_uniform, min: 1.0e-4, max: 1.0e-1}
  optimizer: {values: [adam, momentum]}
  beta: {distribution: one_minus_log_uniform, min: 0.8, max: 0.999, when: {optimizer: momentum}}
  hidden_units: {distribution: int_log_uniform, min: 8, max: 64}
  keep_prob: {distribution: uniform, min: 0.6, max: 1.0}
"""
PROJECT = """
name: refine-digits
data:
  source: sklearn:digits
  splits: {train: 0.7, train_dev: 0.1, dev: 0.2}
  seed: 0
model: {name: mlp, num_layers: 1}
train: {epochs: 2, batch_size: 128, optimizer: adam}
human_level_error: 0.01
search: {space: space.yaml, sampler: random, trials: 5, seed: 3}
"""


@pytest.fixture(scope="module")
def coarse(tmp_path_factory) -> Path:
    return sweep_into(tmp_path_factory.mktemp("refine"), project=PROJECT, space=SPACE, name="c")


def _top(ws: Path, k: int) -> list[dict]:
    from sweeplab.reports._dashboard_trials import load_sweep

    return [t.params for t in load_sweep("c", workspace=ws).top_feasible(k)]


@pytest.mark.slow
def test_write_only_writes_a_yaml_around_the_top_k_within_the_old_bounds(coarse, capsys):
    capsys.readouterr()
    args = [
        "refine",
        "c",
        "--top",
        "3",
        "--name",
        "c-fine",
        "--write-only",
        "--workspace",
        str(coarse),
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    path = coarse / "sweeps" / "c-fine" / "refined.yaml"
    assert f"refined space: {path}" in out and "--space" in out
    assert not (coarse / "sweeps" / "c-fine" / "sweep.json").exists()  # nothing ran

    old, new = load_space(coarse / "sweeps" / "c" / "space.yaml"), load_space(path)
    top = _top(coarse, 3)
    assert len(top) == 3
    for p in new:
        d, o = p.distribution, old[p.name].distribution
        used = [t[p.name] for t in top if p.name in t]
        assert all(d.contains(v) for v in used), (p.name, d, used)  # every top-K value
        if hasattr(d, "low"):
            assert o.low <= d.low <= d.high <= o.high  # within the old bounds
        else:
            assert set(d.values) <= set(o.values)
    # learning_rate: the top values' log10 span widened by 0.25 of it on each side
    logs = [math.log10(t["learning_rate"]) for t in top]
    span = max(logs) - min(logs)
    width = max(1.5 * span, 0.1 * 3)  # min_fraction of the old width (3 decades)
    centre = (max(logs) + min(logs)) / 2
    lo, hi = max(centre - width / 2, -4), min(centre + width / 2, -1)
    lr = new["learning_rate"].distribution
    assert math.log10(lr.low) == pytest.approx(lo) and math.log10(lr.high) == pytest.approx(hi)

    # writing again is a no-op; an edited file is never overwritten
    assert main(args) == 0
    path.write_text(path.read_text() + "# edited\n")
    assert main(args) == 2
    assert "--space" in capsys.readouterr().err


@pytest.mark.slow
def test_refine_runs_a_new_sweep_linked_to_the_old_one(coarse, capsys):
    from mlflow import MlflowClient

    args = [
        "refine",
        "c",
        "--top",
        "2",
        "--trials",
        "2",
        "--name",
        "c-run",
        "--workspace",
        str(coarse),
    ]
    assert main(args) == 0
    old = Workspace.at(coarse).read_sweep("c")
    new = Workspace.at(coarse).read_sweep("c-run")
    assert new["project"] == old["project"] and new["trials"] == 2
    space = load_space(coarse / "sweeps" / "c-run" / "refined.yaml")
    assert load_space(coarse / "sweeps" / "c-run" / "space.yaml") == space

    client = MlflowClient(new["tracking_uri"])
    parent = client.get_run(new["parent_run_id"])
    assert parent.data.tags[REFINED_FROM_TAG] == "c"
    assert parent.data.tags["sweeplab.refined_from_run"] == old["parent_run_id"]
    from sweeplab.reports._dashboard_trials import load_sweep

    trials = load_sweep("c-run", workspace=coarse).trials
    assert len(trials) == 2
    for t in trials:  # every new trial was drawn from the refined space
        assert all(space[k].distribution.contains(v) for k, v in t.params.items())

    # a name that exists is refused, with one line
    assert main(args) == 2
    assert "already exists" in capsys.readouterr().err


@pytest.mark.slow
def test_refine_keeps_the_coarse_sweeps_early_stopping(tmp_path):
    """A refined sweep stops trials by the same rungs as the coarse one (not the defaults)."""
    (tmp_path / "space.yaml").write_text(SPACE)
    (tmp_path / "project.yaml").write_text(PROJECT.replace("epochs: 2", "epochs: 4"))
    ws = tmp_path / "ws"
    coarse = ["sweep", str(tmp_path / "project.yaml"), "--name", "sh", "--trials", "3"]
    rungs = ["--pruner", "successive_halving", "--grace-period", "2", "--reduction-factor", "4"]
    assert main([*coarse, *rungs, "--workspace", str(ws)]) == 0
    refine_args = ["refine", "sh", "--top", "2", "--trials", "1", "--name", "sh-fine"]
    assert main([*refine_args, "--workspace", str(ws)]) == 0
    new = Workspace.at(ws).read_sweep("sh-fine")
    assert (new["pruner"], new["grace_period"], new["reduction_factor"]) == (
        "successive_halving",
        2,
        4,
    )
