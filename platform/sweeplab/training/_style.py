"""Neural style transfer: content, Gram-matrix style and total costs; optimization over pixels.

With ``a`` the activations ``(n_C, n_H, n_W)`` of one layer of a trained ConvNet:

* content cost at layer l: ``J_content(C, G) = ½ ‖a(C) − a(G)‖²`` (summed over every unit);
* style (Gram) matrix: ``G_kk' = Σ_i Σ_j a_ijk a_ijk'``, an ``n_C × n_C`` matrix of how much
  channels k and k' fire together;
* style cost of layer l: ``J^[l]_style(S, G) = ‖G(S) − G(G)‖²_F / (2 n_H n_W n_C)²``, and over
  several layers ``J_style = Σ_l λ_l J^[l]_style``;
* ``J(G) = α J_content(C, G) + β J_style(S, G)``, minimized over the pixels of G with Adam
  (the network's weights are frozen), pixels kept in [0, 1].

The feature network is :class:`FeatureNet`, a small CNN the project trains itself
(:func:`train_feature_net`, e.g. on generated shapes); no downloaded weights.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field, model_validator

from sweeplab.config import Schema
from sweeplab.models import FeatureNet

__all__ = [
    "FeatureNet",
    "StyleArgs",
    "StyleResult",
    "content_cost",
    "gram_matrix",
    "layer_style_cost",
    "style_cost",
    "style_transfer",
    "total_cost",
    "train_feature_net",
]


def gram_matrix(a: torch.Tensor) -> torch.Tensor:
    """``(n_C, n_H, n_W)`` -> ``(n_C, n_C)``: ``G_kk' = Σ_ij a_ijk a_ijk'``."""
    if a.ndim == 4 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 3:
        raise ValueError(f"activations must be (n_C, n_H, n_W), but got shape {tuple(a.shape)}")
    flat = a.reshape(a.shape[0], -1)  # (n_C, n_H·n_W)
    return flat @ flat.T


def content_cost(a_c: torch.Tensor, a_g: torch.Tensor) -> torch.Tensor:
    """``½ ‖a(C) − a(G)‖²`` over every unit of the layer."""
    return 0.5 * ((a_c - a_g) ** 2).sum()


def layer_style_cost(a_s: torch.Tensor, a_g: torch.Tensor) -> torch.Tensor:
    """``‖G(S) − G(G)‖²_F / (2 n_H n_W n_C)²`` for one layer's activations ``(n_C, n_H, n_W)``."""
    a_s = a_s[0] if a_s.ndim == 4 else a_s
    n_c, n_h, n_w = a_s.shape
    diff = gram_matrix(a_s) - gram_matrix(a_g)
    return (diff**2).sum() / (2 * n_h * n_w * n_c) ** 2


def style_cost(
    feats_s: dict[str, torch.Tensor], feats_g: dict[str, torch.Tensor], weights: dict[str, float]
) -> torch.Tensor:
    """``Σ_l λ_l J^[l]_style(S, G)`` over the layers named in ``weights``."""
    return sum(w * layer_style_cost(feats_s[name], feats_g[name]) for name, w in weights.items())


def train_feature_net(
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    epochs: int = 5,
    batch_size: int = 32,
    learning_rate: float = 3e-3,
    filters: int = 16,
    seed: int = 0,
) -> tuple[FeatureNet, float]:
    """Train :class:`FeatureNet` as a classifier; returns it (frozen, eval mode) and its train accuracy."""
    torch.manual_seed(seed)
    net = FeatureNet(images.shape[1], int(labels.max()) + 1, filters=filters)
    opt = torch.optim.Adam(net.parameters(), lr=learning_rate)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        perm = torch.randperm(len(images), generator=gen)
        for i in range(0, len(images), batch_size):
            idx = perm[i : i + batch_size]
            loss = F.cross_entropy(net(images[idx]), labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    net.eval().requires_grad_(False)
    with torch.no_grad():
        accuracy = float((net(images).argmax(1) == labels).float().mean())
    return net, accuracy


class StyleArgs(Schema):
    """Settings of one style transfer (searchable by name)."""

    content_layer: str = Field(default="conv2", description="Layer l of the content cost.")
    style_layers: dict[str, float] = Field(
        default_factory=lambda: {"conv1": 0.5, "conv2": 0.3, "conv3": 0.2},
        description="λ_l of each style layer.",
    )
    alpha: float = Field(default=1.0, ge=0.0, description="Weight α of the content cost.")
    beta: float = Field(default=1e3, ge=0.0, description="Weight β of the style cost.")
    steps: int = Field(default=200, ge=1, description="Adam steps on the pixels of G.")
    learning_rate: float = Field(default=0.03, gt=0.0, description="Adam's step size on pixels.")
    init: Literal["noise", "content_noise"] = Field(
        default="noise",
        description="G at the start: uniform noise, or the content image blended 50/50 with noise.",
    )

    @model_validator(mode="after")
    def _known_layers(self) -> StyleArgs:
        unknown = [
            n for n in (self.content_layer, *self.style_layers) if n not in FeatureNet.LAYERS
        ]
        if unknown:
            raise ValueError(
                f"layers must be among {', '.join(FeatureNet.LAYERS)}, but got {unknown[0]!r}"
            )
        return self


@dataclass(frozen=True)
class StyleResult:
    """The generated image ``(C, H, W)`` and the costs ``(J, J_content, J_style)`` per step."""

    image: torch.Tensor
    history: list[tuple[float, float, float]]
    seconds: float

    @property
    def initial_cost(self) -> float:
        return self.history[0][0]

    @property
    def final_cost(self) -> float:
        return self.history[-1][0]


def total_cost(
    net: FeatureNet, g: torch.Tensor, targets: dict[str, torch.Tensor], args: StyleArgs
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(J, J_content, J_style)`` of image ``g`` ``(1, C, H, W)``; ``targets`` from C and S."""
    feats = net.features(g)
    j_content = content_cost(targets["content"], feats[args.content_layer][0])
    j_style = style_cost(
        {n: targets[f"style:{n}"] for n in args.style_layers},
        {n: feats[n][0] for n in args.style_layers},
        args.style_layers,
    )
    return args.alpha * j_content + args.beta * j_style, j_content, j_style


def style_transfer(
    net: FeatureNet,
    content: torch.Tensor,
    style: torch.Tensor,
    args: StyleArgs | None = None,
    *,
    seed: int = 0,
    on_step: Callable[[int, float], None] | None = None,
) -> StyleResult:
    """Minimize ``J(G)`` over the pixels of G; ``content`` and ``style`` are ``(C, H, W)``.

    ``history[0]`` is the cost of the starting image, ``history[t]`` after step t.
    """
    args = args or StyleArgs()
    if content.shape != style.shape:
        raise ValueError(
            f"content and style images must have the same shape, but got {tuple(content.shape)} "
            f"and {tuple(style.shape)}"
        )
    start = time.perf_counter()
    net.eval().requires_grad_(False)
    with torch.no_grad():
        fc = net.features(content[None], (args.content_layer,))
        fs = net.features(style[None], tuple(args.style_layers))
    targets = {"content": fc[args.content_layer][0]}
    targets.update({f"style:{n}": fs[n][0] for n in args.style_layers})
    gen = torch.Generator().manual_seed(seed)
    noise = torch.rand(content.shape, generator=gen)
    g0 = noise if args.init == "noise" else 0.5 * content + 0.5 * noise
    g = g0[None].clone().requires_grad_(True)  # (1, C, H, W): the only parameters
    opt = torch.optim.Adam([g], lr=args.learning_rate)
    history: list[tuple[float, float, float]] = []
    for step in range(args.steps + 1):
        j, jc, js = total_cost(net, g, targets, args)
        history.append((j.item(), jc.item(), js.item()))
        if on_step is not None:
            on_step(step, history[-1][0])
        if step == args.steps:
            break
        opt.zero_grad(set_to_none=True)
        j.backward()
        opt.step()
        with torch.no_grad():
            g.clamp_(0.0, 1.0)
    return StyleResult(image=g.detach()[0], history=history, seconds=time.perf_counter() - start)
