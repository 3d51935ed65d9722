"""A workspace can be copied or moved: each copy works on its own stores (trials, artifacts),
and a moved one works where it is now without re-creating the old place."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.conftest import write

from sweeplab.cli import main
from sweeplab.tracking import default_tracking_uri


def _project(tmp_path: Path) -> Path:
    return write(
        tmp_path / "p.yaml",
        """
        name: relocate
        data: {source: sklearn:iris, splits: {train: 0.6, dev: 0.4}, seed: 0}
        model: {name: mlp, num_layers: 1}
        train: {epochs: 1}
        search: {trials: 4, sampler: random, seed: 0}
        """,
    )


def _store(ws: Path):
    """(client, experiment, parent run, trial runs by number) read back with MLflow's API."""
    from mlflow import MlflowClient

    client = MlflowClient(default_tracking_uri(ws))
    exp = client.get_experiment_by_name("relocate")
    runs = client.search_runs([exp.experiment_id], "tags.`sweeplab.sweep` = 's'")
    (parent,) = [r for r in runs if r.data.tags["sweeplab.kind"] == "sweep"]
    trials = [r for r in runs if r.data.tags["sweeplab.kind"] == "trial"]
    numbers = sorted(int(r.data.tags["sweeplab.trial_number"]) for r in trials)
    return (
        client,
        exp,
        parent,
        {int(r.data.tags["sweeplab.trial_number"]): r for r in trials},
        numbers,
    )


def test_a_copied_workspace_and_its_original_each_resume_into_their_own_stores(tmp_path):
    project = _project(tmp_path)
    original, copy = tmp_path / "a" / "ws", tmp_path / "b" / "ws"
    assert main(["sweep", str(project), "--name", "s", "--trials", "2", "-w", str(original)]) == 0
    info = json.loads((original / "sweeps" / "s" / "sweep.json").read_text())
    assert info["tracking_uri"] == "workspace"  # no absolute path to the store
    shutil.copytree(original, copy)
    for ws in (copy, original):  # the copy first: it must not write into the original
        assert (
            main(["sweep", str(project), "--resume", "--name", "s", "--trials", "4", "-w", str(ws)])
            == 0
        )
    seen = {}
    for ws in (original, copy):
        client, exp, parent, trials, numbers = _store(ws)
        assert numbers == [0, 1, 2, 3], numbers  # each number once
        assert {r.info.status for r in trials.values()} == {"FINISHED"}
        here = (ws / "mlartifacts").as_uri()
        assert exp.artifact_location.startswith(here), exp.artifact_location
        for run in [parent, *trials.values()]:
            assert run.info.artifact_uri.startswith(here), run.info.artifact_uri
        local = client.download_artifacts(parent.info.run_id, "sweep/space.yaml", str(tmp_path))
        assert "parameters" in Path(local).read_text()
        seen[ws] = {n: r.info.run_id for n, r in trials.items()}
    # the trials before the copy are shared; those after it are each store's own
    assert [seen[original][n] == seen[copy][n] for n in range(4)] == [True, True, False, False]
    for n in (2, 3):  # nothing of the copy's new trials in the original's folders, or back
        for ws, other in ((original, copy), (copy, original)):
            assert not list(ws.rglob(f"*{seen[other][n]}*")), (ws, n)


def test_a_moved_workspace_works_where_it_is_and_the_old_place_stays_gone(tmp_path, capsys):
    project = _project(tmp_path)
    old, new = tmp_path / "old" / "ws", tmp_path / "new" / "ws"
    assert main(["sweep", str(project), "--name", "s", "--trials", "2", "-w", str(old)]) == 0
    new.parent.mkdir()
    old.rename(new)
    capsys.readouterr()
    assert main(["runs", "s", "--json", "-w", str(new)]) == 0
    assert len(json.loads(capsys.readouterr().out)["trials"]) == 2
    assert (
        main(["sweep", str(project), "--resume", "--name", "s", "--trials", "3", "-w", str(new)])
        == 0
    )
    _, exp, parent, trials, numbers = _store(new)
    assert numbers == [0, 1, 2]
    assert all(r.info.artifact_uri.startswith(new.as_uri()) for r in [parent, *trials.values()])
    assert not old.exists()
