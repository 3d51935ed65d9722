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
