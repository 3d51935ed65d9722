"""Safe defaults: checkpoints loaded with weights_only=True, and names that become paths
(sweep names, outbox folders, review ids) cannot leave the workspace. (The UI server's
address: tests/cli/test_ui_server.py, with real processes.)"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from sweeplab.analysis import safe_example_id
from sweeplab.cli import main
from sweeplab.errors import UserError
from sweeplab.workspace import Workspace, check_safe_name

REPO = Path(__file__).resolve().parents[2]
ESCAPES = [
    "../evil",
    "../../etc/passwd",
    "/tmp/abs",
    "a/../../b",
    "..",
    ".",
    "a\x00b",
    "sub/dir",
    "",
    "-rf",
]


def _torch_load_calls(path: Path) -> list[tuple[int, bool]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "load"
        ):
            base = node.func.value
            if isinstance(base, ast.Name) and base.id == "torch":
                safe = any(
                    kw.arg == "weights_only"
                    and isinstance(kw.value, ast.Constant)
                    and kw.value.value is True
                    for kw in node.keywords
                )
                out.append((node.lineno, safe))
    return out


def test_every_torch_load_uses_weights_only():
    files = [
        p
        for d in ("platform", "benchmarks", "tests")
        if (REPO / d).is_dir()
        for p in (REPO / d).rglob("*.py")
    ]
    assert files
    unsafe = [
        f"{p.relative_to(REPO)}:{line}"
        for p in files
        for line, safe in _torch_load_calls(p)
        if not safe
    ]
    assert not unsafe, f"torch.load without weights_only=True: {unsafe}"


def test_the_torch_load_check_catches_an_unsafe_call(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import torch\nx = torch.load('m.pt')\ny = torch.load('m.pt', weights_only=True)\n"
    )
    assert _torch_load_calls(bad) == [(2, False), (3, True)]


@pytest.mark.parametrize("name", ESCAPES)
def test_sweep_names_cannot_escape_the_workspace(tmp_path, name):
    ws = Workspace.at(tmp_path / "ws")
    with pytest.raises(UserError):
        check_safe_name(name)
    with pytest.raises(UserError):
        ws.sweep_dir(name)
    with pytest.raises(UserError):
        ws.outbox_dir(name)


@pytest.mark.parametrize("command", ["sweep", "runs", "sync"])
def test_commands_reject_escaping_sweep_names(tmp_path, tiny_project, command, capsys):
    ws = tmp_path / "ws"
    args = {
        "sweep": ["sweep", str(tiny_project), "--name", "../../escaped"],
        "runs": ["runs", "../../escaped"],
        "sync": ["sync", "../../escaped"],
    }[command]
    assert main([*args, "--workspace", str(ws)]) == 2
    err = capsys.readouterr().err
    assert "not allowed" in err and "Traceback" not in err
    assert not (tmp_path / "escaped").exists() and not (ws.parent.parent / "escaped").exists()


@pytest.mark.parametrize(
    "example_id", ["../x", "/abs", "a/b", "a\\b", "..", ".", "", "a\x00b", "x" * 256]
)
def test_review_ids_cannot_become_paths(example_id):
    with pytest.raises(UserError):
        safe_example_id(example_id)


def test_plain_names_are_accepted(tmp_path):
    ws = Workspace.at(tmp_path / "ws")
    assert ws.sweep_dir("digits-mlp_2.v1").parent == (tmp_path / "ws" / "sweeps").resolve()
    assert safe_example_id(17) == "17"
