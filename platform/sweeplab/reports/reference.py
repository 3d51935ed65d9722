"""Generate the key reference of project and search-space files from the schemas.

``python -m sweeplab.reports.reference > docs/reference.md`` — a test regenerates it and
compares, so the reference cannot drift from the code.
"""

from __future__ import annotations

import enum
import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from sweeplab.config.project import Project
from sweeplab.models import MODELS
from sweeplab.tasks import TASKS

__all__ = ["render_reference"]


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        return " \\| ".join(repr(a).replace("'", "") for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp) if a is not type(None)) + (
            " (optional)" if type(None) in typing.get_args(tp) else ""
        )
    if origin is typing.Annotated:
        return _type_name(typing.get_args(tp)[0])
    if origin in (list, tuple):
        args = typing.get_args(tp)
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin is dict:
        return "mapping"
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return " \\| ".join(m.value for m in tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return f"mapping ({tp.__name__})"
    return getattr(tp, "__name__", str(tp))


def _default(field: Any) -> str:
    if field.is_required():
        return "**required**"
    value = field.default
    if value is PydanticUndefined:
        value = field.default_factory() if field.default_factory else None
    if isinstance(value, BaseModel):
        return "see below"
    if isinstance(value, enum.Enum):
        value = value.value
    return f"`{value!r}`".replace("'", "") if value not in (None, [], {}) else "–"


def _nested_models(tp: Any) -> list[type[BaseModel]]:
    out = []
    origin = typing.get_origin(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [tp]
    for arg in typing.get_args(tp) if origin else ():
        out.extend(_nested_models(arg))
    return out


def _table(model: type[BaseModel], prefix: str, seen: set, sections: list[str]) -> None:
    if model in seen:
        return
    seen.add(model)
    doc = (model.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
    lines = ["", f"### `{prefix}`" if prefix else "### top level", ""]
    if doc and not doc.startswith("A strict"):
        lines += [doc, ""]
    lines += ["| key | type | default | meaning |", "|---|---|---|---|"]
    nested = []
    for name, field in model.model_fields.items():
        desc = (field.description or "").replace("|", "\\|").replace("\n", " ")
        lines.append(
            f"| `{field.alias or name}` | {_type_name(field.annotation)} | {_default(field)} | {desc} |"
        )
        for sub in _nested_models(field.annotation):
            nested.append((sub, f"{prefix}.{name}" if prefix else name))
    sections.append("\n".join(lines))
    for sub, path in nested:
        _table(sub, path, seen, sections)


def _args_table(schema: type[BaseModel], sections: list[str]) -> None:
    sections.append("| key | type | default | meaning |\n|---|---|---|---|")
    for fname, field in schema.model_fields.items():
        desc = (field.description or "").replace("|", "\\|").replace("\n", " ")
        sections.append(
            f"| `{fname}` | {_type_name(field.annotation)} | {_default(field)} | {desc} |"
        )
    sections.append("")


def render_reference() -> str:

    sections: list[str] = [
        "# sweeplab file reference",
        "",
        "Generated from the schemas by `python -m sweeplab.reports.reference`; a test keeps it "
        "in step with the code. Worked examples: `projects/` and `search_spaces/`, and the "
        "README.",
        "",
        "## Project files",
    ]
    _table(Project, "", set(), sections)
    sections += [
        "",
        "## Model arguments",
        "",
        "Fixed in the project (`model: {name: mlp, num_layers: 3}`) or searched (a "
        "search-space parameter of the same name).",
        "",
    ]
    for name in MODELS.names():
        spec = MODELS.get(name)
        sections.append(
            f"### model `{name}` — {spec.description}\n\ntasks: {', '.join(spec.tasks)}; input: {spec.input_kind}\n"
        )
        _args_table(spec.args, sections)
    sections += [
        "## Tasks",
        "",
        "`task:` in the project file; each task's own settings go in `task_args:` and can be "
        "searched by name like model arguments (`sweeplab tasks` lists them).",
        "",
    ]
    for name in TASKS:
        task = TASKS.get(name)
        metrics = ", ".join(f"`{m}`" for m in task.metrics) or "the common ones"
        measure = f"; `dev_error`: {task.error_measure}" if task.error_measure else ""
        sections.append(f"### task `{name}` — {task.description}\n\nmetrics: {metrics}{measure}\n")
        if task.args is not None and task.args.model_fields:
            _args_table(task.args, sections)
    sections.append(_SPACE_REFERENCE)
    return "\n".join(sections).rstrip() + "\n"


_SPACE_REFERENCE = """## Search-space files

A search space is a mapping `parameters:` of names to distributions; each name is a model
argument or a `train:` setting (anything else is an error with close matches). An optional
`description:` says what the space is for.

| form | samples | rules |
|---|---|---|
| `{distribution: uniform, min: a, max: b}` | x uniform in [a, b] | a ≤ b |
| `{distribution: log_uniform, min: a, max: b}` | 10^r, r uniform in [log10 a, log10 b]: equal effort per decade | 0 < a ≤ b |
| `{distribution: one_minus_log_uniform, min: a, max: b}` | β = 1 − 10^r: equal effort on averaging over 1/(1−β) steps | 0 < a ≤ b < 1 |
| `{distribution: int_uniform, min: a, max: b}` | integers in [a, b] | a ≤ b |
| `{distribution: int_log_uniform, min: a, max: b}` | integers, log scale | 1 ≤ a ≤ b |
| `{values: [v1, v2, …]}` | one of the values (grid search enumerates them) | non-empty, no duplicates |
| `{value: v}` | always v | |

Any parameter may add `when: {other: value}` (or a list of values): it is sampled only when
the other parameter has that value, e.g. momentum's β only with `optimizer: momentum`.
Grid search (`sampler: grid`) needs `values:` or `value:` for every parameter.

```yaml
parameters:
  learning_rate: {distribution: log_uniform, min: 1.0e-4, max: 1.0e-1}
  optimizer:     {values: [momentum, adam]}
  beta:          {distribution: one_minus_log_uniform, min: 0.9, max: 0.999, when: {optimizer: momentum}}
  hidden_units:  {distribution: int_log_uniform, min: 16, max: 512}
  keep_prob:     {distribution: uniform, min: 0.5, max: 1.0}
```
"""


if __name__ == "__main__":  # pragma: no cover
    import sys

    sys.stdout.write(render_reference())
