"""Base class of every typed section of a project or search-space file."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationInfo, field_validator

from sweeplab.config._numbers import number_problem

__all__ = ["MAX_DESCRIPTION", "Description", "Schema"]

MAX_DESCRIPTION = 10_000  # characters; it is shown on the sweep's parent run


def _check_description(text: str) -> str:
    if len(text) > MAX_DESCRIPTION:
        raise ValueError(
            f"a description may have at most {MAX_DESCRIPTION:,} characters, but found "
            f"{len(text):,}; keep a summary here and put the rest in a file beside the project"
        )
    return text


Description = Annotated[str, AfterValidator(_check_description)]
"""A free-text ``description:`` (project, search space), at most :data:`MAX_DESCRIPTION`
characters."""


class Schema(BaseModel):
    """A strict, immutable section: unknown keys are errors (with close matches), not ignored.

    The project file's sections are here (``config.data.DataConfig``,
    ``config.train.TrainConfig``; the data and training packages re-export them); a model's
    args are the models package's own. ``config.load_project`` composes them and turns
    pydantic's errors into one-line :class:`sweeplab.errors.UserError` messages with file,
    line and key path.
    Numbers are strict (``config._numbers.number_problem``): ``true`` is no integer, ``2.0``
    no batch size, ``.inf`` no learning rate.
    Validators raise ``ValueError`` with the rule and what was found:
    ``"min <= max must hold, but got min=3, max=1"``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    @field_validator("*", mode="before")
    @classmethod
    def _strict_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        """Numbers are numbers: no boolean, non-finite float, float for an integer, or
        integer beyond int64 (``config._numbers``)."""
        if info.field_name is not None:
            problem = number_problem(cls.model_fields[info.field_name].annotation, value)
            if problem:
                raise ValueError(problem)
        return value
