"""Coarse to fine: a smaller search space around the best trials of a finished sweep.

Each range shrinks to the span of the top trials' values *on the parameter's own scale*
(log10 for log_uniform, log10(1 − β) for one_minus_log_uniform, linear for uniform), widened by
``margin`` × that span on each side, at least ``min_fraction`` of the old width, and clipped to
the old bounds: ranges never grow. Integer ranges are rounded outward. Categorical values are
narrowed to those the top trials used. A conditional parameter counts only the trials where it
was active; if it was active in none, it is kept as it is — unless its condition can no longer
hold (its parent lost the values that activate it), in which case it is dropped.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sweeplab.space._distributions import (
    Categorical,
    Distribution,
    IntLogUniform,
    IntUniform,
    LogUniform,
    OneMinusLogUniform,
    Uniform,
    _Range,
    _scalar_key,
)
from sweeplab.space._parameter import Parameter
from sweeplab.space._space import SearchSpace

__all__ = ["refine"]

# (to the parameter's scale, back to values)
_SCALES: dict[type, tuple[Callable[[float], float], Callable[[float], float]]] = {
    Uniform: (lambda x: x, lambda t: t),
    IntUniform: (lambda x: x, lambda t: t),
    LogUniform: (math.log10, lambda t: 10.0**t),
    IntLogUniform: (math.log10, lambda t: 10.0**t),
    OneMinusLogUniform: (lambda x: math.log10(1.0 - x), lambda t: 1.0 - 10.0**t),
}


def refine(
    space: SearchSpace,
    top: Sequence[Mapping[str, Any]],
    *,
    margin: float = 0.25,
    min_fraction: float = 0.1,
) -> SearchSpace:
    """A new space around ``top`` (configurations in user names, as ``sample`` / ``suggest`` /
    ``resolve`` return them; a parameter missing from one was inactive in that trial).

    Example: ``learning_rate`` log-uniform on [1e-5, 1] with top values 1e-3 and 1e-2 becomes
    log-uniform on [10**-3.25, 10**-1.75].
    """
    if not top:
        raise ValueError("`top` must hold at least one configuration, but got none")
    if not (margin >= 0 and math.isfinite(margin)):
        raise ValueError(f"`margin >= 0` must hold, but got (margin={margin!r})")
    if not 0 < min_fraction <= 1:
        raise ValueError(
            f"`0 < min_fraction <= 1` must hold, but got (min_fraction={min_fraction!r})"
        )
    new: dict[str, Parameter] = {}
    for p in space:
        used = [t[p.name] for t in top if p.name in t]
        for i, t in enumerate(top):
            if p.name in t and not p.distribution.contains(t[p.name]):
                raise ValueError(
                    f"top[{i}][{p.name!r}] = {t[p.name]!r} is outside {p.distribution!r}; "
                    "refine the space the trials were drawn from"
                )
        dist = _narrow(p.distribution, used, margin, min_fraction) if used else p.distribution
        new[p.name] = Parameter(p.name, dist, p.when)
    # Conditions whose values the parent lost: keep the values still possible, or drop the
    # parameter when none are (it could never be active). In dependency order, so drops cascade.
    kept: dict[str, Parameter] = {}
    for p in space._order:
        q = new[p.name]
        when: dict[str, tuple[Any, ...]] = {}
        alive = True
        for other, accepted in (q.when or {}).items():
            if other not in kept:
                alive = False
                break
            still = tuple(v for v in accepted if kept[other].distribution.contains(v))
            if not still:
                alive = False
                break
            when[other] = still
        if alive:
            kept[p.name] = Parameter(q.name, q.distribution, when or None)
    ordered = [kept[n] for n in space.names if n in kept]
    return SearchSpace(ordered, description=space.description)


def _same(a: Any, b: Any) -> bool:
    try:
        return _scalar_key(a) == _scalar_key(b)
    except TypeError:
        return False


def _narrow(
    dist: Distribution, used: list[Any], margin: float, min_fraction: float
) -> Distribution:
    if isinstance(dist, Categorical):
        return Categorical([v for v in dist.values if any(_same(v, u) for u in used)])
    if not isinstance(dist, _Range):
        return dist  # constants
    forward, back = _SCALES[type(dist)]
    t_old_lo, t_old_hi = sorted((forward(dist.low), forward(dist.high)))
    ts = [forward(float(u)) for u in used]
    t_lo, t_hi = min(ts), max(ts)
    span = t_hi - t_lo
    width = max(span * (1.0 + 2.0 * margin), min_fraction * (t_old_hi - t_old_lo))
    center = (t_lo + t_hi) / 2.0
    lo_t, hi_t = min(t_lo, center - width / 2.0), max(t_hi, center + width / 2.0)
    a, b = sorted((back(lo_t), back(hi_t)))
    # Every top value inside (float rounding), the old bounds never crossed.
    a, b = min(a, min(used)), max(b, max(used))
    if isinstance(dist, IntUniform | IntLogUniform):
        a, b = math.floor(a + 1e-9), math.ceil(b - 1e-9)
    a, b = max(a, dist.low), min(b, dist.high)
    return type(dist)(a, b)
