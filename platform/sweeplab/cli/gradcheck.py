"""``sweeplab gradcheck``: check a registry model's backward pass against numerical gradients.

Builds the model with its default arguments on a few seeded random examples and compares
backprop's dθ with the two-sided difference ``(J(θ+ε) − J(θ−ε)) / 2ε`` (float64, eval mode;
see :func:`sweeplab.training.gradcheck`). Prints the relative difference, the course's band
for it (< 1e-7 great, ~1e-5 look again, > 1e-3 probably a bug) and PASS / FAIL; the exit code
is 1 on FAIL, so a CI job can run it after changing a model. ``--mode train`` checks batch
norm on the batch's statistics (dropout stays off); ``--l2`` adds the L2 term to J.
"""

from __future__ import annotations

from enum import Enum

import typer

from sweeplab.cli._app import app
from sweeplab.cli._common import ArgOpt, model_args

__all__ = ["GradcheckMode", "gradcheck_command"]


class GradcheckMode(str, Enum):
    eval = "eval"
    train = "train"


EXAMPLES = (
    "sweeplab gradcheck mlp --input 64",
    "sweeplab gradcheck lenet5 --input 1x8x8 --arg padding=same",
    "sweeplab gradcheck resnet --input 1x8x8 --arg base_width=4 --eps 1e-6",
    "sweeplab gradcheck mlp --input 16 --arg batch_norm=true --mode train --l2 0.1",
)


@app.command("gradcheck", epilog="Examples: " + "  |  ".join(EXAMPLES))
def gradcheck_command(
    model: str = typer.Argument(..., help="Model name (see `sweeplab models`)."),
    input: str | None = typer.Option(
        None,
        "--input",
        help="Input shape per example, e.g. 64 or 1x8x8 (default: the model's example).",
    ),
    eps: float = typer.Option(1e-7, "--eps", min=0.0, help="ε of the two-sided difference."),
    outputs: int | None = typer.Option(
        None, "--outputs", min=1, help="Number of outputs (default: the model's example)."
    ),
    examples: int = typer.Option(4, "--examples", min=1, help="Random examples in the batch."),
    max_params: int = typer.Option(
        200, "--max-params", min=1, help="Entries of θ to check (at least one per tensor)."
    ),
    threshold: float = typer.Option(
        1e-7, "--threshold", help="PASS when the relative difference is below this."
    ),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the weights, data and sample."),
    mode: GradcheckMode = typer.Option(
        GradcheckMode.eval,
        "--mode",
        help="eval: batch norm on its running averages; train: on the batch's statistics "
        "(dropout off in both).",
    ),
    l2: float = typer.Option(0.0, "--l2", min=0.0, help="λ of the L2 term added to J."),
    arg: list[str] | None = ArgOpt,
) -> None:
    """Gradient checking: relative difference of backprop's and the numerical gradient."""
    import torch
    import torch.nn.functional as F

    from sweeplab.errors import UserError
    from sweeplab.models import MODELS, build_model
    from sweeplab.models._summary import parse_input_shape
    from sweeplab.training import gradcheck, seed_everything

    if eps <= 0:
        raise UserError(f"--eps > 0 must hold, but got {eps}", key="--eps")
    spec = MODELS.get(model)
    shape = parse_input_shape(input) if input else tuple(spec.example_input)
    n_out = outputs or spec.example_outputs
    seed_everything(seed)
    net = build_model(spec.name, model_args(arg or []), input_shape=shape, num_outputs=n_out)
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(examples, *shape, generator=gen)
    if n_out == 1:  # one logit: the binary task's logistic loss
        y = torch.randint(0, 2, (examples,), generator=gen).double()

        def loss_fn(logits, y):
            return F.binary_cross_entropy_with_logits(logits.reshape(-1), y)
    else:
        y = torch.randint(0, n_out, (examples,), generator=gen)

        def loss_fn(logits, y):
            return F.cross_entropy(logits, y)

    options = {"eps": eps, "max_params": max_params, "threshold": threshold, "seed": seed}
    result = gradcheck(net, X, y, loss_fn=loss_fn, mode=mode.value, l2=l2, **options)
    verdict = "PASS" if result.passed else "FAIL"
    typer.echo(
        f"{spec.name} on input {'x'.join(map(str, shape))}: relative difference "
        f"{result.relative_difference:.3e} over {result.n_checked} entries of θ (ε={eps:g}, "
        f"{mode.value} mode{f', L2 λ={l2:g}' if l2 else ''})"
    )
    typer.echo(f"verdict: {result.verdict} (< 1e-7 great, ~1e-5 look again, > 1e-3 a bug)")
    if result.passed:
        typer.echo(f"{verdict} (< {threshold:g})")
        return
    typer.echo(f"{verdict} (>= {threshold:g}); largest disagreement in {result.worst_param}")
    raise typer.Exit(1)
