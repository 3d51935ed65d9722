"""The search space: sampling, Optuna define-by-run, grids, Ray Tune spaces; reading and
writing it in the file format of :mod:`sweeplab.space._files` (:func:`load_space`).

Conditional parameters (``when: {optimizer: momentum}``) are evaluated in dependency order: a
parameter is *active* when every parameter its ``when`` names is active and has one of the
listed values. Only active parameters appear in a configuration.

Ray Tune has no conditions in a static ``param_space``, so :meth:`SearchSpace.to_tune` samples
every parameter (under its internal name, see :mod:`sweeplab.space._distributions`) and the
trial calls :meth:`SearchSpace.resolve` on the config it receives: inactive parameters are
dropped and internal names mapped back. This is correct with Tune's BasicVariantGenerator and
with every searcher that converts Tune domains (OptunaSearch, HyperOpt, ...): the values of
inactive parameters are drawn but never used. With OptunaSearch, passing
``space=search_space.suggest`` (a define-by-run function) instead keeps inactive parameters
out of the sampler's model entirely; ``resolve`` accepts the config it produces too.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from sweeplab.config import YamlDoc, load_yaml, parse_yaml
from sweeplab.errors import UserError, close_matches
from sweeplab.space._distributions import (
    Categorical,
    Constant,
    IntLogUniform,
    IntUniform,
    canonical_json,
)
from sweeplab.space._files import dump_space, parse_space, space_data
from sweeplab.space._grid import Grid
from sweeplab.space._parameter import Parameter, SpaceError

if TYPE_CHECKING:  # pragma: no cover
    import optuna

    from sweeplab.config.project import ProjectFile

__all__ = ["SearchSpace", "load_space", "project_space_path"]

# `when:` may test these: a float range never takes one exact value by chance.
_TESTABLE = (Categorical, Constant, IntUniform, IntLogUniform)


class SearchSpace:
    """An ordered set of parameters, validated as a whole (``when`` names known parameters and
    values they can take; no cycles). Immutable; compares by value.

    Build one from a file with :func:`sweeplab.space.load_space`, from plain data with
    :meth:`from_dict`, or from :class:`Parameter` objects directly.
    """

    __slots__ = ("_params", "_by_name", "_order", "description", "_source")

    def __init__(
        self,
        parameters: Sequence[Parameter],
        *,
        description: str | None = None,
        _source: YamlDoc | None = None,
    ) -> None:
        params = tuple(parameters)  # may be empty: one configuration, {}
        by_name: dict[str, Parameter] = {}
        for p in params:
            if not isinstance(p, Parameter):
                raise SpaceError(f"expected Parameter objects, but got {p!r}", ("parameters",))
            if p.name in by_name:
                raise SpaceError(f"parameter {p.name!r} is defined twice", ("parameters", p.name))
            by_name[p.name] = p
        for p in params:
            _check_when(p, by_name)
        object.__setattr__(self, "_params", params)
        object.__setattr__(self, "_by_name", MappingProxyType(by_name))
        object.__setattr__(self, "_order", _dependency_order(params))
        object.__setattr__(self, "description", description)
        object.__setattr__(self, "_source", _source)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("SearchSpace is immutable; create a new one instead")

    def __reduce__(self) -> tuple:
        return (_rebuild, (list(self._params), self.description))

    # -- construction from data / files (the format is in _files.py) -----------------------
    @classmethod
    def from_doc(cls, doc: YamlDoc) -> SearchSpace:
        """The space a parsed search-space file describes; any mistake is one
        :class:`~sweeplab.errors.UserError` with ``file:line: key``."""
        parameters, description = parse_space(doc)
        try:
            return cls(parameters, description=description, _source=doc)
        except SpaceError as exc:
            raise doc.error(exc.message, exc.path, suggestions=exc.suggestions) from None

    @classmethod
    def from_dict(cls, data: Any, *, file: str = "<dict>") -> SearchSpace:
        """Parse the file format from plain data (``{"parameters": {...}}``); a bad input
        raises :class:`~sweeplab.errors.UserError` naming ``file`` and the key."""
        return cls.from_doc(YamlDoc(data=data, file=file))

    @classmethod
    def from_yaml(cls, text: str, *, file: str = "<string>") -> SearchSpace:
        """Parse the text of a search-space file."""
        return cls.from_doc(parse_yaml(text, file=file))

    def to_dict(self) -> dict[str, Any]:
        """The file format as plain data; ``SearchSpace.from_dict(s.to_dict()) == s``."""
        return space_data(self._params, self.description)

    def to_yaml(self) -> str:
        """The file format as YAML text, one line per parameter."""
        text = dump_space(self.to_dict())
        try:
            again = SearchSpace.from_yaml(text, file="<to_yaml>")
        except UserError as exc:  # pragma: no cover - a bug in the writer, not user input
            raise AssertionError(f"to_yaml wrote a file it cannot read: {exc}") from None
        if again != self:  # pragma: no cover
            raise AssertionError("to_yaml did not round-trip")
        return text

    # -- introspection ------------------------------------------------------------------
    @property
    def names(self) -> tuple[str, ...]:
        """Parameter names in the order they were declared."""
        return tuple(p.name for p in self._params)

    @property
    def parameters(self) -> tuple[Parameter, ...]:
        return self._params

    @property
    def doc(self) -> YamlDoc | None:
        """The file this space was read from (for file:line in later errors), if any."""
        return self._source

    def __getitem__(self, name: str) -> Parameter:
        try:
            return self._by_name[name]
        except KeyError:
            hint = close_matches(name, self._by_name)
            raise KeyError(
                f"unknown parameter {name!r}; expected one of: {', '.join(self.names)}"
                + (f". Did you mean {hint[0]!r}?" if hint else "")
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[Parameter]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SearchSpace):
            return NotImplemented
        return self._params == other._params and self.description == other.description

    def __hash__(self) -> int:
        return hash((self._params, self.description))

    def __repr__(self) -> str:
        return f"SearchSpace({list(self._params)!r})"

    def fingerprint(self) -> str:
        """sha256 (hex) of the canonical JSON of the parameters, in order (the description
        does not count): equal for spaces that search the same thing, for an MLflow tag."""
        data = [p.to_dict() for p in self._params]
        return hashlib.sha256(canonical_json(data).encode("utf-8")).hexdigest()

    # -- drawing configurations ------------------------------------------------------------
    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        """One configuration of the active parameters, in declaration order."""
        chosen: dict[str, Any] = {}
        for p in self._order:
            if p.is_active(chosen):
                chosen[p.name] = p.distribution.sample(rng)
        return self._ordered(chosen)

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        """Optuna define-by-run: ask ``trial`` for the active parameters only (a parameter is
        suggested after those its ``when`` names). Returns the configuration in user names."""
        chosen: dict[str, Any] = {}
        for p in self._order:
            if p.is_active(chosen):
                chosen[p.name] = p.distribution.suggest(trial, p.name)
        return self._ordered(chosen)

    def grid(self) -> Grid:
        """Every combination of the values of the *active* parameters (a conditional parameter
        multiplies only the configurations where it is active), enumerated lazily: ``.size``
        counts the points without building them, ``grid[i]`` is point ``i``."""
        for p in self._params:
            if p.distribution.grid_values() is None:
                raise self._user_error(
                    "grid search needs `values:` for every parameter, but "
                    f"`{p.name}` has distribution {p.distribution.type_name}",
                    ("parameters", p.name),
                )
        try:
            return Grid(self._order, self._ordered)
        except SpaceError as exc:
            raise self._user_error(exc.message, exc.path) from None

    def grid_size(self) -> int:
        return self.grid().size

    # -- Ray Tune ------------------------------------------------------------------------
    def to_tune(self) -> dict[str, Any]:
        """``param_space`` for ``tune.Tuner``: every parameter under its internal name (see the
        module docstring); the trial must call :meth:`resolve` on the config it gets."""
        return {
            p.distribution.internal_name(p.name): p.distribution.to_tune() for p in self._params
        }

    def resolve(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """The configuration a trial should use: internal names mapped back to user names,
        inactive parameters dropped, keys that are not parameters passed through unchanged.
        Accepts configs from :meth:`to_tune` spaces, Optuna ``trial.params`` and
        already-resolved configurations."""
        chosen: dict[str, Any] = {}
        internal = set()
        for p in self._order:
            iname = p.distribution.internal_name(p.name)
            internal.update({iname, p.name})
            if not p.is_active(chosen):
                continue
            if p.name in config:
                chosen[p.name] = config[p.name]
            elif iname in config:
                chosen[p.name] = p.distribution.from_internal(config[iname])
            elif isinstance(p.distribution, Constant):
                chosen[p.name] = p.distribution.value
            else:
                raise ValueError(
                    f"the configuration has no value for the active parameter {p.name!r} "
                    f"(looked for the key {iname!r}); got keys: {', '.join(map(str, config))}"
                )
        out = self._ordered(chosen)
        out.update({k: v for k, v in config.items() if k not in internal})
        return out

    def to_internal(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """The inverse of :meth:`resolve` for what optimizers are asked: a configuration in user
        names → Optuna's / Tune's names and values (``beta`` → ``beta__1m`` = 1 − β). Only the
        searched parameters of this space whose value it contains; constants and other keys
        are left out (an enqueued trial draws what is missing)."""
        out: dict[str, Any] = {}
        for p in self._params:
            d = p.distribution
            if p.name not in config or isinstance(d, Constant) or not d.contains(config[p.name]):
                continue
            value = config[p.name]
            iname = d.internal_name(p.name)
            out[iname] = 1.0 - float(value) if iname != p.name else value
        return out

    # -- helpers ---------------------------------------------------------------------------
    def _ordered(self, chosen: Mapping[str, Any]) -> dict[str, Any]:
        return {p.name: chosen[p.name] for p in self._params if p.name in chosen}

    def _user_error(self, message: str, path: tuple) -> UserError:
        if self._source is not None:
            return self._source.error(message, path)
        return UserError(message, key=".".join(map(str, path)))


def load_space(path: str | Path) -> SearchSpace:
    """Read a search-space file; any mistake is one :class:`UserError` with file:line: key."""
    return SearchSpace.from_doc(load_yaml(path))


def project_space_path(pf: ProjectFile, given: str | Path | None = None) -> Path | None:
    """The search-space file a sweep of project ``pf`` uses: ``given`` (``--space``), else
    the project's ``search.space`` (relative to the project file), else None: one
    configuration."""
    if given is not None:
        return Path(given)
    if not pf.project.search.space:
        return None
    path = pf.resolve(pf.project.search.space)
    if not path.is_file():
        raise pf.error(
            f"search-space file {pf.project.search.space!r} not found (looked for {path}; "
            "paths are relative to the project file)",
            "search",
            "space",
        )
    return path


def _rebuild(params: list[Parameter], description: str | None) -> SearchSpace:
    return SearchSpace(params, description=description)


def _check_when(p: Parameter, by_name: Mapping[str, Parameter]) -> None:
    for other, accepted in (p.when or {}).items():
        path = ("parameters", p.name, "when", other)
        if other == p.name:
            raise SpaceError("a parameter cannot be conditional on itself", path)
        if other not in by_name:
            choices = [n for n in by_name if n != p.name]
            raise SpaceError(
                f"`when` names the unknown parameter {other!r}; expected one of: "
                f"{', '.join(choices)}",
                path,
                suggestions=close_matches(other, choices),
            )
        dist = by_name[other].distribution
        if not isinstance(dist, _TESTABLE):
            raise SpaceError(
                f"`when` can only test a parameter with `values:`, `value:` or an integer "
                f"distribution, but `{other}` has distribution {dist.type_name}",
                path,
            )
        for v in accepted:
            if not dist.contains(v):
                if isinstance(dist, Categorical):
                    can = f"its values are: {', '.join(map(repr, dist.values))}"
                    hint = close_matches(str(v), [str(x) for x in dist.values])
                elif isinstance(dist, Constant):
                    can, hint = f"it is always {dist.value!r}", []
                else:
                    can, hint = f"it is an integer in [{dist.low}, {dist.high}]", []  # type: ignore[attr-defined]
                raise SpaceError(
                    f"`{other}` can never be {v!r}, so `{p.name}` would never be active; {can}",
                    path,
                    suggestions=hint,
                )


def _dependency_order(params: tuple[Parameter, ...]) -> tuple[Parameter, ...]:
    """Parameters ordered so that each comes after those its ``when`` names (stable: otherwise
    declaration order). A cycle is a :class:`SpaceError` that names it."""
    done: dict[str, Parameter] = {}
    remaining = list(params)
    while remaining:
        ready = [p for p in remaining if all(d in done for d in p.depends_on)]
        if not ready:
            cycle = _find_cycle({p.name: p.depends_on for p in remaining})
            raise SpaceError(
                f"the `when` conditions form a cycle: {' -> '.join(cycle)}; "
                "a parameter cannot depend on itself, directly or through others",
                ("parameters", cycle[0], "when"),
            )
        for p in ready:
            done[p.name] = p
        remaining = [p for p in remaining if p.name not in done]
    return tuple(done.values())


def _find_cycle(deps: Mapping[str, tuple[str, ...]]) -> list[str]:
    for start in deps:
        path = [start]
        node = start
        for _ in itertools.count():
            nxt = next((d for d in deps.get(node, ()) if d in deps), None)
            if nxt is None:
                break
            if nxt in path:
                return [*path[path.index(nxt) :], nxt]
            path.append(nxt)
            node = nxt
    return list(deps)  # pragma: no cover - a cycle always exists when called
