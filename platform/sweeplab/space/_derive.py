"""The next sweep's space, derived from the last one by its diagnosis (the course's recipe).

* **avoidable bias** — a bigger model, longer training, better optimizers, less regularization:
  capacity knobs (width, depth, filters) and ``epochs`` move up, ``optimizer`` gains Adam and
  RMSprop, ``l2`` moves down a decade, ``keep_prob`` towards 1, augmentation down to its
  lower half; a regularizer the project sets outside the space is switched off.
* **variance** — regularization: ``l2`` moves up a decade (or is searched from 1e-4 to 0.1),
  ``keep_prob`` reaches lower (or is searched from 0.5 to 1), augmentation widens upwards (only
  where the space already searches it: it is meaningful for image models only), early
  stopping is searched, and ``train_share`` (the share of the train split trained on) is
  searched from its last value up to all of the split where the last sweep held data back;
  beyond the split, more training data is a data setting, named in the notes.
* **data mismatch** and **overfitting to dev** have no search-space knob (the synthetic / target
  share of the training data and the dev set's size are data settings): the space is kept and
  the notes say which project keys to change.

Only knobs the model or training actually has are touched: those of ``space`` and those named in
``current`` (the project's values of the model's and training's settings). Ranges keep their
distribution (scale) and stay inside ``limits`` (each knob's valid bounds).

With ``top`` (the last sweep's best configurations), the parameters the diagnosis leaves alone
are narrowed around them, as ``refine`` does (coarse to fine): the next sweep searches the
diagnosis's knobs where the last one found its best settings of the others.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sweeplab.space._distributions import (
    Categorical,
    Constant,
    Distribution,
    IntLogUniform,
    IntUniform,
    LogUniform,
    Uniform,
)
from sweeplab.space._parameter import Parameter
from sweeplab.space._refine import refine
from sweeplab.space._space import SearchSpace

__all__ = ["CAPACITY", "Change", "Derived", "KNOBS", "derive_space"]

#: Width / depth / filters of the models in the registry.
CAPACITY = (
    "hidden_units",
    "num_layers",
    "conv1_filters",
    "conv2_filters",
    "fc1_units",
    "fc2_units",
    "filters",
    "base_width",
    "hidden",
)
_AUGMENT = ("augment_crop", "augment_rotate", "augment_shear", "augment_color", "augment_flip")
_DEPTH = ("num_layers",)
_OPTIMIZERS = ("adam", "rmsprop")

#: The knobs each diagnosis may change (a test holds every rule to its own).
KNOBS: dict[str, frozenset[str]] = {
    "avoidable_bias": frozenset(
        (*CAPACITY, "epochs", "optimizer", "l2", "keep_prob", *_AUGMENT, "early_stopping_patience")
    ),
    "variance": frozenset(("l2", "keep_prob", *_AUGMENT, "early_stopping_patience", "train_share")),
    "data_mismatch": frozenset(),
    "dev_overfit": frozenset(),
}


@dataclass(frozen=True)
class Change:
    """One parameter's change: ``before`` None when added, and why (one line)."""

    name: str
    before: Distribution | None
    after: Distribution
    why: str


@dataclass(frozen=True)
class Derived:
    """The derived space, its changes and what to change outside the space."""

    space: SearchSpace
    problem: str | None
    changes: tuple[Change, ...]
    notes: tuple[str, ...]

    def to_yaml(self, header: str = "") -> str:
        """The space as YAML, each changed parameter's line ending with ``# why``."""
        why = {c.name: c.why for c in self.changes}
        lines = []
        for line in self.space.to_yaml().splitlines():
            name = line.strip().split(":", 1)[0]
            if line.startswith("  ") and name in why:
                line = f"{line}  # {_one_line(why[name])}"
            lines.append(line)
        notes = "".join(f"# {_one_line(n)}\n" for n in self.notes)
        return header + notes + "\n".join(lines) + "\n"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def derive_space(
    space: SearchSpace,
    problem: str | None,
    *,
    current: Mapping[str, Any] | None = None,
    limits: Mapping[str, tuple[float | None, float | None]] | None = None,
    has_target: bool = False,
    top: Sequence[Mapping[str, Any]] = (),
) -> Derived:
    """The next space for ``problem`` (a :data:`~sweeplab.analysis.GAPS` name or None);
    ``top``: the best configurations, around which the other parameters are narrowed."""
    if problem is not None and problem not in KNOBS:
        raise ValueError(
            f"`problem` must be one of {', '.join(KNOBS)} or None, but got {problem!r}"
        )
    rules = _Rules(space, dict(current or {}), dict(limits or {}))
    notes: list[str] = []
    if problem == "avoidable_bias":
        rules.bias()
    elif problem == "variance":
        rules.variance()
        notes.append(
            "Variance: more training examples is the first remedy"
            + (
                " — train_share now reaches all of the train split; beyond it, "
                if "train_share" in {c.name for c in rules.changes}
                else " — "
            )
            + "a bigger train split (data.splits.train) or more data."
        )
    elif problem == "data_mismatch":
        notes.append(
            "Data mismatch: no search-space knob; make the training data more like dev — "
            + (
                "raise the target share (data.target.splits.train) or synthesize more "
                "target-like data (data.target.derive)."
                if has_target
                else "collect target-domain examples, or synthesize them (data.target)."
            )
        )
    elif problem == "dev_overfit":
        notes.append("Overfitting to the dev set: no search-space knob; get a bigger dev set.")
    else:
        notes.append("No positive gap: the space is kept as it is.")
    if top and problem in ("avoidable_bias", "variance"):
        rules.narrow_the_rest(top)
    return Derived(rules.build(), problem, tuple(rules.changes), tuple(notes))


class _Rules:
    def __init__(self, space: SearchSpace, current: dict[str, Any], limits: dict) -> None:
        self.space = space
        self.current = current
        self.limits = limits
        self.new: dict[str, Parameter] = {p.name: p for p in space}
        self.changes: list[Change] = []

    # -- the recipes ------------------------------------------------------------------------
    def bias(self) -> None:
        for name in CAPACITY:
            self._grow(name, "bigger model (avoidable bias)")
        self._grow("epochs", "train longer (avoidable bias)")
        self._optimizers()
        self._shift("l2", 0.1, "less L2 (avoidable bias: loosen regularization)", off=0.0)
        self._keep_prob_up()
        for name in _AUGMENT:
            self._lower_half(name, "less augmentation (avoidable bias)")
        self._scale_int("early_stopping_patience", 2.0, "stop later (avoidable bias)")

    def variance(self) -> None:
        self._shift("l2", 10.0, "more L2 (variance: regularize)", add=LogUniform(1e-4, 1e-1))
        self._keep_prob_down()
        for name in _AUGMENT:
            self._upper(name, "more augmentation (variance)")
        self._early_stopping()
        self._share_up()

    def narrow_the_rest(self, top: Sequence[Mapping[str, Any]]) -> None:
        """The parameters no rule changed, narrowed around ``top`` (``refine``'s rule)."""
        changed = {c.name for c in self.changes}
        try:
            narrowed = refine(self.space, [dict(t) for t in top])
        except ValueError:  # a top value outside the space (edited since): keep them
            return
        why = f"narrowed around the best {len(top)} trials (coarse to fine; not this diagnosis's)"
        for p in narrowed:
            if p.name not in changed:
                self._set(p.name, p.distribution, why)

    # -- building blocks ----------------------------------------------------------------------
    def _has(self, name: str) -> bool:
        return name in self.new or name in self.current

    def _set(self, name: str, dist: Distribution, why: str) -> None:
        old = self.new.get(name)
        before = old.distribution if old is not None else None
        if before == dist:
            return
        self.new[name] = Parameter(name, dist, old.when if old is not None else None)
        self.changes.append(Change(name, before, dist, why))

    def _clip(self, name: str, lo: float, hi: float, integer: bool) -> tuple[float, float]:
        a, b = self.limits.get(name, (None, None))
        if a is not None:
            lo, hi = max(lo, a), max(hi, a)
        if b is not None:
            lo, hi = min(lo, b), min(hi, b)
        if integer:
            lo, hi = math.ceil(lo - 1e-9), math.floor(hi + 1e-9)
            hi = max(hi, lo)
        return lo, hi

    def _range(self, name: str, kind: type, lo: float, hi: float) -> Distribution | None:
        integer = kind in (IntUniform, IntLogUniform)
        lo, hi = self._clip(name, lo, hi, integer)
        if not integer:  # 1e-06, not 1.0000000000000002e-06, in the written file
            lo, hi = float(f"{lo:.6g}"), float(f"{hi:.6g}")
        if kind in (LogUniform, IntLogUniform) and lo <= 0:
            return None
        try:
            return kind(lo, hi)
        except ValueError:
            return None

    def _grow(self, name: str, why: str) -> None:
        """Capacity / epochs up: a log range ×2 at the low end, ×4 at the high end; a linear
        integer range (depth) one span (at least 1) higher; categorical values gain twice the
        largest; a knob the space does not search goes from the project's value to 4×."""
        p = self.new.get(name)
        if p is None:
            value = self.current.get(name)
            if not _is_number(value) or value <= 0:
                return
            if name in _DEPTH:
                dist = self._range(name, IntUniform, value, value + 2)
            else:
                dist = self._range(name, IntLogUniform, value, 4 * value)
            if dist is not None:
                self._set(name, dist, f"{why}: was {value} for every trial")
            return
        d = p.distribution
        if isinstance(d, Categorical) and all(_is_number(v) for v in d.values):
            top = max(d.values)
            grown = type(top)(top * 2)
            a, b = self.limits.get(name, (None, None))
            if b is None or grown <= b:
                self._set(name, Categorical([*d.values, grown]), why)
        elif isinstance(d, IntLogUniform | LogUniform):
            dist = self._range(name, type(d), d.low * 2, d.high * 4)
            if dist is not None:
                self._set(name, dist, why)
        elif isinstance(d, IntUniform | Uniform):
            step = max(1, d.high - d.low) if isinstance(d, IntUniform) else d.high - d.low
            dist = self._range(name, type(d), d.low, d.high + step)
            if dist is not None:
                self._set(name, dist, why)

    def _optimizers(self) -> None:
        p = self.new.get("optimizer")
        if p is not None and isinstance(p.distribution, Categorical):
            values = list(p.distribution.values)
            extra = [o for o in _OPTIMIZERS if o not in values]
            if extra:
                self._set(
                    "optimizer",
                    Categorical(values + extra),
                    "better optimizers: Adam / RMSprop (avoidable bias)",
                )
        elif p is None and self.current.get("optimizer") in ("gd", "momentum"):
            values = [self.current["optimizer"], *_OPTIMIZERS]
            self._set("optimizer", Categorical(values), "better optimizers (avoidable bias)")

    def _shift(self, name: str, factor: float, why: str, *, off=None, add=None) -> None:
        p = self.new.get(name)
        if p is None:
            value = self.current.get(name)
            if off is not None and _is_number(value) and value > 0:
                self._set(name, Constant(off), f"{why}: was {value} for every trial, now off")
            elif add is not None and name in self.current:
                self._set(name, add, f"{why}: was {value} for every trial")
            return
        d = p.distribution
        if isinstance(d, LogUniform | IntLogUniform):
            dist = self._range(name, type(d), d.low * factor, d.high * factor)
            if dist is not None:
                self._set(name, dist, why)
        elif isinstance(d, Constant) and add is not None and d.value in (0, 0.0, None):
            self._set(name, add, why)

    def _keep_prob_up(self) -> None:
        why = "less dropout (avoidable bias)"
        p = self.new.get("keep_prob")
        if p is None:
            value = self.current.get("keep_prob")
            if _is_number(value) and value < 1:
                self._set("keep_prob", Constant(1.0), f"{why}: was {value}, now off")
            return
        d = p.distribution
        if isinstance(d, Uniform) and d.low < 1:
            self._set("keep_prob", self._range("keep_prob", Uniform, (d.low + 1) / 2, 1.0), why)

    def _keep_prob_down(self) -> None:
        why = "more dropout (variance)"
        p = self.new.get("keep_prob")
        if p is None or isinstance(p.distribution, Constant):
            if "keep_prob" in self.current or p is not None:
                self._set("keep_prob", self._range("keep_prob", Uniform, 0.5, 1.0), why)
            return
        d = p.distribution
        if isinstance(d, Uniform):
            low = max(0.3, d.low - (1 - d.low) / 2) if d.low < 1 else 0.5
            self._set("keep_prob", self._range("keep_prob", Uniform, min(low, d.low), d.high), why)

    def _lower_half(self, name: str, why: str) -> None:
        p = self.new.get(name)
        if p is None:
            return
        d = p.distribution
        if isinstance(d, Categorical) and len(d.values) > 1:
            self._set(name, Categorical([min(d.values, key=_order)]), why)
        elif isinstance(d, Uniform | IntUniform) and d.high > d.low:
            half = (d.high - d.low) / 2
            hi = d.low + (math.floor(half) if isinstance(d, IntUniform) else half)
            dist = self._range(name, type(d), d.low, hi)
            if dist is not None:
                self._set(name, dist, why)

    def _upper(self, name: str, why: str) -> None:
        p = self.new.get(name)
        if p is None:
            return
        d = p.distribution
        if isinstance(d, Categorical) and all(_is_number(v) for v in d.values):
            if not all(isinstance(v, bool) for v in d.values):
                top = max(d.values)
                grown = top + max(1, top) if isinstance(top, int) else top * 2
                a, b = self.limits.get(name, (None, None))
                if b is None or grown <= b:
                    self._set(name, Categorical([*d.values, grown]), why)
        elif isinstance(d, Uniform | IntUniform):
            step = max(d.high - d.low, 1)
            dist = self._range(name, type(d), d.low, d.high + step)
            if dist is not None:
                self._set(name, dist, why)

    def _scale_int(self, name: str, factor: float, why: str) -> None:
        p = self.new.get(name)
        if p is not None and isinstance(p.distribution, IntUniform | IntLogUniform):
            d = p.distribution
            dist = self._range(name, type(d), d.low * factor, d.high * factor)
            if dist is not None:
                self._set(name, dist, why)

    def _early_stopping(self) -> None:
        why = "search early stopping (variance)"
        name = "early_stopping_patience"
        if name in self.new or name not in self.current:
            return
        value = self.current.get(name)
        epochs = self.current.get("epochs")
        hi = max(3, int(epochs) // 3) if _is_number(epochs) else 10
        lo = 1 if not _is_number(value) else max(1, int(value) // 2)
        dist = self._range(name, IntUniform, min(lo, hi), hi if value is None else max(hi, value))
        if dist is not None:
            self._set(name, dist, f"{why}: was {value} for every trial")

    def _share_up(self) -> None:
        """More of the train split: ``train_share`` from its last value (the top of its last
        range) up to 1, where the last sweep trained on less than all of it."""
        why = "more training data (variance)"
        name = "train_share"
        p = self.new.get(name)
        if p is None:
            value = self.current.get(name)
            if _is_number(value) and value < 1:
                dist = self._range(name, Uniform, value, 1.0)
                if dist is not None:
                    self._set(name, dist, f"{why}: was {value} of the train split for every trial")
            return
        d = p.distribution
        if isinstance(d, Constant) and _is_number(d.value) and d.value < 1:
            dist = self._range(name, Uniform, d.value, 1.0)
        elif isinstance(d, Uniform | LogUniform) and d.low < 1:
            dist = self._range(name, type(d), d.high if d.high < 1 else (d.low + 1) / 2, 1.0)
        elif isinstance(d, Categorical) and all(_is_number(v) for v in d.values):
            dist = Categorical(sorted({max(d.values), 1.0}))
        else:
            return
        if dist is not None:
            self._set(name, dist, why)

    def build(self) -> SearchSpace:
        order = [*self.space.names, *(n for n in self.new if n not in self.space)]
        return SearchSpace([self.new[n] for n in order], description=self.space.description)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _order(v: Any) -> Any:
    return (0, v) if _is_number(v) or isinstance(v, bool) else (1, str(v))
