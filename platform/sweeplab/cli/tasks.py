"""`sweeplab tasks`: the task registry — what a project's `task:` can be."""

from __future__ import annotations

import json

import typer
from rich.text import Text

from sweeplab.cli._app import app
from sweeplab.cli._common import console as make_console

__all__ = ["tasks"]


@app.command(epilog="Example: sweeplab tasks   |   sweeplab tasks --json")
def tasks(
    as_json: bool = typer.Option(False, "--json", help="Print the tasks as JSON."),
) -> None:
    """List the tasks a project can name: their settings (task_args), their own metrics and
    what their dev_error measures."""
    from rich.table import Table

    from sweeplab.models import MODELS
    from sweeplab.tasks import TASKS

    if as_json:
        rows = [
            {
                "task": name,
                "description": TASKS.get(name).description,
                "task_args": list(TASKS.get(name).args.model_fields)
                if TASKS.get(name).args
                else [],
                "metrics": list(TASKS.get(name).metrics),
                "error_measure": TASKS.get(name).error_measure,
                "models": MODELS.names(lambda s, n=name: n in s.tasks),
            }
            for name in TASKS
        ]
        typer.echo(json.dumps(rows, indent=2))
        return

    table = Table(title="sweeplab tasks")
    for col in ("task", "task_args (searchable)", "metrics", "dev_error", "models"):
        table.add_column(col, overflow="fold")
    for name in TASKS:
        spec = TASKS.get(name)
        table.add_row(
            Text.assemble(f"{name}\n", (spec.description, "dim")),
            ", ".join(spec.args.model_fields) if spec.args else "",
            ", ".join(m for m in spec.metrics if not m.startswith("test_")),
            spec.error_measure or ("1 − accuracy" if spec.dev_set else "–"),
            ", ".join(MODELS.names(lambda s, n=name: n in s.tasks)),
        )
    make_console().print(table)
