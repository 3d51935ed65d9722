"""Oversized and hostile inputs are refused with bounded memory and time.

Every case runs the real ``sweeplab`` command in a subprocess whose address space is capped
(RLIMIT_AS, 2 GiB) and which has a timeout: before these limits, a 388-byte grid space took
3 GB, ``report --review /dev/zero`` read until the kernel killed it, and a 37 MB YAML file
parsed for minutes. Each refusal is exit code 2 with one line on stderr that names the limit
(and the environment variable that raises it), never a traceback, and nothing is written
outside the workspace.
"""

from __future__ import annotations

import os
import resource
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tests.conftest import write
from tests.reliability.reliability_helpers import SWEEPLAB, child_runs, sweeplab_env

CAP = 2 * 1024**3  # bytes of address space (torch + MLflow fit well inside it)

PROJECT = """\
name: bounded
data:
  source: {source}
  splits: {{train: 0.6, dev: 0.4}}
  seed: 0
model: softmax
train: {{epochs: 1, batch_size: 16, optimizer: adam}}
search: {{space: {space}, sampler: {sampler}}}
"""

# 8 parameters x 10 values: 10^8 grid points in a 500-byte file
GRID = "parameters:\n" + "".join(
    f"  {name}: {{values: [{', '.join(values)}]}}\n"
    for name, values in {
        "learning_rate": [f"0.0{i}" for i in range(1, 10)] + ["0.1"],
        "batch_size": [str(8 * i) for i in range(1, 11)],
        "epochs": [str(i) for i in range(1, 11)],
        "l2": [f"0.00{i}" for i in range(10)],
        "beta1": [f"0.8{i}" for i in range(10)],
        "beta2": [f"0.99{i}" for i in range(10)],
        "epsilon": [f"{i}.0e-8" for i in range(1, 11)],
        "seed": [str(i) for i in range(10)],
    }.items()
)


def _cap() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (CAP, CAP))


def run(args: list[str], cwd: Path, *, timeout: float = 120, **env: str):
    return subprocess.run(
        [*SWEEPLAB, *args],
        cwd=cwd,
        env=sweeplab_env(cwd / "ws", **env),
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=_cap,
    )


def assert_refused(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """Exit 2, one line on stderr holding every needle, no traceback; returns the line."""
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out, out
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, (proc.returncode, out)
    line = lines[0].removeprefix("sweeplab: error: ")
    for needle in needles:
        assert needle in line, (needle, line)
    return line


def files_outside(cwd: Path, before: set[Path]) -> set[Path]:
    """What a command wrote in ``cwd`` other than its workspace (ws/)."""
    now = {p for p in cwd.rglob("*") if "ws" not in p.relative_to(cwd).parts[:1]}
    return now - before


@pytest.fixture
def cwd(tmp_path: Path) -> Path:
    write(tmp_path / "grid.yaml", GRID)
    write(tmp_path / "space.yaml", "parameters:\n  learning_rate: {values: [0.01, 0.1]}\n")
    return tmp_path


def project(cwd: Path, name: str = "p.yaml", **fields: str) -> Path:
    values = {"source": "sklearn:iris", "space": "space.yaml", "sampler": "random", **fields}
    return write(cwd / name, PROJECT.format(**values))


# -- the grid ----------------------------------------------------------------------------------


def test_a_huge_grid_without_trials_is_refused_before_any_work(cwd: Path) -> None:
    p = project(cwd, space="grid.yaml", sampler="grid")
    before = set(cwd.rglob("*"))
    line = assert_refused(run(["sweep", str(p)], cwd), "100,000,000 points", "--trials")
    assert line.startswith(f"{p}:8: search.sampler:")
    assert files_outside(cwd, before) == set()


@pytest.mark.slow
def test_a_huge_grid_with_trials_runs_its_first_points_in_bounded_memory(cwd: Path) -> None:
    p = project(cwd, space="grid.yaml", sampler="grid")
    proc = run(["sweep", str(p), "--trials", "2", "--name", "g"], cwd, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    runs = child_runs(f"sqlite:///{cwd / 'ws' / 'mlflow.db'}", "g")
    seeds = sorted(int(r.data.params["train.seed"]) for r in runs)
    # grid points 0 and 1: the first value of every parameter, the last one counting up
    assert seeds == [0, 1]
    assert {r.data.params["train.batch_size"] for r in runs} == {"8"}


# -- files over their size limit -----------------------------------------------------------------


def test_review_from_dev_zero_is_refused_at_the_limit(cwd: Path) -> None:
    assert_refused(
        run(["report", "--review", "/dev/zero"], cwd),
        "/dev/zero",
        "50 MB limit",
        "SWEEPLAB_MAX_REVIEW_MB",
    )


def test_review_that_is_a_folder_is_refused(cwd: Path) -> None:
    assert_refused(run(["report", "--review", str(cwd)], cwd), str(cwd), "folder")


def test_a_37_mb_project_file_is_refused_before_it_is_read(cwd: Path) -> None:
    big = cwd / "big.yaml"
    with big.open("w") as f:
        f.write("name: big\ndescription: ")
        f.write("x" * (37 * 1024 * 1024))
    assert_refused(
        run(["sweep", str(big)], cwd, timeout=60),
        "big.yaml",
        "37.0 MB",
        "1 MB limit",
        "SWEEPLAB_MAX_YAML_MB",
    )


def test_the_limit_is_raised_by_its_variable_and_a_bad_value_is_named(cwd: Path) -> None:
    p = project(cwd)
    assert_refused(run(["sweep", str(p)], cwd, SWEEPLAB_MAX_YAML_MB="0.0001"), "0.0001 MB limit")
    assert_refused(run(["sweep", str(p)], cwd, SWEEPLAB_MAX_YAML_MB="lots"), "SWEEPLAB_MAX_YAML_MB")


def test_a_space_of_too_many_values_stops_while_parsing_at_its_line(cwd: Path) -> None:
    many = write(
        cwd / "many.yaml",
        "parameters:\n" + "".join(f"  p{i}: {{value: {i}}}\n" for i in range(12_000)),
    )
    assert many.stat().st_size < 1024 * 1024
    p = project(cwd, space="many.yaml")
    line = assert_refused(run(["sweep", str(p)], cwd), "over 20,000 values")
    assert line.startswith(f"{many}:")  # a line number, where the limit was reached


@pytest.mark.parametrize(
    "text",
    ["parameters: " + "[" * 5000 + "]" * 5000, "a: &a [*a, *a]\nparameters: {x: {values: *a}}"],
    ids=["brackets", "self-alias"],
)
def test_deep_nesting_is_a_file_line_error(cwd: Path, text: str) -> None:
    deep = write(cwd / "deep.yaml", text)
    line = assert_refused(run(["sample", str(deep)], cwd), "nested deeper than 64 levels")
    assert line.startswith(f"{deep}:1:")


def test_a_pipe_that_no_one_writes_to_is_an_empty_file_not_a_hang(cwd: Path) -> None:
    os.mkfifo(cwd / "pipe.yaml")
    assert_refused(run(["sample", "pipe.yaml"], cwd, timeout=60), "pipe.yaml", "empty")


def test_a_long_description_is_refused(cwd: Path) -> None:
    write(cwd / "space.yaml", "description: " + "d" * 20_000 + "\nparameters: {}\n")
    p = project(cwd)
    assert_refused(run(["sweep", str(p)], cwd), "description", "10,000 characters")


def test_a_file_that_is_not_yaml_is_not_echoed(cwd: Path) -> None:
    secret = write(cwd / "secret.txt", "root:x:0:0:SECRET-TOKEN-4711:/root:/bin/bash\n" * 20)
    p = project(cwd, space=str(secret))
    line = assert_refused(run(["sweep", str(p)], cwd), "expected a mapping")
    assert "SECRET" not in line and "root:" not in line


def test_a_data_table_over_its_limit_is_refused_before_pandas_reads_it(cwd: Path) -> None:
    rows = "\n".join(f"{i},{i % 2}" for i in range(500))
    write(cwd / "t.csv", "x,y\n" + rows + "\n")
    p = project(cwd, source="t.csv\n  label: y")
    assert_refused(
        run(["splits", str(p)], cwd, SWEEPLAB_MAX_DATA_MB="0.001"),
        "t.csv",
        "SWEEPLAB_MAX_DATA_MB",
    )


def test_a_state_file_over_its_limit_is_refused(cwd: Path) -> None:
    sweep = cwd / "ws" / "sweeps" / "s"
    sweep.mkdir(parents=True)
    with (sweep / "sweep.json").open("wb") as f:
        f.truncate(100 * 1024 * 1024)  # sparse: 100 MB on paper
    assert_refused(run(["runs", "s"], cwd), "sweep.json", "64 MB limit", "SWEEPLAB_MAX_STATE_MB")


# -- image folders ----------------------------------------------------------------------------


def _images(folder: Path, n: int = 6, size: int = 8, seed: int = 0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (size, size), dtype=np.uint8)).save(
            folder / f"{i}.png"
        )


@pytest.fixture
def image_project(cwd: Path) -> Path:
    for seed, c in enumerate(("a", "b")):
        _images(cwd / "imgs" / c, seed=seed)
    _images(cwd / "elsewhere" / "c", seed=2)
    return project(cwd, source="images:imgs")


def test_a_class_folder_linked_out_of_the_data_folder_is_refused(
    cwd: Path, image_project: Path
) -> None:
    (cwd / "imgs" / "c").symlink_to(cwd / "elsewhere" / "c", target_is_directory=True)
    assert_refused(run(["splits", str(image_project)], cwd), "imgs/c", "outside the image folder")


def test_an_image_linked_out_of_the_data_folder_is_refused(cwd: Path, image_project: Path) -> None:
    (cwd / "imgs" / "a" / "z.png").symlink_to(cwd / "elsewhere" / "c" / "0.png")
    assert_refused(run(["splits", str(image_project)], cwd), "z.png", "outside the image folder")


def test_links_inside_the_data_folder_are_fine(cwd: Path, image_project: Path) -> None:
    _images(cwd / "imgs" / ".store" / "c", seed=3)  # hidden: not a class folder itself
    (cwd / "imgs" / "c").symlink_to(cwd / "imgs" / ".store" / "c", target_is_directory=True)
    proc = run(["splits", str(image_project)], cwd)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "18 examples" in proc.stdout  # 3 classes of 6


def test_an_image_over_the_pixel_limit_is_refused_on_its_header(
    cwd: Path, image_project: Path
) -> None:
    _images(cwd / "imgs" / "b", n=1, size=200, seed=4)  # 40,000 pixels among 8x8 images
    assert_refused(
        run(["splits", str(image_project)], cwd, SWEEPLAB_MAX_IMAGE_MPX="0.01"),
        "0.png",
        "200x200",
        "SWEEPLAB_MAX_IMAGE_MPX",
    )


# -- readers that stay bounded without a limit to hit ------------------------------------------


def test_a_torn_journal_is_repaired_reading_from_its_end(tmp_path: Path) -> None:
    from sweeplab.tuning._optuna import repair_journal

    journal = tmp_path / "j"
    whole = b'{"op": 1}\n' * 10_000  # more than one 64 KiB block before the torn line
    journal.write_bytes(whole + b'{"op": 2, "to')
    assert repair_journal(journal) and journal.read_bytes() == whole
    assert not repair_journal(journal)
    journal.write_bytes(b'{"torn": ' + b"x" * 100_000)  # no whole record at all
    assert repair_journal(journal) and journal.read_bytes() == b""


def test_a_checkpoint_over_its_limit_is_refused_before_torch_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    from sweeplab.errors import UserError
    from sweeplab.models import read_state_dict

    path = tmp_path / "w.pt"
    torch.save({"w": torch.zeros(1000)}, path)
    assert set(read_state_dict(path, "w.pt")) == {"w"}
    monkeypatch.setenv("SWEEPLAB_MAX_CHECKPOINT_MB", "0.001")
    with pytest.raises(UserError, match="SWEEPLAB_MAX_CHECKPOINT_MB"):
        read_state_dict(path, "w.pt")
