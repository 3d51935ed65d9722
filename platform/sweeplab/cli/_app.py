"""The typer application; command modules add their commands to ``app``."""

from __future__ import annotations

import typer

__all__ = ["app", "state"]

app = typer.Typer(
    name="sweeplab",
    help="Hyperparameter sweeps of PyTorch models under Optuna or Ray Tune, tracked in MLflow.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


class _State:
    debug: bool = False


state = _State()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show the full traceback of errors."),
) -> None:
    state.debug = debug


def reflow(text: str | None) -> str | None:
    """A docstring as help text: each paragraph one line (the terminal wraps it), so the help
    has no hard breaks from the source; a paragraph of ``- `` items keeps one item a line."""
    if not text:
        return text
    import inspect

    paragraphs = []
    for para in inspect.cleandoc(text).split("\n\n"):
        lines = [line.strip() for line in para.splitlines()]
        if lines and all(line.startswith("- ") for line in lines if line) and len(lines) > 1:
            paragraphs.append("\n".join(lines))
        else:
            paragraphs.append(" ".join(line for line in lines if line))
    return "\n\n".join(paragraphs)


def reflow_help(typer_app: typer.Typer) -> None:
    """Reflow every command's help (its ``help=`` or docstring), sub-apps included."""
    import inspect

    for info in typer_app.registered_commands:
        info.help = reflow(info.help or inspect.getdoc(info.callback))
    for group in typer_app.registered_groups:
        group.help = reflow(group.help)
        if group.typer_instance is not None:
            reflow_help(group.typer_instance)
