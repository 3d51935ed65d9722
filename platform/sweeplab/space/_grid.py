"""The points of a grid search, enumerated lazily.

Eight parameters of ten values each make 10^8 grid points; a sweep of two trials must not
build them. :class:`Grid` counts the points without building them (``math.prod`` of the value
counts, or a count over the states its ``when:`` conditions can be in), computes point ``i``
directly (mixed radix: the first parameter in dependency order is the most significant
digit) and iterates in that order: every combination of the values of the *active*
parameters, where a conditional parameter multiplies only the configurations in which it is
active.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from sweeplab.errors import UserError
from sweeplab.space._parameter import Parameter, SpaceError

__all__ = ["MAX_CONDITION_STATES", "MAX_GRID_TRIALS", "Grid", "whole_grid_trials"]

MAX_CONDITION_STATES = 100_000  # states of the `when:` conditions counted per parameter
MAX_GRID_TRIALS = 100_000  # a sweep runs a whole grid (no --trials) up to this many points

_State = tuple[int, ...]  # per name that a later `when:` tests: its value's index, or -1


class Grid:
    """The grid points of parameters in dependency order (each after those its ``when``
    names); ``ordered`` puts a configuration's keys in the file's order. Point ``i`` is
    ``grid[i]``; :attr:`size` is the number of points (``len()`` too, when it fits)."""

    def __init__(
        self,
        order: Sequence[Parameter],
        ordered: Callable[[Mapping[str, Any]], dict[str, Any]],
    ) -> None:
        self._order = tuple(order)
        self._values = [tuple(p.distribution.grid_values() or ()) for p in self._order]
        self._ordered = ordered
        self._conditional = any(p.when for p in self._order)
        # names[i]: the parameters that the `when:` of order[i:] test, sorted
        self._names: list[tuple[str, ...]] = []
        tested: set[str] = set()
        for p in reversed(self._order):
            tested |= set(p.depends_on)
            self._names.append(tuple(sorted(tested)))
        self._names.reverse()
        self._names.append(())
        self._index = {p.name: i for i, p in enumerate(self._order)}
        self._completions = self._count() if self._conditional else None

    @property
    def size(self) -> int:
        """The number of grid points (an exact integer, however large)."""
        if self._completions is None:
            return math.prod(len(v) for v in self._values)
        return self._completions[0][self._start()]

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if not self._conditional:
            names = [p.name for p in self._order]
            for combo in itertools.product(*self._values):
                yield self._ordered(dict(zip(names, combo, strict=True)))
            return
        for i in range(self.size):
            yield self[i]

    def __getitem__(self, index: int) -> dict[str, Any]:
        size = self.size
        if index < 0:
            index += size
        if not 0 <= index < size:
            raise IndexError(f"grid point {index} does not exist: the grid has {size} points")
        chosen: dict[str, Any] = {}
        state = self._start()
        for i, p in enumerate(self._order):
            values = self._values[i]
            if not self._active(i, state):
                state = self._next(i, state, None)
                continue
            if self._completions is None:  # mixed radix: what the later parameters multiply
                below = math.prod(len(v) for v in self._values[i + 1 :])
                k, index = divmod(index, below)
                chosen[p.name] = values[k]
                continue
            for k in range(len(values)):
                after = self._next(i, state, k)
                count = self._completions[i + 1][after]
                if index < count:
                    chosen[p.name], state = values[k], after
                    break
                index -= count
        return self._ordered(chosen)

    # -- the states of the conditions ------------------------------------------------------
    def _start(self) -> _State:
        return (-1,) * len(self._names[0])

    def _active(self, i: int, state: _State) -> bool:
        names = self._names[i]
        config = {
            n: self._values[self._index[n]][k] for n, k in zip(names, state, strict=True) if k >= 0
        }
        return self._order[i].is_active(config)

    def _next(self, i: int, state: _State, k: int | None) -> _State:
        """The state after parameter ``i`` took its ``k``-th value (None: inactive)."""
        known = dict(zip(self._names[i], state, strict=True))
        if k is not None:
            known[self._order[i].name] = k
        return tuple(known.get(n, -1) for n in self._names[i + 1])

    def _count(self) -> list[dict[_State, int]]:
        """completions[i][state]: the grid points of order[i:] from ``state`` (every state
        reachable from the start, forward; then the counts, backward)."""
        n = len(self._order)
        reachable: list[set[_State]] = [{self._start()}]
        for i in range(n):
            nxt: set[_State] = set()
            for state in reachable[i]:
                if self._active(i, state):
                    nxt.update(self._next(i, state, k) for k in range(len(self._values[i])))
                else:
                    nxt.add(self._next(i, state, None))
            if len(nxt) > MAX_CONDITION_STATES:
                raise SpaceError(
                    "grid search cannot count the points of this space: its `when:` "
                    f"conditions combine more than {MAX_CONDITION_STATES:,} ways; use "
                    "sampler: random or tpe",
                    ("parameters", self._order[i].name),
                )
            reachable.append(nxt)
        completions: list[dict[_State, int]] = [{} for _ in range(n)] + [{(): 1}]
        for i in range(n - 1, -1, -1):
            for state in reachable[i]:
                if self._active(i, state):
                    completions[i][state] = sum(
                        completions[i + 1][self._next(i, state, k)]
                        for k in range(len(self._values[i]))
                    )
                else:
                    completions[i][state] = completions[i + 1][self._next(i, state, None)]
        return completions


def whole_grid_trials(grid: Grid) -> int:
    """The trials of a sweep that runs every point of ``grid`` (no ``--trials``): its size,
    refused over :data:`MAX_GRID_TRIALS` (counted, never built)."""
    size = grid.size
    if size > MAX_GRID_TRIALS:
        shown = f"{size:,}" if size < 10**15 else f"about 10^{len(str(size)) - 1}"
        raise UserError(
            f"the grid has {shown} points, more than the {MAX_GRID_TRIALS:,} a sweep runs "
            "one by one; pass --trials N to run the first N points, or use sampler: random",
            key="search.sampler",
        )
    return size
