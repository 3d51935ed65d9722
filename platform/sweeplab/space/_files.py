"""The search-space file format (W&B-like YAML), read once into a :class:`SearchSpace`.

.. code-block:: yaml

    description: optional text
    parameters:
      learning_rate: {distribution: log_uniform, min: 1.0e-4, max: 1.0e-1}
      optimizer:     {values: [momentum, adam]}
      beta:          {distribution: one_minus_log_uniform, min: 0.9, max: 0.999,
                      when: {optimizer: momentum}}
      epochs:        {value: 30}

``distribution`` is one of ``uniform``, ``log_uniform``, ``one_minus_log_uniform``,
``int_uniform``, ``int_log_uniform`` and needs ``min`` and ``max``; ``values`` lists choices;
``value`` is a constant. ``when`` maps other parameters to a value or a list of values.

This module knows the format of one parameter and of the file (:func:`parse_space`,
:func:`space_data`, :func:`dump_space`); :class:`~sweeplab.space.SearchSpace` builds on it
(``from_yaml``, ``to_yaml``, ...; :func:`~sweeplab.space.load_space`) and checks the
parameters as a whole.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import Field

from sweeplab.config import Description, Schema, YamlDoc, validate_doc
from sweeplab.space._distributions import (
    DISTRIBUTIONS,
    RANGE_TYPES,
    Categorical,
    Constant,
    Distribution,
    _Range,
)
from sweeplab.space._parameter import Parameter, SpaceError

__all__ = ["dump_space", "parse_space", "space_data"]

_RangeName = Literal[RANGE_TYPES]  # type: ignore[valid-type]


class _ParameterSpec(Schema):
    """One entry under ``parameters:`` (the checks between keys are done in ``_parameter``)."""

    distribution: _RangeName | None = None  # type: ignore[valid-type]
    min: Any = None
    max: Any = None
    values: list[Any] | None = None
    value: Any = None
    when: dict[str, Any] | None = None


class _SpaceSpec(Schema):
    description: Description | None = None
    parameters: dict[str, _ParameterSpec] = Field(...)


_FORMS = "{distribution: log_uniform, min: 0.0001, max: 0.1}, {values: [a, b]} or {value: x}"


def parse_space(doc: YamlDoc) -> tuple[list[Parameter], str | None]:
    """The parameters and the description of a search-space document; any mistake in one
    parameter is one :class:`~sweeplab.errors.UserError` with file:line: key. (Checks between
    parameters are :class:`~sweeplab.space.SearchSpace`'s.)"""
    data = doc.data
    if isinstance(data, dict) and isinstance(data.get("parameters"), dict):
        # A parameter written as a bare value gets a hint, not pydantic's generic message.
        for name, spec in data["parameters"].items():
            if not isinstance(spec, dict):
                raise doc.error(
                    f"expected a mapping such as {_FORMS}, but found {spec!r}"
                    + (f"; for a constant write {{value: {spec!r}}}" if spec is not None else ""),
                    ("parameters", name),
                )
    spec = validate_doc(doc, _SpaceSpec)  # `parameters: {}` is allowed: one configuration
    params = []
    try:
        for name, p in spec.parameters.items():
            params.append(_parameter(doc, name, p))
    except SpaceError as exc:
        raise doc.error(exc.message, exc.path, suggestions=exc.suggestions) from None
    return params, spec.description


def _parameter(doc: YamlDoc, name: str, p: _ParameterSpec) -> Parameter:
    path = ("parameters", name)
    given = p.model_fields_set
    ranged = {"distribution", "min", "max"} & given
    if ranged and "values" in given:
        raise doc.error(
            f"`values` cannot be combined with `{'`/`'.join(sorted(ranged))}`: `values` lists "
            "the choices, `distribution` with `min`/`max` gives a range; keep one of them",
            (*path, "values"),
        )
    if ranged and "value" in given:
        raise doc.error(
            f"`value` cannot be combined with `{'`/`'.join(sorted(ranged))}`: `value` is a "
            "constant; keep one of them",
            (*path, "value"),
        )
    if "values" in given and "value" in given:
        raise doc.error(
            "`values` and `value` cannot be combined: `values` lists choices, `value` is a "
            "constant; keep one of them",
            (*path, "value"),
        )
    dist: Distribution
    if ranged:
        if "distribution" not in given or p.distribution is None:
            raise doc.error(
                f"`min`/`max` need a `distribution:` saying the scale, one of: "
                f"{', '.join(RANGE_TYPES)}",
                path,
            )
        for key in ("min", "max"):
            if key not in given:
                raise doc.error(f"`distribution: {p.distribution}` needs `{key}`", path)
        cls = DISTRIBUTIONS[p.distribution]
        assert issubclass(cls, _Range)
        try:
            low, high = cls.validate(p.min, p.max, names=("min", "max"))
        except ValueError as exc:
            raise doc.error(str(exc), (*path, "min")) from None
        dist = cls(low, high)
    elif "values" in given:
        try:
            dist = Categorical(Categorical.validate(p.values))
        except ValueError as exc:
            raise doc.error(str(exc), (*path, "values")) from None
    elif "value" in given:
        try:
            dist = Constant(p.value)
        except ValueError as exc:
            raise doc.error(str(exc), (*path, "value")) from None
    else:
        raise doc.error(f"a parameter needs one of: {_FORMS}", path)
    return Parameter(name, dist, p.when)


# -- writing ------------------------------------------------------------------------------


def space_data(parameters: Iterable[Parameter], description: str | None) -> dict[str, Any]:
    """The file format as plain data."""
    params: dict[str, Any] = {}
    for p in parameters:
        d = p.distribution
        if isinstance(d, Categorical):
            entry: dict[str, Any] = {"values": list(d.values)}
        elif isinstance(d, Constant):
            entry = {"value": d.value}
        else:
            assert isinstance(d, _Range)
            entry = {"distribution": d.type_name, "min": d.low, "max": d.high}
        if p.when:
            entry["when"] = {k: v[0] if len(v) == 1 else list(v) for k, v in p.when.items()}
        params[p.name] = entry
    out: dict[str, Any] = {}
    if description is not None:
        out["description"] = description
    out["parameters"] = params
    return out


def dump_space(data: dict[str, Any]) -> str:
    """:func:`space_data`'s plain data as YAML text, one line per parameter."""
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap

    def flow(value: Any) -> Any:
        if isinstance(value, dict):
            m = CommentedMap((k, flow(v)) for k, v in value.items())
            m.fa.set_flow_style()
            return m
        return value

    doc = CommentedMap()
    if "description" in data:
        doc["description"] = data["description"]
    doc["parameters"] = CommentedMap((k, flow(v)) for k, v in data["parameters"].items())
    yaml = YAML(typ="rt", pure=True)
    yaml.width = 4096  # one line per parameter
    buf = io.StringIO()
    yaml.dump(doc, buf)
    return buf.getvalue()
