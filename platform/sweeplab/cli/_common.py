"""Options and helpers shared by several commands."""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = [
    "ArgOpt",
    "RefitLabelsOpt",
    "TrackingOpt",
    "WorkspaceOpt",
    "console",
    "err_console",
    "fmt_value",
    "model_args",
]

WorkspaceOpt = typer.Option(
    None,
    "--workspace",
    "-w",
    help="Workspace folder for the stores (default: ./sweeplab-workspace, or $SWEEPLAB_WORKSPACE).",
    show_default=False,
)
RefitLabelsOpt = typer.Option(
    False,
    "--refit-labels",
    help="Cross-fit the trial's configuration again for the label check, instead of using the "
    "out-of-sample probabilities cached in its run (labels/out_of_sample.npz).",
)
TrackingOpt = typer.Option(
    None,
    "--tracking-uri",
    help="MLflow tracking URI, e.g. http://127.0.0.1:5000 (default: SQLite in the workspace).",
    show_default=False,
)


def console(*, stderr: bool = False, **kwargs):
    """A rich console that prints text as it is: markup, emoji codes and highlighting off.

    Data strings (class names, categorical values, failure reasons) reach the terminal through
    it, and ``[/bold]`` in one of them must print as itself, not end a style (or raise
    ``MarkupError``). Styles are given with ``style=`` (or :class:`rich.text.Text`), never as
    markup inside an f-string. Every command's console comes from here.
    """
    from rich.console import Console

    return Console(stderr=stderr, markup=False, emoji=False, highlight=False, **kwargs)


def err_console():
    return console(stderr=True)


def fmt_value(value: object) -> str:
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) < 1e-3 or abs(value) >= 1e5:
            return f"{value:.3g}"
        return f"{value:.4g}"
    return str(value)


def path_arg(path: Path) -> Path:
    from sweeplab.errors import UserError

    if not path.exists():
        raise UserError("file not found", file=str(path))
    return path


ArgOpt = typer.Option(
    None,
    "--arg",
    help="A model argument NAME=VALUE (repeatable; values read as YAML), e.g. padding=same.",
)


def model_args(items: list[str]) -> dict[str, object]:
    """``["padding=same", "blocks_per_stage=[1, 1]"]`` -> a dict; values read as YAML."""
    from ruamel.yaml import YAML

    from sweeplab.errors import UserError

    yaml = YAML(typ="safe", pure=True)

    args: dict[str, object] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UserError(f"--arg must be NAME=VALUE, but got {item!r}", key="--arg")
        args[name.strip()] = yaml.load(value)
    return args
