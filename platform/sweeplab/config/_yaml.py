"""Safe YAML loading that remembers where every key came from.

We compose the YAML node graph (no Python objects are ever constructed from tags) and build
plain ``dict`` / ``list`` / scalars ourselves, so:

* only the core schema's tags are accepted: ``!!python/object/apply`` and any custom tag
  are errors, nothing is executed;
* numbers are numbers as users write them (YAML 1.2: ``1e-4`` is a float);
* duplicate keys are errors (PyYAML silently keeps the last one);
* every key path maps to its line, so later validation errors can say ``file:line: key``;
* a file is bounded before it is read (:data:`sweeplab.files.YAML`, 1 MB), and while it is
  composed: at most ``_MAX_NODES`` values (an alias counts as the values it stands for: no
  "billion laughs") and ``_MAX_DEPTH`` levels of nesting, each an error with file:line.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sweeplab.errors import UserError
from sweeplab.files import YAML as YAML_LIMIT
from sweeplab.files import read_text

__all__ = ["YamlDoc", "load_yaml", "parse_yaml"]

KeyPath = tuple[str | int, ...]

_CORE = "tag:yaml.org,2002:"
_SCALAR_TAGS = {f"{_CORE}{t}" for t in ("str", "int", "float", "bool", "null")}
_MAX_NODES = 20_000  # values in one file, aliases expanded ("billion laughs" stop here)
_MAX_DEPTH = 64  # nesting levels; deeper is an error, not a RecursionError


@dataclass
class YamlDoc:
    """A parsed YAML document: plain data plus the line (1-based) of every key path."""

    data: Any
    file: str | None
    lines: dict[KeyPath, int] = field(default_factory=dict)

    def line_of(self, path: KeyPath) -> int | None:
        """The line of ``path``, or of its closest ancestor that has one."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), None)

    def error(
        self, message: str, path: KeyPath = (), *, suggestions: list[str] | None = None
    ) -> UserError:
        key = ".".join(str(p) for p in path) if path else None
        return UserError(
            message, file=self.file, line=self.line_of(path), key=key, suggestions=suggestions or []
        )


def load_yaml(path: str | Path) -> YamlDoc:
    path = Path(path)
    return parse_yaml(read_text(path, YAML_LIMIT), file=str(path))


def parse_yaml(text: str, *, file: str = "<string>") -> YamlDoc:
    from ruamel.yaml import YAML
    from ruamel.yaml.composer import MaxDepthExceededError
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    if "\x00" in text:
        raise UserError("the file contains a NUL byte; it is not a YAML text file", file=file)
    yaml = YAML(typ="rt", pure=True)
    yaml.Composer = _bounded_composer()
    yaml.max_depth = _MAX_DEPTH
    try:
        node = yaml.compose(text)
    except _TooLarge as exc:
        raise UserError(
            f"the document is too large: over {_MAX_NODES:,} values (aliases count as the "
            "values they repeat); split it or write it out",
            file=file,
            line=exc.line,
        ) from None
    except MaxDepthExceededError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark is not None else None
        raise UserError(f"nested deeper than {_MAX_DEPTH} levels", file=file, line=line) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = (exc.problem or exc.context or "invalid YAML").strip()
        raise UserError(f"invalid YAML syntax: {problem}", file=file, line=line) from None
    except YAMLError as exc:
        raise UserError(f"invalid YAML: {exc}", file=file) from None
    doc = YamlDoc(data=None, file=file)
    if node is None:
        return doc
    counter = [0]
    doc.data = _build(node, (), doc, counter)
    return doc


class _TooLarge(Exception):
    def __init__(self, line: int) -> None:
        self.line = line


@functools.cache
def _bounded_composer() -> type:
    """ruamel's Composer, counting values as they are composed (not after: a document of
    millions of values is refused at the first one over the limit)."""
    from ruamel.yaml.composer import Composer

    class BoundedComposer(Composer):  # type: ignore[misc]
        def compose_node(self, parent: Any, index: Any) -> Any:
            sizes = self.__dict__.setdefault("sizes", {})  # id(node) -> values it holds
            total = self.__dict__.get("total", 0)
            node = super().compose_node(parent, index)
            if id(node) in sizes:  # an alias: it repeats the values of its node
                size = sizes[id(node)]
            else:
                size = 1 + sum(
                    sizes.get(id(sub), 1)
                    for item in (node.value if isinstance(node.value, list) else ())
                    for sub in (item if isinstance(item, tuple) else (item,))
                )
                sizes[id(node)] = size
                size = 1  # its values were counted as they were composed
            self.total = total = self.__dict__.get("total", 0) + size
            if total > _MAX_NODES:
                raise _TooLarge(node.start_mark.line + 1)
            return node

    return BoundedComposer


def _build(node: Any, path: KeyPath, doc: YamlDoc, counter: list[int]) -> Any:
    from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

    if len(path) > _MAX_DEPTH:  # aliases inside aliases, or an alias of its own ancestor
        raise UserError(
            f"nested deeper than {_MAX_DEPTH} levels (aliases included)",
            file=doc.file,
            line=node.start_mark.line + 1,
            key=".".join(str(p) for p in path[:4]) + "...",
        )
    counter[0] += 1
    if counter[0] > _MAX_NODES:
        raise doc.error(
            f"the document is too large (over {_MAX_NODES:,} values, or an alias bomb)", path
        )
    line = node.start_mark.line + 1
    doc.lines.setdefault(path, line)
    tag = str(getattr(node.tag, "value", node.tag) or "")
    if isinstance(node, MappingNode):
        if tag not in (f"{_CORE}map", ""):
            raise doc.error(f"YAML tag {tag!r} is not allowed; write plain values", path)
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                raise UserError(
                    "keys must be plain names", file=doc.file, line=key_node.start_mark.line + 1
                )
            key = _scalar(key_node, path, doc)
            if key == "<<":
                raise UserError(
                    "YAML merge keys (<<) are not supported; write the keys out",
                    file=doc.file,
                    line=key_node.start_mark.line + 1,
                )
            key = str(key)
            sub = (*path, key)
            if key in out:
                raise UserError(
                    f"duplicate key {key!r} (first defined on line {doc.lines.get(sub)})",
                    file=doc.file,
                    line=key_node.start_mark.line + 1,
                    key=".".join(str(p) for p in sub),
                )
            doc.lines[sub] = key_node.start_mark.line + 1
            out[key] = _build(value_node, sub, doc, counter)
        return out
    if isinstance(node, SequenceNode):
        if tag not in (f"{_CORE}seq", ""):
            raise doc.error(f"YAML tag {tag!r} is not allowed; write plain values", path)
        items = []
        for i, item in enumerate(node.value):
            doc.lines[(*path, i)] = item.start_mark.line + 1
            items.append(_build(item, (*path, i), doc, counter))
        return items
    return _scalar(node, path, doc)


def _scalar(node: Any, path: KeyPath, doc: YamlDoc) -> Any:
    tag = str(getattr(node.tag, "value", node.tag) or "")
    value: str = node.value
    if tag not in _SCALAR_TAGS:
        raise doc.error(f"YAML tag {tag!r} is not allowed; write plain values", path)
    kind = tag[len(_CORE) :]
    if kind == "str":
        return value
    if kind == "null":
        return None
    if kind == "bool":
        return value.lower() in ("true", "yes", "on")
    if kind == "int":
        text = value.replace("_", "")
        try:
            if text.lower().startswith(("0x", "-0x", "+0x")):
                return int(text, 16)
            if text.lower().startswith(("0o", "-0o", "+0o")):
                return int(text, 8)
            return int(text)
        except ValueError:
            return value
    # float
    text = value.replace("_", "").lower()
    if text in (".inf", "+.inf"):
        return math.inf
    if text == "-.inf":
        return -math.inf
    if text == ".nan":
        return math.nan
    try:
        return float(text)
    except ValueError:
        return value
