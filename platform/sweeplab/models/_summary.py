"""Layer-by-layer description of a model: name, kind, output shape, parameters.

:func:`describe` runs one dummy example through the model with forward hooks on every module
that holds parameters of its own or has no children (the "leaves"), so each parameter is
counted once and the rows add up to ``sum(p.numel() for p in model.parameters())``. Used by
``sweeplab models show NAME --input 1x28x28``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
from torch import nn

from sweeplab.errors import UserError

__all__ = ["LayerRow", "Summary", "describe", "format_summary", "parse_input_shape"]


@dataclass(frozen=True)
class LayerRow:
    """One layer: its dotted name in the model, its class, output shape (no batch), parameters."""

    name: str
    kind: str
    output_shape: tuple[int, ...] | None  # None when the forward pass did not call it
    params: int


class Summary(list[LayerRow]):
    """The rows of :func:`describe`, with the totals of the whole model."""

    def __init__(self, rows: list[LayerRow], *, total_params: int, trainable_params: int) -> None:
        super().__init__(rows)
        self.total_params = total_params
        self.trainable_params = trainable_params


def _own_params(module: nn.Module, seen: set[int]) -> int:
    """Parameters held by ``module`` itself (not its children), each tensor counted once."""
    n = 0
    for p in module.parameters(recurse=False):
        if id(p) not in seen:
            seen.add(id(p))
            n += p.numel()
    return n


@torch.no_grad()
def describe(model: nn.Module, input_shape: tuple[int, ...]) -> Summary:
    """Rows for the model's leaf layers in forward order, from one dummy example of ``input_shape``.

    ``input_shape`` excludes the batch dimension: ``(1, 28, 28)`` for an image, ``(64,)`` for a
    vector. The model runs in eval mode (batch norm on one example) and is put back in the
    mode it was in. Layers the forward pass never calls come last, with no output shape.
    """
    seen: set[int] = set()
    rows: dict[str, LayerRow] = {}
    order: list[str] = []
    handles = []

    def hook(name: str, params: int):
        def record(module: nn.Module, inputs: object, output: object) -> None:
            if name in rows and rows[name].output_shape is not None:
                return  # a module called twice keeps its first shape
            shape = tuple(output.shape[1:]) if isinstance(output, torch.Tensor) else None
            rows[name] = LayerRow(name, type(module).__name__, shape, params)
            order.append(name)

        return record

    root_own = 0
    for name, module in model.named_modules():
        own = _own_params(module, seen)
        if not name:
            root_own = own  # parameters of the model object itself, e.g. a learned scale
            continue
        if own or next(module.children(), None) is None:
            rows[name] = LayerRow(name, type(module).__name__, None, own)
            handles.append(module.register_forward_hook(hook(name, own)))

    first = next(model.parameters(), None)
    dtype = first.dtype if first is not None and first.is_floating_point() else torch.float32
    device = first.device if first is not None else torch.device("cpu")
    was_training = model.training
    model.eval()
    try:
        model(torch.zeros((1, *input_shape), dtype=dtype, device=device))  # (1, *input_shape)
    except (RuntimeError, ValueError) as exc:
        shape = "x".join(map(str, input_shape))
        raise UserError(f"the model cannot take an input of shape {shape}: {exc}") from exc
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()

    called = list(dict.fromkeys(order))
    result = [rows[n] for n in called] + [r for n, r in rows.items() if n not in set(called)]
    if root_own:
        result.append(LayerRow("(model)", type(model).__name__, None, root_own))
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return Summary(result, total_params=total, trainable_params=trainable)


def format_summary(summary: Summary) -> str:
    """A plain-text table of the rows and the totals."""
    header = ("layer", "kind", "output shape", "params")
    body = [
        (
            r.name,
            r.kind,
            "×".join(map(str, r.output_shape)) if r.output_shape is not None else "-",
            f"{r.params:,}",
        )
        for r in summary
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body, strict=False)]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in (header, *body)
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append(
        f"total params: {summary.total_params:,} (trainable: {summary.trainable_params:,})"
    )
    return "\n".join(lines)


_SHAPE = re.compile(r"\s*\d+(\s*[x×]\s*\d+)*\s*", re.IGNORECASE)


def parse_input_shape(text: str) -> tuple[int, ...]:
    """``"1x28x28"`` -> ``(1, 28, 28)``; ``"64"`` -> ``(64,)``. A :class:`UserError` otherwise."""
    if not _SHAPE.fullmatch(text or ""):
        raise UserError(
            "--input must be positive sizes separated by 'x', like 1x28x28 for an image "
            f"(channels x height x width) or 64 for a vector, but got {text!r}",
            key="--input",
        )
    dims = tuple(int(d) for d in re.split(r"[x×]", text.strip().lower()))
    if any(d < 1 for d in dims):
        raise UserError(f"--input sizes must all be >= 1, but got {text!r}", key="--input")
    return dims
