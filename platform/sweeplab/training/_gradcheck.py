"""Gradient checking: compare backprop's gradient with the two-sided numerical difference.

For every checked parameter θ_i (the course reshapes all W, b into one vector θ)::

    dθ_approx[i] = (J(θ + ε e_i) - J(θ - ε e_i)) / 2ε
    difference   = ‖dθ_approx - dθ‖₂ / (‖dθ_approx‖₂ + ‖dθ‖₂)

The course's reading (:func:`verdict`): below 1e-7 great, the gradient is right; around 1e-5
look again (fine if no single component is far off); above 1e-3 there is probably a bug.
Everything runs in float64 on a copy of the model: in float32 the rounding of J alone is
larger than the signal at ε = 1e-7. Dropout is always off so that J is the same function in
every evaluation; ``mode="eval"`` uses batch norm's running averages, ``mode="train"`` its
batch statistics (the function training differentiates). ``l2 > 0`` adds the L2 term
``(λ/2m)·Σ‖W‖²_F`` to J, as the training loop does, so its gradient is checked too. A model with many parameters is checked on a seeded
random subset that includes at least one entry of every parameter tensor, so a bug in any
layer's backward pass shows up.
"""

from __future__ import annotations

import bisect
import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from sweeplab.training._task import l2_penalty, penalized_weights

__all__ = ["BANDS", "GradcheckResult", "gradcheck", "verdict"]

#: The course's reading of the relative difference: (upper bound, verdict), in order.
BANDS: tuple[tuple[float, str], ...] = (
    (1e-7, "great: backprop's gradient is right"),
    (1e-3, "look again: around 1e-5 it may be fine, check that no component of dθ is far off"),
    (math.inf, "probably a bug in a backward pass (or the L2 term's gradient)"),
)


def verdict(difference: float) -> str:
    """The band a relative difference falls in: < 1e-7 great, up to 1e-3 look again (~1e-5),
    > 1e-3 (or NaN / inf) probably a bug."""
    for upper, text in BANDS:
        if difference < upper:
            return text
    return BANDS[-1][1]


@dataclass(frozen=True)
class GradcheckResult:
    """The relative difference, whether it is below the threshold, and how many entries of θ."""

    relative_difference: float
    passed: bool
    n_checked: int
    # Name of the parameter tensor with the largest |dθ_approx - dθ| entry: where to look first.
    worst_param: str | None = None
    #: The course's band for the difference (:func:`verdict`).
    verdict: str = ""
    #: J at θ, the L2 term included when ``l2 > 0``.
    cost: float = math.nan


def _sample(sizes: list[int], max_params: int, gen: torch.Generator) -> list[tuple[int, int]]:
    """(tensor, flat index) pairs: all entries if few, else one per tensor plus a uniform rest."""
    total = sum(sizes)
    if total <= max_params:
        return [(t, i) for t, n in enumerate(sizes) for i in range(n)]
    offsets = [0]
    for n in sizes:
        offsets.append(offsets[-1] + n)
    # One entry of every tensor first, so no layer goes unchecked.
    chosen = {offsets[t] + int(torch.randint(n, (1,), generator=gen)) for t, n in enumerate(sizes)}
    budget = max(max_params, len(sizes))
    for flat in torch.randperm(total, generator=gen).tolist():
        if len(chosen) >= budget:
            break
        chosen.add(flat)
    pairs = []
    for flat in sorted(chosen):
        t = bisect.bisect_right(offsets, flat) - 1
        pairs.append((t, flat - offsets[t]))
    return pairs


def gradcheck(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    eps: float = 1e-7,
    max_params: int = 200,
    threshold: float = 1e-7,
    seed: int = 0,
    mode: Literal["eval", "train"] = "eval",
    l2: float = 0.0,
) -> GradcheckResult:
    """Check ``model``'s backward pass on ``(X, y)`` with the two-sided difference.

    ``loss_fn(logits, y)`` must return a scalar J. At most ``max_params`` entries of θ are
    checked (at least one per parameter tensor), sampled with ``seed``. ``model`` itself is
    not changed: the check runs on a float64 copy with dropout off, batch norm on its running
    averages (``mode="eval"``) or on the batch's statistics (``mode="train"``). ``l2`` is λ
    of the L2 term added to J (m = the batch's examples).
    """
    if mode not in ("eval", "train"):
        raise ValueError(f"`mode` must be 'eval' or 'train', but got {mode!r}")
    if l2 < 0:
        raise ValueError(f"l2 >= 0 must hold, but got l2={l2}")
    if eps <= 0:
        raise ValueError(f"eps > 0 must hold, but got eps={eps}")
    if max_params < 1:
        raise ValueError(f"max_params >= 1 must hold, but got max_params={max_params}")
    net = copy.deepcopy(model).double().eval()
    if mode == "train":
        net.train()
        for module in net.modules():  # dropout off: J must be one deterministic function
            if isinstance(module, nn.modules.dropout._DropoutNd):
                module.eval()
    X = X.double() if X.is_floating_point() else X
    y = y.double() if y.is_floating_point() else y
    named = [(n, p) for n, p in net.named_parameters() if p.requires_grad]
    if not named:
        raise ValueError("gradcheck needs a model with trainable parameters, but got none")

    penalized = penalized_weights(net) if l2 > 0 else []

    def J() -> torch.Tensor:
        loss = loss_fn(net(X), y)
        if loss.numel() != 1:
            raise ValueError(
                f"loss_fn must return a scalar, but got a tensor of shape {tuple(loss.shape)}"
            )
        loss = loss.reshape(())
        return loss + l2_penalty(penalized, l2, len(X)) if penalized else loss

    # Backprop: dθ for every parameter.
    net.zero_grad(set_to_none=True)
    cost = J()
    cost.backward()
    grads = [
        (p.grad if p.grad is not None else torch.zeros_like(p)).detach().reshape(-1)
        for _, p in named
    ]

    gen = torch.Generator().manual_seed(seed)
    pairs = _sample([p.numel() for _, p in named], max_params, gen)
    approx = torch.empty(len(pairs), dtype=torch.float64)
    exact = torch.empty(len(pairs), dtype=torch.float64)
    with torch.no_grad():
        for k, (t, i) in enumerate(pairs):
            p = named[t][1]
            flat = p.data.view(-1)  # aliases the parameter: writing it changes θ
            original = flat[i].item()
            flat[i] = original + eps
            j_plus = J().item()
            flat[i] = original - eps
            j_minus = J().item()
            flat[i] = original
            approx[k] = (j_plus - j_minus) / (2 * eps)
            exact[k] = grads[t][i].item()

    numerator = torch.linalg.vector_norm(approx - exact).item()
    denominator = torch.linalg.vector_norm(approx).item() + torch.linalg.vector_norm(exact).item()
    diff = numerator / denominator if denominator > 0 else 0.0
    if math.isnan(diff):
        diff = math.inf  # a NaN loss or gradient is a failure, not a pass
    worst = named[pairs[int((approx - exact).abs().argmax())][0]][0]
    return GradcheckResult(
        relative_difference=diff,
        passed=diff < threshold,
        n_checked=len(pairs),
        worst_param=worst,
        verdict=verdict(diff),
        cost=cost.item(),
    )
