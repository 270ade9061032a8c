"""The error hierarchy: every error the user can meet, each with an exit status and a hint."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable


class TrackerError(Exception):
    """Something the user can fix or retry; printed as one line, never as a traceback."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"


class UsageError(TrackerError):
    """Bad input: an unknown id, a value out of range, a refused operation (exit 2)."""

    exit_code = 2


def problem_line(problem: str) -> int:
    """The line a `FILE:LINE: …` problem names (0 when it names none), to list problems in
    the order of the file."""
    m = re.search(r":(\d+): ", problem)
    return int(m.group(1)) if m else 0


class ValidationError(UsageError):
    """scenarios.yaml is invalid; carries every problem found."""

    def __init__(self, path: str, problems: list[str]) -> None:
        super().__init__(
            f"{path}: {len(problems)} problem(s)\n" + "\n".join(problems),
            hint=None,
        )
        self.problems = problems


class UnavailableError(TrackerError):
    """Something outside the tracker stopped it: a database or server unreachable (exit 1)."""

    exit_code = 1


class SchemaError(UnavailableError):
    """The database schema is missing or behind the code."""


def valid(what: str, given: str, choices: Iterable[str]) -> str:
    """The hint of an unknown id: the closest valid one first, then all of them."""
    names = list(choices)
    # Ids are lower case; SHOW or Uzbekistan-Rejoins is still a near miss.
    folded = {name.casefold(): name for name in names}
    close = [folded[c] for c in difflib.get_close_matches(given.casefold(), list(folded), n=1,
                                                           cutoff=0.6)]
    listed = f"valid {what}: {', '.join(names) or 'none'}"
    return f"did you mean {close[0]}? {listed}" if close else listed
