"""Base class of every typed section of a project or search-space file."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["Schema"]


class Schema(BaseModel):
    """A strict, immutable section: unknown keys are errors (with close matches), not ignored.

    The project file's sections are here (``config.data.DataConfig``,
    ``config.train.TrainConfig``; the data and training packages re-export them); a model's
    args are the models package's own. ``config.load_project`` composes them and turns
    pydantic's errors into one-line :class:`sweeplab.errors.UserError` messages with file,
    line and key path.
    Validators raise ``ValueError`` with the rule and what was found:
    ``"min <= max must hold, but got min=3, max=1"``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)
