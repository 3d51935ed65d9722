"""`sweeplab models`: the model registry — list the models, show one's layers."""

from __future__ import annotations

import typer

from sweeplab.cli._app import app
from sweeplab.cli._common import ArgOpt, model_args
from sweeplab.cli._common import console as make_console

__all__ = ["models_app"]

models_app = typer.Typer(
    help="The models you can name in a project file.",
    no_args_is_help=False,
    invoke_without_command=True,
)
app.add_typer(models_app, name="models")


@models_app.callback(invoke_without_command=True)
def _models(ctx: typer.Context) -> None:
    """List the registered models (same as `sweeplab models list`)."""
    if ctx.invoked_subcommand is None:
        list_models(task=None)


@models_app.command("list", epilog="Example: sweeplab models list --task binary")
def list_models(
    task: str | None = typer.Option(None, "--task", help="Only models for this task."),
) -> None:
    """List the registered models with their tasks, input kind and arguments."""
    from rich.table import Table

    from sweeplab.models import MODELS

    table = Table(title="sweeplab models")
    for col in ("name", "tasks", "input", "arguments (searchable)", "description"):
        table.add_column(col, overflow="fold")
    for name in MODELS.names(lambda s: task is None or task in s.tasks):
        spec = MODELS.get(name)
        table.add_row(
            name,
            ", ".join(spec.tasks),
            spec.input_kind,
            ", ".join(spec.args.model_fields),
            spec.description,
        )
    make_console().print(table)


SHOW_EXAMPLES = (
    "sweeplab models show lenet5 --input 1x32x32",
    "sweeplab models show resnet --input 3x224x224 --outputs 1000 --arg block=bottleneck "
    "--arg blocks_per_stage=[3,4,6,3] --arg base_width=64 --arg stem_kernel=7 "
    "--arg stem_stride=2 --arg stem_pool=true",
)


@models_app.command("show", epilog="Examples: " + "  |  ".join(SHOW_EXAMPLES))
def show(
    name: str = typer.Argument(..., help="Model name (see `sweeplab models`)."),
    input: str | None = typer.Option(
        None,
        "--input",
        help="Input shape per example, e.g. 64 or 1x28x28 (default: the model's example).",
    ),
    outputs: int | None = typer.Option(
        None, "--outputs", min=1, help="Number of outputs (default: the model's example)."
    ),
    arg: list[str] | None = ArgOpt,
) -> None:
    """Print each layer's output shape and parameter count (``--arg`` sets model arguments)."""
    from rich.table import Table

    from sweeplab.models import MODELS, build_model
    from sweeplab.models._summary import describe, parse_input_shape

    spec = MODELS.get(name)
    shape = parse_input_shape(input) if input else tuple(spec.example_input)
    n_out = outputs or spec.example_outputs
    model = build_model(spec.name, model_args(arg or []), input_shape=shape, num_outputs=n_out)
    rows = describe(model, shape)
    table = Table(title=f"{name} on input {'x'.join(map(str, shape))}")
    for col in ("layer", "kind", "output shape", "params"):
        table.add_column(col, justify="right" if col == "params" else "left")
    total = 0
    for r in rows:
        table.add_row(r.name, r.kind, "x".join(map(str, r.output_shape)), f"{r.params:,}")
        total += r.params
    make_console().print(table)
    typer.echo(f"total parameters: {sum(p.numel() for p in model.parameters()):,}")
