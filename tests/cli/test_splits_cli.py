"""`sweeplab splits`: sizes, composition by domain and class, and the cross-split leak check."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from sweeplab.cli import main

REPO = Path(__file__).resolve().parents[2]
MISMATCH = REPO / "projects" / "digits_mismatch.yaml"


def test_mismatch_project_splits_by_domain_and_class(capsys):
    assert main(["splits", str(MISMATCH)]) == 0
    out = capsys.readouterr().out
    assert "✓ no example appears in two splits" in out
    assert "source" in out and "target" in out and "total" in out
    assert main(["splits", str(MISMATCH), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["disjoint"] is True and doc["overlaps"] == []
    assert doc["sizes"]["dev"] == 200 and doc["sizes"]["test"] == 200
    assert sum(doc["sizes"].values()) == 1797
    rows = doc["composition"]
    # dev and test come from the target domain only; the training pool holds both domains
    assert {(r["split"], r["domain"]) for r in rows if r["split"] in ("dev", "test")} == {
        ("dev", "target"),
        ("test", "target"),
    }
    assert {r["domain"] for r in rows if r["split"] == "train"} == {"source", "target"}
    for r in rows:
        assert r["total"] == sum(r[str(c)] for c in range(10))


def _sweep_with_manifest(ws: Path, manifest) -> None:
    from sweeplab.workspace import Workspace

    w = Workspace.at(ws).ensure()
    w.write_sweep(
        "planted", {"name": "planted", "project": str(REPO / "projects" / "digits_mlp.yaml")}
    )
    manifest.to_json(w.sweep_dir("planted") / "splits.json")


def test_a_stored_manifest_that_leaks_fails_the_check(tmp_path, capsys):
    from sweeplab.data import SplitManifest, build_splits, load_checked_project, load_dataset

    pf = load_checked_project(REPO / "projects" / "digits_mlp.yaml")
    ds = load_dataset(pf.project.data, base_dir=pf.base_dir)
    good = build_splits(ds, pf.project.data)
    ws = tmp_path / "ws"
    _sweep_with_manifest(ws, good)
    assert main(["splits", str(pf.path), "--sweep", "planted", "--workspace", str(ws)]) == 0
    assert "no example appears in two splits" in capsys.readouterr().out

    # one training example also listed in dev: the same content in two splits
    leaked = dict(good.splits)
    leaked["dev"] = np.append(leaked["dev"], leaked["train"][0])
    bad = SplitManifest(
        splits=leaked, dataset=good.dataset, fingerprint=good.fingerprint, seed=0, n=good.n
    )
    _sweep_with_manifest(ws, bad)
    assert main(["splits", str(pf.path), "--sweep", "planted", "--workspace", str(ws)]) == 1
    out = capsys.readouterr().out
    assert "appear in two splits" in out and f"digits:{good.splits['train'][0]}" in out


def test_overlaps_names_identical_rows_in_different_splits():
    from sweeplab.cli.splits import overlaps
    from sweeplab.data import Dataset, SplitManifest

    X = np.array([[0, 1], [2, 3], [0, 1], [4, 5]], dtype=np.float32)
    ds = Dataset(
        X=X,
        y=np.array([0, 1, 0, 1]),
        classes=["a", "b"],
        feature_names=["f", "g"],
        name="t",
        ids=np.array(["r0", "r1", "r2", "r3"]),
    )
    m = SplitManifest(
        splits={"train": np.array([0, 1]), "dev": np.array([2, 3])},
        dataset="t",
        fingerprint=ds.fingerprint(),
        seed=0,
        n=4,
    )
    assert overlaps(ds, m) == ["r0 (train) = r2 (dev)"]
    m2 = SplitManifest(
        splits={"train": np.array([0, 2]), "dev": np.array([1, 3])},
        dataset="t",
        fingerprint=ds.fingerprint(),
        seed=0,
        n=4,
    )
    assert overlaps(ds, m2) == []


def test_unknown_project_file_is_one_line_exit_2(tmp_path, capsys):
    assert main(["splits", str(tmp_path / "nope.yaml")]) == 2
    err = capsys.readouterr().err
    assert "file not found" in err and len(err.strip().splitlines()) == 1
