"""Malformed project, search-space and data files: exit code 2, exactly one line on stderr
that names the file, never a traceback, and nothing in the file is ever executed."""

from __future__ import annotations

import contextlib
import io
import itertools
import re
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sweeplab.cli import main

PROJECT = """\
name: bad-input
data:
  source: sklearn:iris
  splits: {train: 0.6, dev: 0.4}
  seed: 0
model: softmax
train:
  epochs: 2
  batch_size: 16
  optimizer: adam
human_level_error: 0.01
search:
  space: space.yaml
  sampler: random
  trials: 1
"""

SPACE = """\
parameters:
  learning_rate: {distribution: log_uniform, min: 1.0e-3, max: 1.0e-1}
  optimizer: {values: [adam, momentum]}
"""

MARKER = Path("/tmp/sweeplab-pwned-marker")
TAGS = [
    f'!!python/object/apply:os.system ["touch {MARKER}"]',
    f"!!python/object/apply:subprocess.call [[touch, {MARKER}]]",
    "!!python/name:os.system",
    f'!!python/object/new:os.system ["touch {MARKER}"]',
    "!!binary aGVsbG8=",
    "!custom 1",
    "!!set {a, b}",
]
SYNTAX = [
    "key: [1, 2",
    "\tkey: 1",
    "{",
    'key: "unterminated',
    "- item",
    ": :",
    "a: b: c",
    "  - [",
    "%TAG !x! tag:x,2000:",
    "key: *undefined_alias",
]
WRONG_TYPES = ["abc", "[1, 2]", "{a: 1}", "''", "null", "2026-11-26", "0x", "1 2"]
HUGE = [
    "100000000000000000000000000000",
    "1.0e400",
    "-1.0e400",
    "99999999999999999999999999999999999999999",
]
NONFINITE = [".nan", ".inf", "-.inf", ".NaN"]
RANGES = {
    "project": [
        ("splits: {train: 0.6, dev: 0.4}", "splits: {train: 0.9, dev: 0.4}"),
        ("splits: {train: 0.6, dev: 0.4}", "splits: {train: -0.6, dev: 1.6}"),
        ("splits: {train: 0.6, dev: 0.4}", "splits: {}"),
        ("epochs: 2", "epochs: -1"),
        ("epochs: 2", "epochs: 0"),
        ("batch_size: 16", "batch_size: 0"),
        ("human_level_error: 0.01", "human_level_error: 2"),
        ("human_level_error: 0.01", "human_level_error: -0.5"),
        ("trials: 1", "trials: 0"),
        ("seed: 0", "seed: -3"),
    ],
    "space": [
        ("min: 1.0e-3, max: 1.0e-1", "min: 1.0e-1, max: 1.0e-3"),
        ("min: 1.0e-3, max: 1.0e-1", "min: -1.0, max: 1.0e-1"),
        ("min: 1.0e-3, max: 1.0e-1", "min: 0, max: 1.0e-1"),
        ("values: [adam, momentum]", "values: []"),
        ("values: [adam, momentum]", "values: [adam, adam]"),
        ("distribution: log_uniform", "distribution: log_normal"),
    ],
}
_counter = itertools.count()


def _value_lines(text: str) -> list[int]:
    """Lines of the form `key: scalar` (not opening a block)."""
    return [i for i, line in enumerate(text.splitlines()) if re.match(r"^\s*[a-z_]+: \S", line)]


@st.composite
def mutations(draw) -> tuple[str, str, str, str]:
    """(which file, kind, project text, space text)."""
    target = draw(st.sampled_from(["project", "space"]))
    kind = draw(
        st.sampled_from(
            [
                "syntax",
                "tag",
                "duplicate",
                "unknown",
                "wrong_type",
                "huge",
                "nonfinite",
                "range",
                "nul",
            ]
        )
    )
    text = PROJECT if target == "project" else SPACE
    lines = text.splitlines()
    if kind == "syntax":
        i = draw(st.integers(0, len(lines)))
        lines.insert(i, draw(st.sampled_from(SYNTAX)))
    elif kind in ("tag", "wrong_type", "huge", "nonfinite"):
        pool = {"tag": TAGS, "wrong_type": WRONG_TYPES, "huge": HUGE, "nonfinite": NONFINITE}[kind]
        i = draw(st.sampled_from(_value_lines(text)))
        key, rest = lines[i].split(": ", 1)
        value = draw(st.sampled_from(pool))
        if rest.startswith("{") and kind != "tag":  # inside a flow mapping: replace one entry
            entries = rest.strip("{}").split(", ")
            j = draw(st.integers(0, len(entries) - 1))
            k = entries[j].split(": ")[0]
            entries[j] = f"{k}: {value}"
            lines[i] = f"{key}: {{{', '.join(entries)}}}"
        else:
            lines[i] = f"{key}: {value}"
    elif kind == "duplicate":
        i = draw(
            st.sampled_from([j for j, line in enumerate(lines) if re.match(r"^\s*[a-z_]+:", line)])
        )
        lines.insert(i + 1, lines[i])
    elif kind == "unknown":
        name = draw(st.from_regex(r"zz[a-z_]{1,10}", fullmatch=True))
        i = draw(st.integers(1, len(lines)))
        indent = re.match(r"^\s*", lines[i - 1]).group(0) if i < len(lines) else ""
        if lines[i - 1].endswith(":"):
            indent += "  "
        lines.insert(i, f"{indent}{name}: 1")
    elif kind == "range":
        old, new = draw(st.sampled_from(RANGES[target]))
        lines = text.replace(old, new).splitlines()
    elif kind == "nul":
        i = draw(st.integers(0, len(lines) - 1))
        lines[i] = lines[i] + "\x00"
    mutated = "\n".join(lines) + "\n"
    project, space = (mutated, SPACE) if target == "project" else (PROJECT, mutated)
    return target, kind, project, space


class _ValidInput(BaseException):
    """Raised instead of running trials when a mutation happens to be a valid file (a
    BaseException, so that the CLI's last line of defence does not turn it into exit 1)."""


def _run_in_process(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()

    def no_trials(setup, *, progress=None):
        raise _ValidInput(setup.name)

    with (
        mock.patch("sweeplab.tuning._optuna.run_optuna", no_trials),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        rc = main(args)
    return rc, out.getvalue(), err.getvalue()


FIGURES = {"tried": 0, "rejected": 0, "valid": [], "tracebacks": 0}


def _assert_one_clean_line(rc: int, err: str, named: Path, context: str) -> None:
    assert "Traceback" not in err, f"{context}\n{err}"
    assert rc == 2, f"{context}\nrc={rc}\n{err}"
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"{context}\n{err}"
    # the file, or (a reference to a missing file, e.g. `space: abc`) the path it names
    assert named.name in lines[0] or "file not found" in lines[0], (
        f"{context}: does not name {named.name}: {lines[0]}"
    )


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(m=mutations())
def test_malformed_project_and_space_files_get_one_line_and_exit_2(tmp_path_factory, m):
    target, kind, project_text, space_text = m
    d = tmp_path_factory.mktemp("bad")
    project, space = d / "project.yaml", d / "space.yaml"
    project.write_text(project_text)
    space.write_text(space_text)
    MARKER.unlink(missing_ok=True)
    args = ["sweep", str(project), "--name", f"b{next(_counter)}", "--workspace", str(d / "ws")]
    FIGURES["tried"] += 1
    try:
        rc, _out, err = _run_in_process(args)
    except _ValidInput:
        FIGURES["valid"].append((kind, target))  # a mutation that happens to be valid
        return
    FIGURES["tracebacks"] += "Traceback" in err
    named = project if target == "project" else space
    _assert_one_clean_line(
        rc,
        err,
        named,
        f"{kind} in {target}:\n{project_text if target == 'project' else space_text}",
    )
    assert not MARKER.exists(), "a YAML tag executed code"
    FIGURES["rejected"] += 1


def test_report_bad_input_figures():
    print(FIGURES)  # run after the property test in the same session (-s shows it)


@pytest.mark.parametrize("tag", TAGS[:4])
def test_python_tags_never_run_in_a_real_process(tmp_path, tag):
    MARKER.unlink(missing_ok=True)
    project = tmp_path / "project.yaml"
    project.write_text(PROJECT.replace("name: bad-input", f"name: {tag}"))
    (tmp_path / "space.yaml").write_text(SPACE)
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "sweeplab"),
            "sweep",
            str(project),
            "--workspace",
            str(tmp_path / "ws"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    _assert_one_clean_line(proc.returncode, proc.stderr, project, tag)
    assert not MARKER.exists()
    assert not (tmp_path / "ws" / "mlflow.db").exists()  # rejected before anything was stored


CSV_CASES = {
    "missing_label": "a,b\n1,2\n3,4\n5,6\n7,8\n",
    "nan_features": "a,b,y\n"
    + "".join(f"{i},{'nan' if i == 3 else i},{i % 2}\n" for i in range(20)),
    "inf_features": "a,b,y\n"
    + "".join(f"{i},{'inf' if i == 3 else i},{i % 2}\n" for i in range(20)),
    "inf_label": "a,b,y\n" + "".join(f"{i},{i},{'inf' if i == 5 else i % 2}\n" for i in range(20)),
    "nan_label": "a,b,y\n" + "".join(f"{i},{i},{'' if i == 5 else i % 2}\n" for i in range(20)),
    "single_class": "a,b,y\n" + "".join(f"{i},{i},1\n" for i in range(20)),
    "header_only": "a,b,y\n",
    "empty_file": "",
    "empty_splits": "a,b,y\n1,2,0\n3,4,1\n5,6,0\n",  # 3 rows for 4 splits (see below)
    "non_numeric_features": "a,b,y\n" + "".join(f"{i},x{i},{i % 2}\n" for i in range(20)),
    "ragged": "a,b,y\n1,2,0\n3,4,1,9,9\n5,6,0\n",
}


@pytest.mark.parametrize("case", sorted(CSV_CASES))
def test_bad_data_files_get_one_line_and_exit_2(tmp_path, case):
    data = tmp_path / "data.csv"
    data.write_text(CSV_CASES[case])
    project = tmp_path / "project.yaml"
    project.write_text(
        PROJECT.replace("source: sklearn:iris", "source: csv:data.csv\n  label: y")
        .replace("model: softmax", "model: mlp")
        .replace("  space: space.yaml\n", "")
    )
    if case == "empty_splits":
        text = project.read_text().replace(
            "{train: 0.6, dev: 0.4}", "{train: 0.6, train_dev: 0.1, dev: 0.2, test: 0.1}"
        )
        project.write_text(text)
    rc, _out, err = _run_in_process(["sweep", str(project), "--workspace", str(tmp_path / "ws")])
    assert "Traceback" not in err
    assert rc == 2, f"{case}: rc={rc}\n{err}"
    # progress lines ("loading data…") come first; the error is one line
    lines = [line for line in err.splitlines() if line.strip() and not line.rstrip().endswith("…")]
    assert len(lines) == 1 and lines[0].startswith("sweeplab: error:"), err
    assert "data.csv" in lines[0] or "project.yaml" in lines[0], lines[0]
