"""`sweeplab next`: the derived space written and run, warm-started and linked to its parent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.conftest import sweep_into

from sweeplab.cli import main
from sweeplab.space import SearchSpace, load_space
from sweeplab.tuning._sequence import Slot, plan
from sweeplab.workspace import Workspace


def test_warm_start_configurations_take_the_first_slots():
    first = [{"lr": 0.1}, {"lr": 0.2}]
    slots = plan([], set(), first=first)
    got = [next(slots) for _ in range(4)]
    assert got[:2] == [Slot(0, {"lr": 0.1}), Slot(1, {"lr": 0.2})]
    assert [s.index for s in got[2:]] == [2, 3] and got[2].fixed is None


def test_warm_start_keeps_only_values_valid_in_the_new_space():
    from sweeplab.cli.next import warm_start_configs

    space = SearchSpace.from_yaml(
        """
parameters:
  hidden_units: {distribution: int_log_uniform, min: 16, max: 64}
  beta: {distribution: one_minus_log_uniform, min: 0.9, max: 0.99}
  l2: {value: 0.0}
"""
    )
    top = [
        {"hidden_units": 8, "beta": 0.95, "l2": 0.1},  # 8 is below the new range
        {"hidden_units": 32, "beta": 0.95, "l2": 0.1},
        {"hidden_units": 32, "beta": 0.95},  # the same as the one before, once l2 is fixed
        {"gone": 1},
    ]
    assert warm_start_configs(space, top) == (
        {"beta": 0.95},
        {"hidden_units": 32, "beta": 0.95},
    )
    assert space.to_internal({"beta": 0.95}) == {"beta__1m": pytest.approx(0.05)}


SPACE = """
parameters:
  learning_rate: {distribution: log_uniform, min: 3.0e-4, max: 3.0e-3}
  hidden_units: {distribution: int_log_uniform, min: 4, max: 8}
"""
# tiny networks, two epochs: avoidable bias dominates
PROJECT = """
name: next-digits
data:
  source: sklearn:digits
  splits: {train: 0.7, train_dev: 0.1, dev: 0.2}
  seed: 0
model: {name: mlp, num_layers: 1}
train: {epochs: 2, batch_size: 128, optimizer: adam}
human_level_error: 0.01
search: {space: space.yaml, sampler: random, trials: 4, seed: 3}
"""


@pytest.fixture(scope="module")
def underfit(tmp_path_factory) -> Path:
    return sweep_into(tmp_path_factory.mktemp("next"), project=PROJECT, space=SPACE, name="u")


@pytest.mark.slow
def test_next_derives_runs_and_links_a_warm_started_sweep(underfit, capsys):
    from mlflow import MlflowClient

    from sweeplab.reports._dashboard_trials import load_sweep

    ws = underfit
    parent_best = load_sweep("u", workspace=ws).top_feasible(2)
    args = [
        "next",
        "u",
        "--trials",
        "3",
        "--warm-start",
        "2",
        "--name",
        "u2",
        "--workspace",
        str(ws),
    ]
    assert main(args) == 0
    out = capsys.readouterr()
    assert "keep tuning" in out.out and "Avoidable bias" in out.err
    # the styles are styles, not markup printed as text
    assert "Next sweep: sweeplab next u2" in " ".join(out.out.split())
    assert "[/" not in out.out + out.err and "\\[" not in out.out + out.err

    written = ws / "sweeps" / "u2" / "next.yaml"
    text = written.read_text()
    space = load_space(written)
    assert load_space(ws / "sweeps" / "u2" / "space.yaml") == space
    # the bias recipe: a wider net, deeper, longer training; each change says why
    assert space["hidden_units"].distribution.high > 8 and "num_layers" in space
    assert "epochs" in space and text.count("(avoidable bias)") >= 3

    info = Workspace.at(ws).read_sweep("u2")
    client = MlflowClient(info["tracking_uri"])
    tags = client.get_run(info["parent_run_id"]).data.tags
    assert tags["sweeplab.next_from"] == "u" and tags["sweeplab.derived_for"] == "avoidable_bias"
    old = Workspace.at(ws).read_sweep("u")
    assert tags["sweeplab.next_from_run"] == old["parent_run_id"]

    # the parent's best configurations ran first: their values valid in the new space
    child = sorted(load_sweep("u2", workspace=ws).trials, key=lambda t: t.number)
    assert len(child) == 3
    for t, p in zip(child[:2], parent_best, strict=True):
        kept = {k: v for k, v in p.params.items() if space[k].distribution.contains(v)}
        assert kept and all(t.params[k] == pytest.approx(v) for k, v in kept.items())

    # the chain, root first, in `runs --lineage`
    capsys.readouterr()
    assert main(["runs", "u2", "--lineage", "--json", "--workspace", str(ws)]) == 0
    chain = json.loads(capsys.readouterr().out)["lineage"]
    assert [r["sweep"] for r in chain] == ["u", "u2"]
    assert chain[1]["parent"] == "u" and chain[1]["how"] == "next"
    assert all(r["ci_low"] <= r["best"] <= r["ci_high"] for r in chain)
    assert chain[1]["vs_parent"] in ("better", "worse", "within noise")
    assert main(["runs", "u2", "--lineage", "--workspace", str(ws)]) == 0
    table = capsys.readouterr().out
    assert "lineage of sweep u2" in table and "\\[" not in table

    # runs: each trial's 95 % interval from the logged dev size, and which are within noise
    assert main(["runs", "u2", "--json", "--workspace", str(ws)]) == 0
    rows = json.loads(capsys.readouterr().out)["trials"]
    from sweeplab.analysis import distinguishable, wilson_interval

    splits = client.get_run(info["parent_run_id"]).data.params["splits"]
    n = dict(p.split("=") for p in splits.split())["dev"]
    n = int(n)
    for r in (r for r in rows if r["dev_error"] is not None):
        ci = wilson_interval(r["dev_error"], n)
        assert (r["dev_error_ci_low"], r["dev_error_ci_high"]) == pytest.approx((ci.low, ci.high))
        assert r["within_noise_of_best"] == (
            not distinguishable(r["dev_error"], rows[0]["dev_error"], n)
        )

    # the dashboard shows the chain and the objective's interval
    from sweeplab.reports import build_dashboard

    page = build_dashboard("u2", workspace=ws, log_artifact=False).path.read_text()
    assert 'id="lineage"' in page and "95% CI" in page and 'id="stop-rule"' in page
