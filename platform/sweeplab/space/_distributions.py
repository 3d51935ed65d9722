"""Search-space distributions: validated, immutable value objects.

Each distribution knows how to draw a value itself (``sample``), how to ask Optuna for one on
the same scale (``suggest``), how to describe itself to Ray Tune (``to_tune``), whether a value
belongs to it (``contains``) and how to round-trip through JSON (``to_dict`` /
:func:`distribution_from_dict`). The type names (``log_uniform`` ...) are the ones users write
in a search-space file.

Internal parameter names
------------------------
:class:`OneMinusLogUniform` is the one distribution whose natural scale is not the value
itself: β in [0.9, 0.999] is log-uniform in ``1 − β``. Optuna and Ray Tune only know
log-uniform *values*, so both are asked for the internal value ``m = 1 − β`` (log-uniform on
``[1 − high, 1 − low]``) under the internal name ``f"{name}__1m"``, and β is recovered as
``1 − m``. TPE and the other model-based samplers then model the parameter on the right scale
(equal effort per decade of ``1 − β``, i.e. per factor of ten in the averaging window
``1 / (1 − β)``). :meth:`Distribution.internal_name` / :meth:`Distribution.from_internal`
describe the mapping; :meth:`sweeplab.space.SearchSpace.resolve` applies it.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from sweeplab.errors import close_matches

if TYPE_CHECKING:  # pragma: no cover
    import optuna

__all__ = [
    "DISTRIBUTIONS",
    "ONE_MINUS_SUFFIX",
    "Categorical",
    "Constant",
    "Distribution",
    "IntLogUniform",
    "IntUniform",
    "LogUniform",
    "OneMinusLogUniform",
    "Uniform",
    "distribution_from_dict",
]

ONE_MINUS_SUFFIX = "__1m"
"""Suffix of the internal name under which ``1 − β`` of a one_minus_log_uniform β is searched."""


# ---------------------------------------------------------------------------------------------
# helpers


def _is_real(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )


def _to_float(value: Any, name: str) -> float:
    if not _is_real(value) or not math.isfinite(float(value)):
        raise ValueError(f"`{name}` must be a finite number, but got ({name}={value!r})")
    return float(value)


def _to_int(value: Any, name: str) -> int:
    if _is_real(value) and math.isfinite(float(value)) and float(value).is_integer():
        if abs(int(value)) <= _INT64_MAX:
            return int(value)
        raise ValueError(
            f"`{name}` must be an integer within ±{_INT64_MAX} (int64, what numpy, torch and "
            f"Optuna hold), but got ({name}={value!r})"
        )
    raise ValueError(f"`{name}` must be an integer, but got ({name}={value!r})")


_INT64_MAX = 2**63 - 1


def _scalar_key(value: Any) -> tuple[bool, Any]:
    """Equality key of a scalar choice: ``True`` and ``1`` differ, ``1`` and ``1.0`` do not."""
    if isinstance(value, np.generic):
        value = value.item()
    return (isinstance(value, bool), value)


def _is_json_scalar(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or isinstance(value, str | int | bool)


def _check_json(value: Any, where: str = "value") -> None:
    """Raise ``ValueError`` unless ``value`` is plain JSON data (finite numbers, str keys)."""
    if _is_json_scalar(value):
        return
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_json(item, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for k, item in value.items():
            if not isinstance(k, str):
                raise ValueError(f"`{where}` keys must be strings, but got ({where}={value!r})")
            _check_json(item, f"{where}.{k}")
        return
    raise ValueError(
        f"`{where}` must be plain data (a string, number, boolean, null, list or mapping), "
        f"but got ({where}={value!r})"
    )


def canonical_json(value: Any) -> str:
    """The canonical JSON text of plain data (sorted keys, no spaces): for keys and hashes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _py(value: Any) -> Any:
    """numpy scalars -> Python scalars (so configurations are JSON / YAML friendly)."""
    return value.item() if isinstance(value, np.generic) else value


# ---------------------------------------------------------------------------------------------
# base


class Distribution:
    """Base of the search-space distributions (immutable; compare and hash by value)."""

    __slots__ = ()

    type_name: ClassVar[str]
    """The name users write (``log_uniform``) and the ``"type"`` of :meth:`to_dict`."""

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable; create a new one instead")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    # value-object protocol --------------------------------------------------------------
    def _fields(self) -> dict[str, Any]:
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data: ``{"type": "log_uniform", "low": 0.0001, "high": 0.1}``."""
        return {"type": self.type_name, **self._fields()}

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return canonical_json(self.to_dict()) == canonical_json(other.to_dict())  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(canonical_json(self.to_dict()))

    def __reduce__(self) -> tuple:
        # pickle / deepcopy through the validated constructor (slots + no __setattr__)
        return (distribution_from_dict, (self.to_dict(),))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._fields().items())
        return f"{type(self).__name__}({args})"

    # behaviour ----------------------------------------------------------------------------
    def sample(self, rng: np.random.Generator) -> Any:
        """Draw one value with ``rng`` (same generator state → same value)."""
        raise NotImplementedError

    def contains(self, value: Any) -> bool:
        """Whether ``value`` is one this distribution can produce."""
        raise NotImplementedError

    def suggest(self, trial: optuna.Trial, name: str) -> Any:
        """Ask an Optuna trial for a value on this distribution's scale; return the value."""
        raise NotImplementedError

    def to_tune(self) -> Any:
        """A Ray Tune domain on the same scale, for the key :meth:`internal_name` gives."""
        raise NotImplementedError

    def grid_values(self) -> list[Any] | None:
        """Every value, for grid search; ``None`` for ranges (they have no finite grid)."""
        return None

    def internal_name(self, name: str) -> str:
        """The name under which optimizers search this parameter (usually ``name`` itself)."""
        return name

    def from_internal(self, value: Any) -> Any:
        """Map a value an optimizer reported under :meth:`internal_name` back to the user's."""
        return value


# ---------------------------------------------------------------------------------------------
# ranges


class _Range(Distribution):
    """``low`` and ``high`` with a rule; subclasses set the scale."""

    __slots__ = ("low", "high")

    low: Any
    high: Any

    _integer: ClassVar[bool] = False
    _rule: ClassVar[str] = "`{low} <= {high}`"
    _hint: ClassVar[str] = ""

    def __init__(self, low: float, high: float) -> None:
        low, high = self.validate(low, high)
        self._set("low", low)
        self._set("high", high)

    @classmethod
    def validate(cls, low: Any, high: Any, *, names: tuple[str, str] = ("low", "high")) -> tuple:
        """Check and normalise the bounds; ``names`` are used in the message (``min``/``max``
        when the bounds come from a file). Raises ``ValueError`` with the rule and the values."""
        convert = _to_int if cls._integer else _to_float
        low, high = convert(low, names[0]), convert(high, names[1])
        if not cls._holds(low, high):
            rule = cls._rule.format(low=names[0], high=names[1])
            hint = cls._hint if not cls._in_domain(low, high) else ""
            if not hint and low > high:
                hint = f"; {names[0]} is above {names[1]}: swap them"
            raise ValueError(
                f"{rule} must hold, but got ({names[0]}={low!r}, {names[1]}={high!r}){hint}"
            )
        return low, high

    @staticmethod
    def _holds(low: Any, high: Any) -> bool:
        return low <= high

    @staticmethod
    def _in_domain(low: Any, high: Any) -> bool:
        """Whether both bounds lie where the scale is defined (else ``_hint`` says why not)."""
        return True

    def _fields(self) -> dict[str, Any]:
        return {"low": self.low, "high": self.high}

    def contains(self, value: Any) -> bool:
        if not _is_real(value) or not math.isfinite(float(value)):
            return False
        if self._integer and not float(value).is_integer():
            return False
        return self.low <= value <= self.high

    def _clip(self, value: Any) -> Any:
        return min(max(value, self.low), self.high)


class Uniform(_Range):
    """A float, uniform on ``[low, high]``."""

    __slots__ = ()
    type_name = "uniform"

    def sample(self, rng: np.random.Generator) -> float:
        return self._clip(float(rng.uniform(self.low, self.high)))

    def suggest(self, trial: optuna.Trial, name: str) -> float:
        return trial.suggest_float(name, self.low, self.high)

    def to_tune(self) -> Any:
        from ray import tune

        return tune.uniform(self.low, self.high)


class LogUniform(_Range):
    """A float ``10**r`` with ``r`` uniform on ``[log10 low, log10 high]``: equal effort per
    decade (α in [1e-4, 1] puts a quarter of the samples in each of the four decades)."""

    __slots__ = ()
    type_name = "log_uniform"
    _rule = "`0 < {low} <= {high}`"
    _hint = "; a log scale needs positive bounds (use `uniform` for a range that includes 0)"

    @staticmethod
    def _holds(low: float, high: float) -> bool:
        return 0 < low <= high

    @staticmethod
    def _in_domain(low, high) -> bool:
        return low > 0 and high > 0

    def sample(self, rng: np.random.Generator) -> float:
        r = rng.uniform(math.log10(self.low), math.log10(self.high))
        return self._clip(float(10.0**r))

    def suggest(self, trial: optuna.Trial, name: str) -> float:
        return trial.suggest_float(name, self.low, self.high, log=True)

    def to_tune(self) -> Any:
        from ray import tune

        return tune.loguniform(self.low, self.high)


class OneMinusLogUniform(_Range):
    """β = 1 − 10**r, r uniform on ``[log10(1 − high), log10(1 − low)]``.

    For exponentially weighted averages: β in [0.9, 0.999] spends equal effort on averaging
    over ~10, ~100 and ~1000 steps (half of the samples lie below 0.99). Optimizers search the
    internal value ``1 − β`` (see the module docstring): ``suggest`` asks Optuna for
    ``f"{name}__1m"`` log-uniform on ``[1 − high, 1 − low]``, and ``to_tune`` returns
    ``tune.loguniform(1 − high, 1 − low)`` for that internal key. A ``tune.sample_from``
    lambda would be correct for Tune's BasicVariantGenerator only (OptunaSearch and the other
    searchers cannot convert function domains, and it ignores Tune's seed); a log-uniform
    domain on ``1 − β`` is understood by all of them.
    """

    __slots__ = ()
    type_name = "one_minus_log_uniform"
    _rule = "`0 < {low} <= {high} < 1`"
    _hint = "; β = 1 − 10^r needs bounds strictly between 0 and 1 (e.g. 0.9 and 0.999)"

    @staticmethod
    def _holds(low: float, high: float) -> bool:
        return 0 < low <= high < 1

    @staticmethod
    def _in_domain(low, high) -> bool:
        return 0 < low < 1 and 0 < high < 1

    def internal_name(self, name: str) -> str:
        return f"{name}{ONE_MINUS_SUFFIX}"

    def from_internal(self, value: Any) -> float:
        return self._clip(1.0 - float(value))

    def sample(self, rng: np.random.Generator) -> float:
        r = rng.uniform(math.log10(1.0 - self.high), math.log10(1.0 - self.low))
        return self._clip(1.0 - float(10.0**r))

    def suggest(self, trial: optuna.Trial, name: str) -> float:
        m = trial.suggest_float(self.internal_name(name), 1.0 - self.high, 1.0 - self.low, log=True)
        return self.from_internal(m)

    def to_tune(self) -> Any:
        """The domain of the *internal* value ``1 − β`` (key ``f"{name}__1m"``)."""
        from ray import tune

        return tune.loguniform(1.0 - self.high, 1.0 - self.low)


class IntUniform(_Range):
    """An integer, uniform on ``{low, ..., high}`` (both ends included)."""

    __slots__ = ()
    type_name = "int_uniform"
    _integer = True

    def sample(self, rng: np.random.Generator) -> int:
        return int(rng.integers(self.low, self.high, endpoint=True))

    def suggest(self, trial: optuna.Trial, name: str) -> int:
        return trial.suggest_int(name, self.low, self.high)

    def to_tune(self) -> Any:
        from ray import tune

        return tune.randint(self.low, self.high + 1)  # Tune's upper bound is exclusive


class IntLogUniform(_Range):
    """An integer on a log scale over ``{low, ..., high}``, ``low >= 1`` (as Optuna does it:
    log-uniform on ``[low − 0.5, high + 0.5]``, rounded)."""

    __slots__ = ()
    type_name = "int_log_uniform"
    _integer = True
    _rule = "`1 <= {low} <= {high}`"
    _hint = "; a log scale needs positive bounds (use `int_uniform` for a range that includes 0)"

    @staticmethod
    def _holds(low: int, high: int) -> bool:
        return 1 <= low <= high

    @staticmethod
    def _in_domain(low, high) -> bool:
        return low >= 1 and high >= 1

    def sample(self, rng: np.random.Generator) -> int:
        r = rng.uniform(math.log(self.low - 0.5), math.log(self.high + 0.5))
        return self._clip(round(math.exp(r)))

    def suggest(self, trial: optuna.Trial, name: str) -> int:
        return trial.suggest_int(name, self.low, self.high, log=True)

    def to_tune(self) -> Any:
        from ray import tune

        return tune.lograndint(self.low, self.high + 1)  # Tune's upper bound is exclusive


# ---------------------------------------------------------------------------------------------
# finite


class Categorical(Distribution):
    """One of ``values`` (strings, numbers, booleans or null; no value twice), uniformly."""

    __slots__ = ("_values", "_keys")
    type_name = "categorical"

    def __init__(self, values: Sequence[Any]) -> None:
        self._set("_values", self.validate(values))
        self._set("_keys", frozenset(_scalar_key(v) for v in self._values))

    @staticmethod
    def validate(values: Any, *, name: str = "values") -> tuple[Any, ...]:
        if not isinstance(values, list | tuple) or not values:
            raise ValueError(f"`{name}` must be a non-empty list, but got ({name}={values!r})")
        seen: set[tuple[bool, Any]] = set()
        for v in values:
            v = _py(v)
            if not _is_json_scalar(v):
                raise ValueError(
                    f"`{name}` must hold strings, numbers, booleans or null, but got ({name}="
                    f"{list(values)!r}); use `value:` for a single list or mapping"
                )
            if _scalar_key(v) in seen:
                raise ValueError(
                    f"`{name}` must not repeat a value, but got ({name}={list(values)!r}) "
                    f"with {v!r} twice"
                )
            seen.add(_scalar_key(v))
        return tuple(_py(v) for v in values)

    @property
    def values(self) -> tuple[Any, ...]:
        return self._values

    def _fields(self) -> dict[str, Any]:
        return {"values": list(self._values)}

    def sample(self, rng: np.random.Generator) -> Any:
        return self._values[int(rng.integers(len(self._values)))]

    def contains(self, value: Any) -> bool:
        try:
            return _scalar_key(value) in self._keys
        except TypeError:  # unhashable
            return False

    def suggest(self, trial: optuna.Trial, name: str) -> Any:
        return trial.suggest_categorical(name, list(self._values))

    def to_tune(self) -> Any:
        from ray import tune

        return tune.choice(list(self._values))

    def grid_values(self) -> list[Any]:
        return list(self._values)


class Constant(Distribution):
    """Always ``value`` (any plain JSON data). Optimizers are not asked for it."""

    __slots__ = ("_value", "_canonical")
    type_name = "constant"

    def __init__(self, value: Any) -> None:
        _check_json(value)
        self._set("_value", copy.deepcopy(_py(value)))
        self._set("_canonical", canonical_json(self._value))

    @property
    def value(self) -> Any:
        return copy.deepcopy(self._value)

    def _fields(self) -> dict[str, Any]:
        return {"value": self.value}

    def sample(self, rng: np.random.Generator) -> Any:
        return self.value

    def contains(self, value: Any) -> bool:
        if _is_json_scalar(_py(value)) and _is_json_scalar(self._value):
            return _scalar_key(value) == _scalar_key(self._value)
        try:
            return canonical_json(value) == self._canonical
        except (TypeError, ValueError):
            return False

    def suggest(self, trial: optuna.Trial, name: str) -> Any:
        return self.value  # nothing to search: the trial is not asked

    def to_tune(self) -> Any:
        return self.value  # Tune passes plain values through unchanged

    def grid_values(self) -> list[Any]:
        return [self.value]


# ---------------------------------------------------------------------------------------------
# registry + JSON

DISTRIBUTIONS: Mapping[str, type[Distribution]] = MappingProxyType(
    {
        cls.type_name: cls
        for cls in (
            Uniform,
            LogUniform,
            OneMinusLogUniform,
            IntUniform,
            IntLogUniform,
            Categorical,
            Constant,
        )
    }
)
"""Every distribution type by the name used in files and in :meth:`Distribution.to_dict`."""

RANGE_TYPES: tuple[str, ...] = tuple(n for n, c in DISTRIBUTIONS.items() if issubclass(c, _Range))
"""The names users write after ``distribution:`` (those with ``min`` / ``max``)."""


def distribution_from_dict(data: Mapping[str, Any]) -> Distribution:
    """Inverse of :meth:`Distribution.to_dict`; raises ``ValueError`` for anything else."""
    if not isinstance(data, Mapping) or "type" not in data:
        raise ValueError(f"a distribution must be a mapping with a `type`, but got {data!r}")
    kind = data["type"]
    cls = DISTRIBUTIONS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        hint = close_matches(str(kind), DISTRIBUTIONS)
        raise ValueError(
            f"unknown distribution type {kind!r}; expected one of: {', '.join(DISTRIBUTIONS)}"
            + (f". Did you mean {hint[0]!r}?" if hint else "")
        )
    fields = {k: v for k, v in data.items() if k != "type"}
    expected = (
        {"values"} if cls is Categorical else {"value"} if cls is Constant else {"low", "high"}
    )
    if set(fields) != expected:
        raise ValueError(
            f"a {kind} distribution needs exactly the keys {sorted(expected)}, "
            f"but got {sorted(fields)}"
        )
    return cls(**fields)
