"""One flag vocabulary for every ``sweeplab`` command.

The commands are walked through typer's own objects (``typer.main.get_command(app)``: the
root group, its sub-commands and sub-groups, each command's params), so a command added
later is checked without being listed here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer

from sweeplab.cli import app, main

FLAG = "flag"  # takes no value (--json, --log/--no-log)
VALUE = "value"  # takes a value (--out DIR)


@dataclass(frozen=True)
class Spelling:
    short: str | None  # the one short flag, or None: no short flag
    kind: str  # FLAG or VALUE
    off: str | None = None  # the negative spelling of a --x/--no-x flag


#: The same meaning has the same flag in every command that has it.
VOCABULARY: dict[str, Spelling] = {
    "--workspace": Spelling("-w", VALUE),
    "--tracking-uri": Spelling(None, VALUE),
    "--out": Spelling("-o", VALUE),  # an output folder or file
    "--log": Spelling(None, FLAG, off="--no-log"),  # --no-log: log no artifacts to MLflow
    "--json": Spelling(None, FLAG),
    "--csv": Spelling(None, FLAG),
    "--top": Spelling("-k", VALUE),
    "--trial": Spelling("-t", VALUE),
    "--space": Spelling("-s", VALUE),
    "--seed": Spelling(None, VALUE),
    "--name": Spelling(None, VALUE),
    "--wide": Spelling(None, FLAG),
}
OFF = {s.off: f"{long}/{s.off}" for long, s in VOCABULARY.items() if s.off}
# -n is "how many" (sweep / refine --trials, sample --num): not reserved to one long flag.

#: Spellings the vocabulary replaces: no command may use them.
SYNONYMS: dict[str, str] = {
    "--output": "--out",
    "--outdir": "--out",
    "--out-dir": "--out",
    "--output-dir": "--out",
    "--log-artifact": "--log",
    "--no-log-artifact": "--no-log",
    "--log-artifacts": "--log",
    "--no-log-artifacts": "--no-log",
    "--no-mlflow": "--no-log",
    "--ws": "--workspace",
    "--workspace-dir": "--workspace",
    "--mlflow-uri": "--tracking-uri",
    "--tracking": "--tracking-uri",
    "--as-json": "--json",
    "--as-csv": "--csv",
    "--top-k": "--top",
    "--best": "--top",
    "--n-trials": "--trials",
    "--num-trials": "--trials",
}


def _commands() -> dict[str, Any]:
    """Every leaf command by its full name ("runs", "models show", ...)."""
    found: dict[str, Any] = {}

    def walk(cmd: Any, path: tuple[str, ...]) -> None:
        subs = getattr(cmd, "commands", None)
        if subs is None:
            found[" ".join(path)] = cmd
            return
        for name, sub in subs.items():
            walk(sub, (*path, name))

    walk(typer.main.get_command(app), ())
    return found


COMMANDS = _commands()


def _options(cmd: Any) -> list[Any]:
    return [p for p in cmd.params if p.param_type_name == "option"]


def _names(option: Any) -> list[str]:
    return [*option.opts, *option.secondary_opts]


def _spelling(option: Any) -> Spelling:
    shorts = [n for n in _names(option) if not n.startswith("--")]
    assert len(shorts) <= 1, f"{_names(option)}: more than one short flag"
    off = next((n for n in option.secondary_opts if n.startswith("--")), None)
    return Spelling(shorts[0] if shorts else None, FLAG if option.is_flag else VALUE, off)


def _long(option: Any) -> str:
    return next(n for n in option.opts if n.startswith("--"))


def test_the_walk_finds_every_command() -> None:
    assert {"sweep", "runs", "dashboard", "report", "review", "evaluate", "sync", "ui"} <= set(
        COMMANDS
    )
    assert {"models list", "models show"} <= set(COMMANDS)
    assert all(_options(c) for c in COMMANDS.values())


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_no_flag_is_used_twice_in_one_command(name: str) -> None:
    seen: dict[str, str] = {}
    for option in _options(COMMANDS[name]):
        for flag in _names(option):
            assert flag not in seen, (
                f"`sweeplab {name}`: {flag} is both {seen[flag]} and {option.name}"
            )
            seen[flag] = option.name


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_vocabulary_flags_have_one_spelling(name: str) -> None:
    for option in _options(COMMANDS[name]):
        long = _long(option)
        if long in VOCABULARY:
            assert _spelling(option) == VOCABULARY[long], f"`sweeplab {name}` {_names(option)}"
        assert long not in OFF, f"`sweeplab {name}`: {long} is the off side of {OFF[long]}"
        # a short flag the vocabulary gives to one long flag means that flag only
        short = _spelling(option).short
        for vocab_long, spelling in VOCABULARY.items():
            if short is not None and short == spelling.short:
                assert long == vocab_long, f"`sweeplab {name}`: {short} is {vocab_long}, not {long}"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_no_command_uses_a_replaced_synonym(name: str) -> None:
    for option in _options(COMMANDS[name]):
        for flag in _names(option):
            assert flag not in SYNONYMS, f"`sweeplab {name}`: {flag} is spelled {SYNONYMS[flag]}"
        for flag in option.secondary_opts:  # --no-x belongs to --x: the vocabulary's --log/--no-log
            assert flag == "--no-" + _long(option)[2:], f"`sweeplab {name}`: {_names(option)}"


def test_a_long_flag_shared_by_commands_is_spelled_the_same_in_each() -> None:
    spellings: dict[str, dict[Spelling, list[str]]] = {}
    for name, cmd in COMMANDS.items():
        for option in _options(cmd):
            spellings.setdefault(_long(option), {}).setdefault(_spelling(option), []).append(name)
    mixed = {long: by for long, by in spellings.items() if len(by) > 1}
    assert not mixed, mixed


def test_runs_w_is_the_workspace_and_wide_has_its_own_flag() -> None:
    ctx = COMMANDS["runs"].make_context("runs", ["-w", "ws", "--wide"])
    assert ctx.params["workspace"] == Path("ws")
    assert ctx.params["wide"] is True


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["dashboard", "-o", "page.html", "--no-log"], {"out": Path("page.html"), "log": False}),
        (["dashboard"], {"out": None, "log": True}),
        (["report", "--out", "r", "--no-log"], {"out": Path("r"), "log": False}),
        (["report"], {"out": None, "log": True}),
        (["review", "-o", "rv"], {"out": Path("rv")}),
    ],
)
def test_out_and_no_log_parse_the_same_in_every_command(
    args: list[str], expected: dict[str, Any]
) -> None:
    ctx = COMMANDS[args[0]].make_context(args[0], args[1:])
    assert {k: ctx.params[k] for k in expected} == expected


@pytest.mark.parametrize(
    ("args", "new"),
    [
        (["dashboard", "--output", "page.html"], "--out"),
        (["dashboard", "--no-log-artifact"], "--no-log"),
    ],
)
def test_a_replaced_spelling_is_a_usage_error_naming_the_new_one(
    args: list[str], new: str, workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    said = rf"No such option: {args[1]} .*(Possible options|Did you mean)[^\n]*{new}(?![\w-])"
    assert re.search(said, err), err
