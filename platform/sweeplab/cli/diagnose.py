"""``sweeplab diagnose``: bias / variance / data-mismatch diagnosis from the error ladder."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import typer

from sweeplab.cli._app import app
from sweeplab.cli._common import console as make_console
from sweeplab.errors import UserError

if TYPE_CHECKING:
    from sweeplab.analysis import Diagnosis

__all__ = ["diagnose_command", "render"]

EXAMPLE = "sweeplab diagnose --human 0.01 --train 0.08 --train-dev 0.09 --dev 0.10"


# the gap shown below each rung: the one between it and the next known rung
_GAP_AFTER = {"human": "avoidable_bias", "train_dev": "data_mismatch", "dev": "dev_overfit"}


def _pct(x: float) -> str:
    """``0.08 -> '8.0%'``; below 1% keep two decimals (``0.0025 -> '0.25%'``)."""
    digits = 1 if abs(x) >= 0.01 or x == 0 else 2
    return f"{x * 100:.{digits}f}%"


def render(d: Diagnosis) -> None:
    """Print the ladder with its gaps (the largest marked), the verdict and the remedies."""
    from rich.table import Table

    from sweeplab.analysis._diagnosis import GAP_LABELS, LEVEL_LABELS

    console = make_console()
    table = Table(title="Error ladder", title_justify="left")
    table.add_column("set")
    table.add_column("error", justify="right")
    table.add_column("gap")
    table.add_column("size", justify="right")
    ladder = d.ladder()
    for level, err in ladder.items():
        table.add_row(LEVEL_LABELS[level], _pct(err), "", "")
        gap = _GAP_AFTER.get(level)
        if level == "train":  # variance: train -> train-dev, or train -> dev without train-dev
            gap = "variance"
        value = None if gap is None else getattr(d, gap)
        if gap is None or value is None:
            continue
        mark = "  ◀ largest" if gap in d.largest else ""
        style = "bold red" if gap in d.largest else None
        table.add_row("", "", f"{GAP_LABELS[gap]}{mark}", _pct(value), style=style)
    console.print(table)
    # soft_wrap: long sentences stay one line each (the terminal wraps them), so they grep
    console.print(d.verdict, style="bold", soft_wrap=True)
    for remedy in d.remedies:
        console.print(f"  • {remedy}", soft_wrap=True)
    for note in d.notes:
        console.print(f"Note: {note}", style="dim", soft_wrap=True)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


@app.command(
    "diagnose",
    help=(
        "Diagnose avoidable bias, variance, data mismatch or overfitting to the dev set from "
        "the errors on each set (fractions in [0, 1], not percentages).\n\n"
        f"Example:\n\n    {EXAMPLE}"
    ),
)
def diagnose_command(
    human: float | None = typer.Option(
        None, "--human", help="Human-level error (the proxy for Bayes error)."
    ),
    train: float = typer.Option(..., "--train", help="Training-set error."),
    train_dev: float | None = typer.Option(
        None, "--train-dev", help="Train-dev error (training distribution, not trained on)."
    ),
    dev: float = typer.Option(..., "--dev", help="Dev-set error."),
    test: float | None = typer.Option(None, "--test", help="Test-set error."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON only."),
) -> None:
    # imported here: sweeplab.analysis pulls in pandas, which `sweeplab --help` does not need
    from sweeplab.analysis import diagnose

    try:
        d = diagnose(human=human, train=train, train_dev=train_dev, dev=dev, test=test)
    except UserError as exc:  # name the flag, not the Python argument
        key = _flag(exc.key) if exc.key else None
        raise UserError(exc.message, key=key, suggestions=exc.suggestions) from None
    if as_json:
        typer.echo(json.dumps(d.as_dict(), indent=2, ensure_ascii=False))
    else:
        render(d)
