"""One rule for numbers in every setting: what a YAML value may be for an ``int`` or ``float``.

pydantic in lax mode takes ``true`` for ``1``, ``2.0`` for ``2`` and ``.inf`` for a float;
a setting that fed such a value to training would fail in every trial, or silently train on
something else. So the base schema (``Schema``) and the search-space check
(:func:`check_setting_value`, for each value a parameter can take) both apply
:func:`number_problem`: no boolean where a number is expected, no float for an integer, only
finite floats, integers within int64 (what torch, numpy and Optuna hold).
"""

from __future__ import annotations

import math
import types
import typing
from typing import Annotated, Any

from pydantic import TypeAdapter, ValidationError

__all__ = ["INT64_MAX", "check_setting_value", "number_problem"]

INT64_MAX = 2**63 - 1


def _scalar_types(annotation: Any) -> set[Any]:
    """The plain types an annotation accepts (through ``Optional``, unions and ``Annotated``)."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _scalar_types(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return set().union(*(_scalar_types(a) for a in typing.get_args(annotation)))
    if origin is typing.Literal:
        return {type(v) for v in typing.get_args(annotation)}
    return {annotation} if isinstance(annotation, type) else set()


def number_problem(annotation: Any, value: Any) -> str | None:
    """Why ``value`` is no number for a setting of type ``annotation`` (None: no objection;
    pydantic then checks the rest, e.g. ``ge=1``)."""
    kinds = _scalar_types(annotation)
    if not kinds & {int, float}:
        return None
    expected = "a number" if float in kinds else "an integer"
    if isinstance(value, bool):
        return None if bool in kinds else f"expected {expected}, but found a boolean ({value})"
    if isinstance(value, float):
        if not math.isfinite(value):
            return f"expected a finite number, but found {value}"
        if float not in kinds and int in kinds:
            return f"expected an integer, but found the float {value!r} (write it without a point)"
    if isinstance(value, int) and float not in kinds and abs(value) > INT64_MAX:
        return f"expected an integer within ±{INT64_MAX} (int64), but found {value}"
    return None


_ADAPTERS: dict[tuple[type, str], TypeAdapter] = {}


def check_setting_value(schema: type, name: str, value: Any) -> str | None:
    """Why ``value`` cannot be setting ``name`` of ``schema`` (a pydantic model): the number
    rule, then the field's own type and constraints (``gt=0``, a ``Literal``'s choices).
    None when it can. Checks between settings (the model's validators) are not run here."""
    field = schema.model_fields[name]
    problem = number_problem(field.annotation, value)
    if problem:
        return problem
    key = (schema, name)
    if key not in _ADAPTERS:
        meta = tuple(field.metadata)  # the constraints: gt=0, ge=1, ...
        tp = Annotated[(field.annotation, *meta)] if meta else field.annotation
        _ADAPTERS[key] = TypeAdapter(tp)
    try:
        _ADAPTERS[key].validate_python(value)
    except ValidationError as exc:
        err = exc.errors()[0]
        return f"{err['msg'][0].lower()}{err['msg'][1:]}, but found {value!r}"
    return None
