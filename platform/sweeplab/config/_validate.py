"""Turn a parsed YAML document into a typed object, or one clear :class:`UserError`.

pydantic's errors carry a location (``("data", "splits", "train")``); we map it to the line
in the file, say what was expected and what was found, and for unknown keys list the close
matches among the keys that are allowed at that place.
"""

from __future__ import annotations

import types
import typing
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from sweeplab.config._yaml import YamlDoc
from sweeplab.errors import UserError, close_matches

__all__ = ["validate_doc", "allowed_keys", "format_validation_error"]

M = TypeVar("M", bound=BaseModel)


def validate_doc(
    doc: YamlDoc, model: type[M], *, data: Any = None, root: tuple = (), context: dict | None = None
) -> M:
    """Validate ``data`` (default: the whole document) against ``model``."""
    value = doc.data if data is None else data
    if value is None:
        raise doc.error(
            f"the file is empty; expected a mapping with keys: {', '.join(allowed_keys(model))}",
            root,
        )
    if not isinstance(value, dict):
        # Never the value itself: a wrong file (`space: /etc/passwd`) would be echoed whole.
        if root:
            found = _describe(value)
        elif isinstance(value, list):
            found = f"a list of {len(value)} items"
        else:
            found = f"one {type(value).__name__} value of {len(str(value)):,} characters"
        raise doc.error(f"expected a mapping of keys (key: value), but found {found}", root)
    try:
        return model.model_validate(value, context=context)
    except ValidationError as exc:
        raise format_validation_error(exc, model, doc, root=root) from None


def format_validation_error(
    exc: ValidationError, model: type[BaseModel], doc: YamlDoc | None = None, *, root: tuple = ()
) -> UserError:
    """pydantic's errors as one :class:`UserError`: the most useful error first, with the key
    path under ``root`` and, when ``doc`` is given, the file and line. Without a document
    (settings sampled by a sweep, not read from a file) the message names the key alone."""
    doc = doc if doc is not None else YamlDoc(data=None, file=None)
    errors = exc.errors(include_url=False)
    # The most useful error first: unknown keys, then missing ones, then the rest.
    order = {"extra_forbidden": 0, "missing": 1}
    err = sorted(errors, key=lambda e: order.get(e["type"], 2))[0]
    loc = tuple(
        p
        for p in err["loc"]
        if not (isinstance(p, str) and ("[" in p or p.startswith("function-")))
    )
    path = (*root, *loc)
    kind = err["type"]
    if kind == "extra_forbidden":
        allowed = allowed_keys(model, loc[:-1])
        name = str(loc[-1])
        msg = f"unknown key {name!r}"
        if allowed:
            msg += f"; expected one of: {', '.join(allowed)}"
        uerr = doc.error(msg, path, suggestions=close_matches(name, allowed))
    elif kind == "missing":
        uerr = doc.error("this required key is missing", path)
        if path[:-1] or root:
            uerr = UserError(
                f"required key {str(loc[-1])!r} is missing",
                file=doc.file,
                line=doc.line_of(path[:-1]),
                key=".".join(str(p) for p in path[:-1]) or None,
            )
    else:
        msg = _clean(err["msg"])
        found = err.get("input")
        if kind.startswith(("literal_error", "enum")):
            msg = f"{msg}, but found {_shown(found)}"
            expected = [str(x).strip("'\"") for x in _literal_choices(err)]
            uerr = doc.error(
                msg, path, suggestions=close_matches(str(found), expected) if expected else []
            )
        else:
            if (
                found is not None
                and not isinstance(found, dict | list)
                and "found" not in msg
                and "got" not in msg
            ):
                msg = f"{msg}, but found {_shown(found)}"
            elif (
                isinstance(found, dict | list)
                and kind != "value_error"  # our validators' messages already say what was found
                and "found" not in msg
                and "got" not in msg
            ):
                msg = f"{msg}, but found {_describe(found)}"
            uerr = doc.error(msg, path)
    extra = len(errors) - 1
    if extra > 0:
        where = "in this file" if doc.file else "here"
        uerr.message += f" (and {extra} more problem{'s' if extra > 1 else ''} {where})"
    return UserError(
        uerr.message, file=uerr.file, line=uerr.line, key=uerr.key, suggestions=uerr.suggestions
    )


def _clean(msg: str) -> str:
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
    return msg[:1].lower() + msg[1:] if msg[:2] != msg[:2].upper() else msg


def _literal_choices(err: dict) -> list[str]:
    expected = (err.get("ctx") or {}).get("expected", "")
    return [p.strip().strip("'\"") for p in expected.replace(" or ", ",").split(",") if p.strip()]


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return f"a mapping with keys {', '.join(map(str, value))}" if value else "an empty mapping"
    if isinstance(value, list):
        return f"a list of {len(value)} items"
    return f"{type(value).__name__} {_shown(value)}"


def _shown(value: Any, most: int = 80) -> str:
    """``repr(value)``, cut short: a long text is not echoed whole."""
    text = repr(value)
    if len(text) <= most:
        return text
    size = (
        f"{len(value):,} characters"
        if isinstance(value, str)
        else f"{len(text):,} characters written"
    )
    return f"{text[: most - 20]}... ({size})"


def allowed_keys(model: Any, loc: tuple = ()) -> list[str]:
    """Keys a mapping at ``loc`` inside ``model`` may have (for close-match hints)."""
    targets = _models_at(model, loc)
    keys: set[str] = set()
    for t in targets:
        for name, f in t.model_fields.items():
            keys.add(f.alias or name)
    return sorted(keys)


def _models_at(tp: Any, loc: tuple) -> list[type[BaseModel]]:
    candidates = _unwrap(tp)
    for part in loc:
        nxt: list[Any] = []
        for c in candidates:
            if isinstance(c, type) and issubclass(c, BaseModel):
                if isinstance(part, str):
                    for name, f in c.model_fields.items():
                        if part in (name, f.alias):
                            nxt.extend(_unwrap(f.annotation))
            else:
                origin = typing.get_origin(c)
                args = typing.get_args(c)
                if origin in (list, tuple, set) and args and isinstance(part, int):
                    nxt.extend(_unwrap(args[0]))
                elif origin is dict and len(args) == 2:
                    nxt.extend(_unwrap(args[1]))
        candidates = nxt
    return [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]


def _unwrap(tp: Any) -> list[Any]:
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        out: list[Any] = []
        for a in typing.get_args(tp):
            out.extend(_unwrap(a))
        return out
    return [tp]
