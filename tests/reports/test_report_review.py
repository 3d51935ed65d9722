"""Satisficing selection in `runs` and `report`, and the review CSV round trip (CLI, real sweep)."""

from __future__ import annotations

import csv
import json
import textwrap
from pathlib import Path

import pytest

from sweeplab.cli import main

pytestmark = pytest.mark.slow

BOUND = (
    1000  # params_count of a 1-layer MLP on digits: 75 h + 10 -> h=4: 310, h=6: 460, h=128: 9610
)


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """One intra-op thread while this module trains: `pytest -n 2` on 2 cores would otherwise
    oversubscribe them, and tiny models train many times slower (measured: 1.5 s -> 20 s CPU)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def constrained_sweep(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("constrained")
    (tmp / "space.yaml").write_text("parameters:\n  hidden_units: {values: [4, 6, 128]}\n")
    project = tmp / "project.yaml"
    project.write_text(
        textwrap.dedent(
            f"""
            name: constrained-digits
            data:
              source: sklearn:digits
              splits: {{train: 0.7, train_dev: 0.1, dev: 0.2}}
              seed: 0
            model: {{name: mlp, num_layers: 1}}
            train: {{epochs: 4, batch_size: 64, optimizer: adam, learning_rate: 0.01}}
            metrics:
              optimize: dev_error
              satisfy: ["params_count <= {BOUND}"]
            human_level_error: 0.01
            search: {{space: space.yaml, sampler: grid}}
            """
        )
    )
    ws = tmp / "ws"
    assert main(["sweep", str(project), "--name", "c1", "--workspace", str(ws)]) == 0
    return ws


def _runs(ws: Path, capsys) -> list[dict]:
    capsys.readouterr()
    assert main(["runs", "--json", "--workspace", str(ws)]) == 0
    return json.loads(capsys.readouterr().out)["trials"]


def test_runs_and_report_pick_the_best_trial_that_satisfies_the_constraint(
    constrained_sweep, capsys
):
    ws = constrained_sweep
    trials = _runs(ws, capsys)
    assert len(trials) == 3
    feasible = [t for t in trials if t["params_count"] <= BOUND]
    infeasible = [t for t in trials if t["params_count"] > BOUND]
    # the setting of the test: the most accurate trial breaks the constraint
    assert min(t["dev_error"] for t in infeasible) < min(t["dev_error"] for t in feasible)
    best = min(feasible, key=lambda t: (t["dev_error"], t["trial"]))
    assert trials[0]["trial"] == best["trial"] and trials[0]["feasible"]

    assert main(["report", "--workspace", str(ws), "--no-log"]) == 0
    summary = json.loads((ws / "reports" / f"c1-trial{best['trial']}" / "report.json").read_text())
    assert summary["trial"] == best["trial"] and summary["feasible"] is True
    assert summary["constraints"] == f"params_count <= {BOUND}"
    assert summary["objective"]["value"] == pytest.approx(best["dev_error"])


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _write(path: Path, rows: list[dict[str, str]], columns: list[str]) -> Path:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return path


def test_review_round_trip_adds_the_reviewed_categories(constrained_sweep, tmp_path, capsys):
    ws = constrained_sweep
    assert main(["review", "--workspace", str(ws)]) == 0
    folder = next((ws / "reviews").iterdir())
    sheet = folder / "review.csv"
    html = (folder / "review.html").read_text()
    rows = _read(sheet)
    assert len(rows) >= 4
    columns = list(rows[0])
    assert columns[:3] == ["id", "y_true", "y_pred"] and {"mislabeled", "blurry", "notes"} <= set(
        columns
    )
    assert all(r["mislabeled"] == "" and r["blurry"] == "" for r in rows)  # empty to fill in
    assert html.count("data:image/png;base64,") == len(rows)

    # a person reviews the first 4 errors: 2 mislabeled, 1 blurry
    reviewed = [dict(r) for r in rows[:4]]
    reviewed[0]["mislabeled"] = reviewed[1]["mislabeled"] = "x"
    reviewed[2]["blurry"] = "yes"
    filled = _write(tmp_path / "filled.csv", reviewed, columns)
    capsys.readouterr()
    assert main(["report", "--workspace", str(ws), "--review", str(filled), "--no-log"]) == 0
    report = next((ws / "reports").iterdir())
    summary = json.loads((report / "report.json").read_text())
    cats = {c["category"]: c for c in summary["error_table"]["categories"]}
    assert cats["mislabeled"]["errors"] == 2 and cats["mislabeled"]["examined"] == 4
    assert cats["blurry"]["errors"] == 1 and cats["blurry"]["examined"] == 4
    assert summary["review"]["categories"] == ["mislabeled", "blurry"]
    n_errors = summary["error_table"]["n_errors"]
    assert cats["true_class=" + rows[0]["y_true"]]["examined"] == n_errors  # automatic: all errors
    md = (report / "report.md").read_text()
    assert "| mislabeled | review | 2 | 4 |" in md and "| blurry | review | 1 | 4 |" in md


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ("unknown_id", "not misclassified examples of this table"),
        ("missing_column", "missing required column 'y_pred'"),
    ],
)
def test_bad_review_csv_is_one_line_exit_2(constrained_sweep, tmp_path, capsys, edit, message):
    ws = constrained_sweep
    assert main(["review", "--workspace", str(ws), "--out", str(tmp_path / "rv")]) == 0
    rows = _read(tmp_path / "rv" / "review.csv")
    columns = list(rows[0])
    if edit == "unknown_id":
        rows[0]["id"] = "digits:no-such-example"
    else:
        columns.remove("y_pred")
    bad = _write(tmp_path / "bad.csv", rows, columns)
    capsys.readouterr()
    rc = main(["report", "--workspace", str(ws), "--review", str(bad), "--no-log"])
    err = capsys.readouterr().err
    assert rc == 2
    assert message in err and str(bad) in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_label_check_is_cached_in_the_run_and_review_lists_suspects_first(constrained_sweep):
    from mlflow.tracking import MlflowClient

    from sweeplab.reports import write_report

    ws = constrained_sweep
    first = write_report(workspace=ws, log=False, top=2)
    run_id = first.data.run_id
    from sweeplab.workspace import Workspace

    sweep = next((ws / "sweeps").glob("*/sweep.json")).parent.name
    client = MlflowClient(Workspace.at(ws).read_sweep(sweep)["tracking_uri"])
    cached = [a.path for a in client.list_artifacts(run_id, "labels")]
    assert cached == ["labels/out_of_sample.npz"]
    summary = first.data.summary()["label_errors"]
    assert "5-fold × 3 repeats" in summary["method"] and summary["n"] == first.data.table.n_dev
    assert summary["interval"][0] <= summary["estimate"] <= summary["interval"][1]
    # every suspect is one of the model's mistakes
    assert all(s["true"] != s["pred"] for s in first.data.suspects)
    across = first.data.summary()["sweep_errors"]
    assert len(across["trials"]) == 2
    assert (
        across["all_wrong"]["errors"] + across["some_wrong"]["errors"] == first.data.table.n_errors
    )

    second = write_report(workspace=ws, log=False)  # no re-training: the cached probabilities
    assert "cached in the run" in second.data.label_method
    assert second.data.summary()["label_errors"]["estimate"] == summary["estimate"]

    assert main(["review", "--workspace", str(ws), "--out", str(ws / "rv-labels")]) == 0
    rows = _read(ws / "rv-labels" / "review.csv")
    suggested = [r["suggested_label"] for r in rows]
    n = len(first.data.suspects)
    assert all(suggested[:n]) and not any(suggested[n:])
    assert [r["id"] for r in rows[:n]] == [s["id"] for s in first.data.suspects]
