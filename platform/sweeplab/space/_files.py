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
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from sweeplab.config import Schema, YamlDoc, load_yaml, parse_yaml, validate_doc
from sweeplab.errors import UserError
from sweeplab.space._distributions import (
    DISTRIBUTIONS,
    RANGE_TYPES,
    Categorical,
    Constant,
    Distribution,
    _Range,
)
from sweeplab.space._space import Parameter, SearchSpace, SpaceError

__all__ = ["load_space", "space_from_data", "space_from_text", "space_to_data", "space_to_yaml"]

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
    description: str | None = None
    parameters: dict[str, _ParameterSpec] = Field(...)


_FORMS = "{distribution: log_uniform, min: 0.0001, max: 0.1}, {values: [a, b]} or {value: x}"


def load_space(path: str | Path) -> SearchSpace:
    """Read a search-space file; any mistake is one :class:`UserError` with file:line: key."""
    return _from_doc(load_yaml(path))


def space_from_text(text: str, *, file: str = "<string>") -> SearchSpace:
    return _from_doc(parse_yaml(text, file=file))


def space_from_data(data: Any, *, file: str = "<dict>") -> SearchSpace:
    return _from_doc(YamlDoc(data=data, file=file))


def _from_doc(doc: YamlDoc) -> SearchSpace:
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
        return SearchSpace(params, description=spec.description, _source=doc)
    except SpaceError as exc:
        raise doc.error(exc.message, exc.path, suggestions=exc.suggestions) from None


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


def space_to_data(space: SearchSpace) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for p in space:
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
    if space.description is not None:
        out["description"] = space.description
    out["parameters"] = params
    return out


def space_to_yaml(space: SearchSpace) -> str:
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap

    def flow(value: Any) -> Any:
        if isinstance(value, dict):
            m = CommentedMap((k, flow(v)) for k, v in value.items())
            m.fa.set_flow_style()
            return m
        return value

    data = space_to_data(space)
    doc = CommentedMap()
    if "description" in data:
        doc["description"] = data["description"]
    doc["parameters"] = CommentedMap((k, flow(v)) for k, v in data["parameters"].items())
    yaml = YAML(typ="rt", pure=True)
    yaml.width = 4096  # one line per parameter
    buf = io.StringIO()
    yaml.dump(doc, buf)
    text = buf.getvalue()
    _check_round_trip(space, text)
    return text


def _check_round_trip(space: SearchSpace, text: str) -> None:
    try:
        again = space_from_text(text, file="<to_yaml>")
    except UserError as exc:  # pragma: no cover - a bug in the writer, not user input
        raise AssertionError(f"to_yaml wrote a file it cannot read: {exc}") from None
    if again != space:  # pragma: no cover
        raise AssertionError("to_yaml did not round-trip")
