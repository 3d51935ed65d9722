"""Grid points are enumerated lazily: the same points in the same order as building the
whole product, point i computed directly, the size counted without building anything."""

from __future__ import annotations

import itertools
import random

import pytest

from sweeplab.errors import UserError
from sweeplab.space import MAX_GRID_TRIALS, SearchSpace, whole_grid_trials
from sweeplab.space._distributions import canonical_json


def eager_grid(space: SearchSpace) -> list[dict]:
    """The grid as it was built before it became lazy: every partial configuration extended
    by each parameter in dependency order, duplicates dropped (the reference order)."""
    partial: list[dict] = [{}]
    for p in space._order:
        values = p.distribution.grid_values() or []
        nxt: list[dict] = []
        for config in partial:
            if p.is_active(config):
                nxt.extend({**config, p.name: v} for v in values)
            else:
                nxt.append(config)
        partial = nxt
    seen: set[str] = set()
    out = []
    for config in partial:
        ordered = space._ordered(config)
        key = canonical_json(ordered)
        if key not in seen:
            seen.add(key)
            out.append(ordered)
    return out


def random_space(rng: random.Random) -> SearchSpace:
    """A small space with conditions on earlier parameters (chains, several tested names,
    a condition on a conditional parameter, constants)."""
    params: dict[str, dict] = {}
    for i in range(rng.randint(1, 6)):
        name = f"p{i}"
        if rng.random() < 0.15:
            spec: dict = {"value": rng.choice([1, "x", [1, 2]])}
        else:
            spec = {"values": list(range(rng.randint(1, 4)))}
        earlier = [n for n, s in params.items() if "values" in s]
        if earlier and rng.random() < 0.6:
            tested = rng.sample(earlier, k=rng.randint(1, min(2, len(earlier))))
            spec["when"] = {
                n: rng.sample(params[n]["values"], k=rng.randint(1, len(params[n]["values"])))
                for n in tested
            }
        params[name] = spec
    return SearchSpace.from_dict({"parameters": params})


NESTED = {
    "parameters": {
        "batch_size": {"values": [32, 64]},
        "damp": {"values": [0.0, 0.1], "when": {"nesterov": False}},  # listed before its test
        "optimizer": {"values": ["gd", "momentum"]},
        "nesterov": {"values": [False, True], "when": {"optimizer": "momentum"}},
        "epochs": {"value": 5},
    }
}


@pytest.mark.parametrize("seed", range(60))
def test_lazy_grid_is_the_eager_grid_in_the_same_order(seed: int) -> None:
    space = random_space(random.Random(seed))
    expected = eager_grid(space)
    grid = space.grid()
    assert list(grid) == expected
    assert grid.size == len(expected)
    assert [grid[i] for i in range(grid.size)] == expected


def test_nested_conditions_listed_out_of_order() -> None:
    space = SearchSpace.from_dict(NESTED)
    grid = space.grid()
    assert list(grid) == eager_grid(space)
    assert grid.size == 8  # per batch size: gd, momentum+nesterov, momentum+no nesterov x 2 damp
    assert grid[-1] == list(grid)[-1]
    with pytest.raises(IndexError):
        grid[8]


def test_a_huge_grid_is_counted_and_indexed_without_being_built() -> None:
    values = {"values": list(range(10))}
    space = SearchSpace.from_dict({"parameters": {f"p{i}": values for i in range(30)}})
    grid = space.grid()
    assert grid.size == 10**30
    # mixed radix: the first parameter is the most significant digit
    assert grid[123] == {
        f"p{i}": (3 if i == 29 else 2 if i == 28 else 1 if i == 27 else 0) for i in range(30)
    }
    assert grid[10**30 - 1] == {f"p{i}": 9 for i in range(30)}
    assert list(itertools.islice(grid, 2)) == [grid[0], grid[1]]


def test_a_conditional_huge_grid_is_counted_exactly() -> None:
    params = {"opt": {"values": ["a", "b"]}}
    for i in range(20):  # active only with opt=b: 10^20 points there, 1 with opt=a
        params[f"p{i}"] = {"values": list(range(10)), "when": {"opt": "b"}}
    grid = SearchSpace.from_dict({"parameters": params}).grid()
    assert grid.size == 1 + 10**20
    assert grid[0] == {"opt": "a"}
    assert grid[1] == {"opt": "b", **{f"p{i}": 0 for i in range(20)}}


def test_a_whole_grid_over_the_limit_is_refused_with_the_way_out() -> None:
    big = SearchSpace.from_dict(
        {"parameters": {f"p{i}": {"values": list(range(10))} for i in range(8)}}
    )
    with pytest.raises(UserError) as info:
        whole_grid_trials(big.grid())
    message = str(info.value)
    assert "100,000,000 points" in message and "--trials" in message and "random" in message
    small = SearchSpace.from_dict({"parameters": {"a": {"values": list(range(10))}}})
    assert whole_grid_trials(small.grid()) == 10 <= MAX_GRID_TRIALS
