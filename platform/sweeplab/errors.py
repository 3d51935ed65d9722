"""The errors users see.

Every error a user can cause by what they wrote is a :class:`UserError`: the CLI prints its
one-line message and exits with code 2, never a traceback (``--debug`` shows it). The message
follows one formula: where (file:line), which key, the rule, what was found, and close
matches where a name was misspelled::

    projects/digits.yaml:7: model: unknown model 'mpl'; expected one of: logreg, mlp, softmax. Did you mean 'mlp'?
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["SweeplabError", "UserError", "close_matches", "unknown_name_error"]


class SweeplabError(Exception):
    """Base of sweeplab's own errors; the CLI exits with :attr:`exit_code`."""

    exit_code = 1


class UserError(SweeplabError):
    """Bad input from the user: a file, a key, a flag or a data set. Exit code 2.

    Parameters are all keyword-only and optional except the message, so any layer can raise
    one with what it knows; the config loader adds the file and line when it knows them.
    """

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        key: str | None = None,
        suggestions: Iterable[str] = (),
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.key = key
        self.suggestions = list(suggestions)
        super().__init__(self.format())

    def located(
        self, *, file: str | None = None, line: int | None = None, key: str | None = None
    ) -> UserError:
        """Return a copy with the location filled in where it was still unknown."""
        return type(self)(
            self.message,
            file=self.file or file,
            line=self.line or line,
            key=self.key or key,
            suggestions=self.suggestions,
        )

    def format(self) -> str:
        where = ""
        if self.file:
            where = f"{self.file}:{self.line}: " if self.line else f"{self.file}: "
        key = f"{self.key}: " if self.key else ""
        hint = ""
        if self.suggestions:
            quoted = ", ".join(f"'{s}'" for s in self.suggestions)
            sep = "" if self.message.rstrip().endswith((".", "?", ")")) else "."
            hint = f"{sep} Did you mean {quoted}?"
        return f"{where}{key}{self.message}{hint}"

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.format()


def close_matches(word: str, choices: Iterable[str], *, n: int = 3) -> list[str]:
    """Names among ``choices`` that look like ``word`` (for "did you mean" hints)."""
    choices = list(choices)
    found = difflib.get_close_matches(word, choices, n=n, cutoff=0.6)
    if not found:
        lowered = {c.lower(): c for c in choices}
        found = [
            lowered[m] for m in difflib.get_close_matches(word.lower(), lowered, n=n, cutoff=0.6)
        ]
    return found


def unknown_name_error(
    kind: str, name: object, choices: Iterable[str], **where: object
) -> UserError:
    """``unknown model 'mpl'; expected one of: a, b, c. Did you mean 'mlp'?``"""
    choices = sorted(choices)
    return UserError(
        f"unknown {kind} {name!r}; expected one of: {', '.join(choices)}.",
        suggestions=close_matches(str(name), choices),
        **where,  # type: ignore[arg-type]
    )
