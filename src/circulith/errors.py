"""One exception hierarchy for the domain.

Every message is meant to be read by a user and acted upon: it names the record, the field
and the reason. The CLI maps :class:`CirculithError` to exit code 2 and a one-line message;
the API maps it to a 4xx JSON body.
"""

from __future__ import annotations

from dataclasses import dataclass


class CirculithError(Exception):
    """Base class of every error circulith raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one input record.

    Parameters
    ----------
    row : int or None
        1-based row (line or record) number in the input, or None when not from a file.
    field : str
        Name of the offending field ("" for the whole record).
    reason : str
        What is wrong, in words a user can act on.
    record_id : str or None
        Identifier of the record when known (battery ID, event ID).
    """

    row: int | None
    field: str
    reason: str
    record_id: str | None = None

    def __str__(self) -> str:
        where = f"row {self.row}" if self.row is not None else "input"
        if self.record_id:
            where += f" ({self.record_id})"
        field = f", field '{self.field}'" if self.field else ""
        return f"{where}{field}: {self.reason}"


class InvalidInput(CirculithError):
    """Input that fails validation; carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem] | Problem | str, *, source: str | None = None):
        if isinstance(problems, str):
            problems = [Problem(None, "", problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = list(problems)
        self.source = source
        head = f"{source}: " if source else ""
        first = str(self.problems[0]) if self.problems else "invalid input"
        more = f" (and {len(self.problems) - 1} more problems)" if len(self.problems) > 1 else ""
        super().__init__(f"{head}{first}{more}")


class NotFound(CirculithError):
    """A referenced battery, passport, event, organisation or lot does not exist."""


class Conflict(CirculithError):
    """The request contradicts what is already recorded (e.g. a duplicate ID with other content)."""


class TransitionRefused(CirculithError):
    """A lifecycle event that the battery's current status does not allow."""


class IntegrityViolation(CirculithError):
    """Stored data fails its integrity check (hash chain broken, event altered)."""
