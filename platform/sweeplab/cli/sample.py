"""``sweeplab sample``: preview the configurations a search space produces, as CSV."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from sweeplab.cli._app import app

__all__ = ["sample"]


@app.command(
    epilog=(
        "Example:\n\n"
        "    sweeplab sample search_spaces/mlp.yaml -n 5 --seed 0\n\n"
        "    sweeplab sample search_spaces/mlp.yaml --grid   (only with `values:` everywhere)"
    ),
)
def sample(
    space: Path = typer.Argument(
        ..., metavar="SPACE.yaml", help="A search-space file (see search_spaces/)."
    ),
    n: int | None = typer.Option(
        None,
        "-n",
        "--num",
        help="How many configurations to draw (default: 10).",
        show_default=False,
    ),
    seed: int = typer.Option(0, "--seed", help="Random seed: the same seed prints the same rows."),
    grid: bool = typer.Option(
        False, "--grid", help="Print every grid combination instead of random draws."
    ),
) -> None:
    """Print sampled configurations of SPACE.yaml as CSV (one row each).

    The header lists every parameter; a conditional parameter that is not active in a row (its `when:` does not hold) has an empty cell.
    """
    import numpy as np

    from sweeplab.analysis import csv_rows
    from sweeplab.errors import UserError
    from sweeplab.space import load_space

    # UserError, not typer.BadParameter: `sweeplab.cli.main` turns it into one line + exit 2.
    if n is not None and n < 1:
        raise UserError(f"`-n >= 1` must hold, but got (n={n}); ask for 1 or more", key="-n")
    if grid and n is not None:
        raise UserError(
            "`--grid` prints every combination, so `-n` would be ignored; drop one", key="-n"
        )
    search_space = load_space(space)
    if grid:
        rows = search_space.grid()
    else:
        rng = np.random.default_rng(seed)
        rows = [search_space.sample(rng) for _ in range(10 if n is None else n)]
    names = search_space.names
    body = ([_cell(row[name]) if name in row else "" for name in names] for row in rows)
    sys.stdout.write(csv_rows(names, body))  # formula-like values neutralised


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list | dict):
        import json

        return json.dumps(value)
    return value
