"""Shape arithmetic of convolution and pooling layers, checked layer by layer.

The course's formula for a sliding window of size ``f``, padding ``p`` and stride ``s`` over
an input of size ``n`` (the same along height and width)::

    n_out = floor((n + 2p - f) / s) + 1

"valid" padding is ``p = 0``; "same" padding is ``p = (f - 1) / 2``, which keeps the size at
stride 1 and needs an odd ``f``. Pooling uses the same formula with the window's size as the
stride by default (PyTorch rounds down, ``ceil_mode=False``, as the formula does).

The networks call :meth:`Window.output_hw` for every layer while they are built, so an input
too small for the network fails at build time with the layer's name, not deep inside a
forward pass with PyTorch's message about a kernel size.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Literal

from sweeplab.errors import UserError

__all__ = [
    "CHW",
    "Padding",
    "ShapeError",
    "Window",
    "check_num_outputs",
    "conv_output_size",
    "fmt_hw",
    "image_shape",
    "pool_output_size",
    "resolve_padding",
    "same_padding",
]

Padding = Literal["valid", "same"] | int
CHW = tuple[int, int, int]  # (C, H, W) of one example, batch dimension excluded

_POOL_HINT = "use a larger --input or fewer pooling stages"


class ShapeError(UserError, ValueError):
    """A layer cannot be applied to the shape it receives (a :class:`UserError`).

    Also a ``ValueError`` so that pydantic validators calling the shape functions turn it into
    a validation error like any other rule.
    """


def fmt_hw(h: int, w: int) -> str:
    """``"28×28"``: the notation of the course and of the error messages."""
    return f"{h}×{w}"


def same_padding(f: int) -> int:
    """Padding ``p = (f - 1) / 2`` that keeps the size at stride 1; ``f`` must be odd."""
    if f < 1:
        raise ShapeError(f"filter size f >= 1 must hold, but got f={f}")
    if f % 2 == 0:
        raise ShapeError(
            f"'same' padding needs an odd filter size so that p = (f - 1)/2 is whole, "
            f"but got f={f}; use an odd filter size or 'valid' padding"
        )
    return (f - 1) // 2


def resolve_padding(f: int, padding: Padding) -> int:
    """The number of zeros added on each border: "valid" -> 0, "same" -> (f - 1)/2, int -> itself."""
    if padding == "valid":
        return 0
    if padding == "same":
        return same_padding(f)
    if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
        raise ShapeError(f"padding must be 'valid', 'same' or an int >= 0, but got {padding!r}")
    return padding


def conv_output_size(n: int, f: int, *, stride: int = 1, padding: Padding = 0) -> int:
    """``floor((n + 2p - f) / s) + 1``; raises :class:`ShapeError` when the window does not fit.

    >>> conv_output_size(6, 3)  # 6×6 * 3×3 -> 4×4
    4
    >>> conv_output_size(7, 3, stride=2)
    3
    """
    if n < 1 or f < 1 or stride < 1:
        raise ShapeError(f"n >= 1, f >= 1 and s >= 1 must hold, but got n={n}, f={f}, s={stride}")
    p = resolve_padding(f, padding)
    if n + 2 * p < f:
        raise ShapeError(
            f"the {f}×{f} window does not fit an input of size {n}"
            + (f" padded by {p}" if p else "")
            + f": n + 2p >= f must hold, but got n={n}, p={p}, f={f}"
        )
    return (n + 2 * p - f) // stride + 1


def pool_output_size(n: int, f: int, *, stride: int | None = None, padding: int = 0) -> int:
    """Pooling output size; the stride defaults to the window size (2×2 pooling halves)."""
    return conv_output_size(n, f, stride=f if stride is None else stride, padding=padding)


@dataclass(frozen=True)
class Window:
    """Geometry of one sliding-window layer, for shape checks and messages.

    ``kind`` is what the message calls the layer: "conv", "max pool", "avg pool".
    """

    kind: str
    kernel: int
    stride: int = 1
    padding: int = 0

    def describe(self) -> str:
        """``"max pool 3×3, stride 2"`` or ``"conv 5×5, stride 1, padding 2"``."""
        text = f"{self.kind} {self.kernel}×{self.kernel}, stride {self.stride}"
        return text + (f", padding {self.padding}" if self.padding else "")

    def output_hw(self, h: int, w: int, *, layer: str) -> tuple[int, int]:
        """The output height and width; a :class:`ShapeError` naming ``layer`` if impossible."""
        if min(h, w) + 2 * self.padding < self.kernel:
            padded = (
                f" (padded to {fmt_hw(h + 2 * self.padding, w + 2 * self.padding)})"
                if self.padding
                else ""
            )
            raise ShapeError(
                f"layer {layer!r} ({self.describe()}): input {fmt_hw(h, w)}{padded} is smaller "
                f"than the window; {_POOL_HINT}"
            )
        out_h = conv_output_size(h, self.kernel, stride=self.stride, padding=self.padding)
        out_w = conv_output_size(w, self.kernel, stride=self.stride, padding=self.padding)
        return out_h, out_w


def image_shape(input_shape: tuple[int, ...], *, model: str) -> CHW:
    """Check that ``input_shape`` is ``(C, H, W)`` with positive sizes; return it typed."""
    try:
        shape = tuple(operator.index(d) for d in input_shape)  # numpy ints too, not floats
    except TypeError:
        shape = ()
    if len(shape) != 3 or any(d < 1 for d in shape):
        raise ShapeError(
            f"model {model!r} takes images: the input shape must be (C, H, W) with positive "
            f"sizes, like 1x28x28, but got {tuple(input_shape)}"
        )
    c, h, w = shape
    return c, h, w


def check_num_outputs(num_outputs: int) -> None:
    if num_outputs < 1:
        raise ShapeError(f"num_outputs >= 1 must hold, but got num_outputs={num_outputs}")
