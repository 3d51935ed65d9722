"""A worker that joins before its sweep exists is told where it looked and what to do."""

from __future__ import annotations

from pathlib import Path

from sweeplab.cli import main

PROJECT = Path(__file__).resolve().parents[2] / "projects" / "digits_mlp.yaml"


def test_join_before_the_driver_recorded_the_sweep_names_the_study_storage(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("SWEEPLAB_JOIN_WAIT_S", "1")  # how long --join waits for the sweep
    storage = f"sqlite:///{tmp_path / 'studies.db'}"
    code = main(
        [
            "sweep",
            str(PROJECT),
            "--name",
            "lr-search",
            "--join",
            "--workspace",
            str(tmp_path / "bob"),
            "--study-storage",
            storage,
        ]
    )
    raw = capsys.readouterr().err
    err = " ".join(raw.split())
    assert code == 2
    assert "Traceback" not in raw
    assert "no sweep named 'lr-search' to join" in err
    assert storage in err  # where it looked besides the workspace
    assert "waited 1 s" in err
    assert not (tmp_path / "bob" / "sweeps" / "lr-search" / "sweep.json").exists()
