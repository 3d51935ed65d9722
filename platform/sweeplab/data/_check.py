"""The checks of a ``data:`` section that need the data package's registries.

The schema (:class:`~sweeplab.config.data.DataConfig`) checks what it can alone: the form of
``source``, the numbers, the keys. Whether the named built-in data set (``DATASETS``), the
``generated:NAME`` source (``GENERATED``) and the degradations (``DEGRADATIONS``) exist is
checked here, with the same messages and close matches the schema gave when it did it.

``check_project_data(pf)`` runs the checks on a parsed project file and points the error at
the key's line (``sweeplab.tasks.load_project`` runs it before the task's own checks).
"""

from __future__ import annotations

from sweeplab.config.data import (
    FILE_SCHEMES,
    GENERATED_SCHEME,
    IMAGE_SCHEMES,
    DataConfig,
    DeriveConfig,
)
from sweeplab.config.project import ProjectFile
from sweeplab.data._degrade import DEGRADATIONS
from sweeplab.data._sources import DATASETS
from sweeplab.data._task_data import GENERATED
from sweeplab.errors import UserError, close_matches, unknown_name_error

__all__ = ["check_data_config", "check_project_data"]


def check_data_config(data: DataConfig) -> None:
    """Raise :class:`UserError` (``key`` = the dotted key, e.g. ``data.source``) when ``data``
    names a data set, generated source or degradation that is not registered."""
    _check_source(data)
    if data.target is not None and data.target.derive is not None:
        _check_degradations(data.target.derive, "data.target.derive.degradations")
    if data.degrade is not None:
        _check_degradations(data.degrade, "data.degrade.degradations")


def check_project_data(pf: ProjectFile) -> None:
    """:func:`check_data_config` of ``pf``'s data, its error at the key's file and line."""
    try:
        check_data_config(pf.project.data)
    except UserError as exc:
        key = tuple((exc.key or "data").split("."))
        raise pf.error(exc.message, *key, suggestions=exc.suggestions) from None


def _check_source(data: DataConfig) -> None:
    scheme, name = data.scheme, data.location
    if scheme in FILE_SCHEMES or scheme in IMAGE_SCHEMES:
        return  # a path: whether it exists is for loading to say
    if scheme == GENERATED_SCHEME:
        if name not in GENERATED:
            names = [f"generated:{n}" for n in GENERATED]
            raise UserError(
                f"unknown generated data set {data.source!r}; expected one of: {', '.join(names)}.",
                key="data.source",
                suggestions=[f"generated:{n}" for n in close_matches(name, list(GENERATED))],
            )
        return
    if data.source not in DATASETS:
        message, near = _unknown_dataset(data.source, DATASETS.names())
        raise UserError(message, key="data.source", suggestions=near)


def _unknown_dataset(source: str, names: list[str]) -> tuple[str, list[str]]:
    """unknown_name_error's text plus the file forms; close matches of the name part first."""
    err = unknown_name_error("dataset", source, names)
    scheme, _, rest = source.partition(":")
    rests = {n.partition(":")[2]: n for n in names}  # "digits" -> "sklearn:digits"
    same_kind = [n for n in names if n.partition(":")[0] == scheme]
    near = [rests[m] for m in close_matches(rest, rests)] if rest else []
    near = sorted(near, key=lambda n: n not in same_kind) or err.suggestions
    head = err.message.rstrip(".")
    return f"{head}, or csv:PATH, parquet:PATH, images:DIR.", near


def _check_degradations(cfg: DeriveConfig, key: str) -> None:
    if not cfg.degradations:
        raise UserError(
            f"at least one degradation is needed, one of: {', '.join(DEGRADATIONS)}", key=key
        )
    for name in cfg.degradations:
        if name not in DEGRADATIONS:
            raise unknown_name_error("degradation", name, DEGRADATIONS.names(), key=key)
