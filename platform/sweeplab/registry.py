"""A small generic registry: a decorator to add, ``get`` with close-match errors, ``names``.

Used for models, data sources and anything else users name in a project file.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from sweeplab.errors import unknown_name_error

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """Named entries of one kind (``kind`` is used in messages: "unknown model 'x'")."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T) -> T:
        if name in self._entries:
            warnings.warn(
                f"{self.kind} {name!r} is registered again; the new entry replaces the old",
                stacklevel=3,
            )
        self._entries[name] = entry
        return entry

    def remove(self, name: str) -> T:
        """Take ``name`` out (a plugin unloading, a test cleaning up); returns its entry."""
        try:
            return self._entries.pop(name)
        except KeyError:
            raise unknown_name_error(self.kind, name, self._entries) from None

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form: ``@MODELS.register("mlp")``."""

        def deco(entry: T) -> T:
            return self.add(name, entry)

        return deco

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise unknown_name_error(self.kind, name, self._entries) from None

    def names(self, predicate: Callable[[T], bool] | None = None) -> list[str]:
        return sorted(n for n, e in self._entries.items() if predicate is None or predicate(e))

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def __len__(self) -> int:
        return len(self._entries)
