"""The model registry: name -> (typed args, builder, supported tasks, input kind).

Models are built from explicit typed arguments (a :class:`~sweeplab.config.Schema`
subclass), never from the whole project config. ``input_shape`` and ``num_outputs`` come
from the data; everything else is a field of the args class and so can be fixed in the
project file (``model: {name: mlp, num_layers: 3}``) or searched (a parameter named
``num_layers`` in the search space).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from torch import nn

from sweeplab.config import Schema
from sweeplab.errors import UserError
from sweeplab.registry import Registry

__all__ = ["MODELS", "ModelSpec", "build_model", "register_model", "InputKind", "Task"]

Task = Literal[
    "binary",
    "multiclass",
    "multilabel",
    "regression",
    "detection",
    "segmentation",
    "verification",
    "style_transfer",
    "localization",
    "landmarks",
]
InputKind = Literal["vector", "image"]


@dataclass(frozen=True)
class ModelSpec:
    name: str
    args: type[Schema]
    build: Callable[
        ..., nn.Module
    ]  # build(args, *, input_shape: tuple[int, ...], num_outputs: int)
    tasks: tuple[str, ...]
    input_kind: InputKind
    description: str = ""
    # Input shape used by the registry-wide tests and `sweeplab models show` by default.
    example_input: tuple[int, ...] = (64,)
    example_outputs: int = 10
    tags: tuple[str, ...] = field(default=())


MODELS: Registry[ModelSpec] = Registry("model")


def register_model(
    name: str,
    *,
    args: type[Schema],
    tasks: tuple[str, ...],
    input_kind: InputKind,
    description: str = "",
    example_input: tuple[int, ...] = (64,),
    example_outputs: int = 10,
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator for a builder ``fn(args, *, input_shape, num_outputs) -> nn.Module``."""

    def deco(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        MODELS.add(
            name,
            ModelSpec(
                name=name,
                args=args,
                build=fn,
                tasks=tasks,
                input_kind=input_kind,
                description=description or _first_line(fn.__doc__),
                example_input=example_input,
                example_outputs=example_outputs,
            ),
        )
        return fn

    return deco


def _first_line(doc: str | None) -> str:
    lines = (doc or "").strip().splitlines()
    return lines[0] if lines else ""


def build_model(
    name: str, args: dict | Schema, *, input_shape: tuple[int, ...], num_outputs: int
) -> nn.Module:
    """Validate ``args`` against the model's schema and build it."""
    spec = MODELS.get(name)
    if not isinstance(args, spec.args):
        from pydantic import ValidationError

        try:
            args = spec.args(**dict(args))
        except ValidationError as exc:
            err = exc.errors()[0]
            key = ".".join(str(p) for p in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            raise UserError(
                f"{msg} (found {err.get('input')!r})", key=f"model.{key}" if key else "model"
            ) from None
    return spec.build(args, input_shape=tuple(input_shape), num_outputs=int(num_outputs))
