"""A parameter of a search space: a named distribution, maybe active only ``when`` others
have given values; and :class:`SpaceError`, what an invalid parameter or space raises.

Below :mod:`sweeplab.space._files` (the file format builds parameters) and
:mod:`sweeplab.space._space` (the space orders and checks them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from sweeplab.space._distributions import (
    ONE_MINUS_SUFFIX,
    Distribution,
    _is_json_scalar,
    _py,
    _scalar_key,
    canonical_json,
)

__all__ = ["Parameter", "SpaceError"]


class SpaceError(ValueError):
    """An invalid parameter or search space; ``path`` is the key path in the file format
    (``("parameters", "beta", "when", "optimizer")``), so loaders can say file:line: key."""

    def __init__(self, message: str, path: tuple = (), *, suggestions: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.path = tuple(path)
        self.suggestions = list(suggestions)


class Parameter:
    """A named distribution, optionally active only ``when`` other parameters have given values.

    ``when`` maps another parameter's name to one accepted value or a list of them; all the
    entries must hold (and the named parameters be active) for this one to be active.
    """

    __slots__ = ("name", "distribution", "_when", "_when_keys")

    name: str
    distribution: Distribution

    def __init__(
        self, name: str, distribution: Distribution, when: Mapping[str, Any] | None = None
    ) -> None:
        if not isinstance(name, str) or not name.strip() or name != name.strip():
            raise SpaceError(f"a parameter name must be a non-empty word, but got {name!r}")
        path = ("parameters", name)
        if name.endswith(ONE_MINUS_SUFFIX):
            raise SpaceError(
                f"parameter names must not end with {ONE_MINUS_SUFFIX!r} (the suffix sweeplab "
                f"uses for the internal 1 − β of one_minus_log_uniform), but got {name!r}",
                path,
            )
        if not isinstance(distribution, Distribution):
            raise SpaceError(f"expected a Distribution, but got {distribution!r}", path)
        norm: dict[str, tuple[Any, ...]] = {}
        if when is not None:
            if not isinstance(when, Mapping) or not when:
                raise SpaceError(
                    "`when` must map other parameters to the values that activate this one, "
                    f"e.g. {{optimizer: momentum}}, but got {when!r}",
                    (*path, "when"),
                )
            for other, accepted in when.items():
                wpath = (*path, "when", other)
                values = tuple(accepted) if isinstance(accepted, list | tuple) else (accepted,)
                values = tuple(_py(v) for v in values)
                if not values:
                    raise SpaceError("the list of accepted values is empty", wpath)
                if not all(_is_json_scalar(v) for v in values):
                    raise SpaceError(
                        "`when` values must be strings, numbers, booleans or null, "
                        f"but got {accepted!r}",
                        wpath,
                    )
                norm[str(other)] = values
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "distribution", distribution)
        object.__setattr__(self, "_when", MappingProxyType(norm) if norm else None)
        object.__setattr__(
            self,
            "_when_keys",
            {k: frozenset(_scalar_key(v) for v in vs) for k, vs in norm.items()},
        )

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Parameter is immutable; create a new one instead")

    def __reduce__(self) -> tuple:
        return (Parameter, (self.name, self.distribution, self.when))

    @property
    def when(self) -> dict[str, tuple[Any, ...]] | None:
        """``{other_name: (accepted values...)}``, or ``None`` when always active."""
        return dict(self._when) if self._when is not None else None

    @property
    def depends_on(self) -> tuple[str, ...]:
        return tuple(self._when or ())

    def is_active(self, config: Mapping[str, Any]) -> bool:
        """Whether this parameter is active given the (active) values chosen so far."""
        for other, keys in self._when_keys.items():
            if other not in config:
                return False
            try:
                if _scalar_key(config[other]) not in keys:
                    return False
            except TypeError:  # an unhashable value never matches
                return False
        return True

    def to_dict(self) -> dict[str, Any]:
        when = {k: list(v) for k, v in self._when.items()} if self._when else None
        return {"name": self.name, "distribution": self.distribution.to_dict(), "when": when}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Parameter):
            return NotImplemented
        return canonical_json(self.to_dict()) == canonical_json(other.to_dict())

    def __hash__(self) -> int:
        return hash(canonical_json(self.to_dict()))

    def __repr__(self) -> str:
        when = f", when={self.when!r}" if self._when else ""
        return f"Parameter({self.name!r}, {self.distribution!r}{when})"
