"""Numbers and times for people, the same in every command and in the report."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from .timeutil import as_utc


def pct(p: float) -> str:
    """A probability as a percentage with one decimal, halves rounded up as people do.

    Cut to a millionth of a point first, so that two computations of the same value that
    differ in the last bit (86.25 and 86.2499999…) never print as 86.3 % and 86.2 %."""
    points = Decimal(repr(round(p * 100, 6))).quantize(Decimal("0.1"), ROUND_HALF_UP)
    return f"{points}%"


def count(n: int, word: str, words: str | None = None) -> str:
    """A number and its noun, singular for one: "1 feed", "2 feeds", "1 stored entry"."""
    return f"{n} {word}" if n == 1 else f"{n} {words or word + 's'}"


def when(moment: datetime | None, default: str = "-") -> str:
    """A UTC time to the second for a terminal column, always 20 wide: 2026-11-23T07:00:00Z."""
    return as_utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ") if moment is not None else default


def oneline(text: str | None, limit: int = 400) -> str:
    """Text on one line (a mail header, a feed's title in the report): control and separator
    characters become spaces, whitespace is collapsed, and past `limit` it ends in "…"."""
    if not text:
        return ""
    cleaned = "".join(" " if unicodedata.category(c)[0] in "CZ" else c for c in text)
    cleaned = " ".join(cleaned.split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1].rstrip() + "…"


# What a terminal would act on rather than show: control characters (an escape sequence can
# set the window title or move the cursor) and the bidirectional overrides and isolates
# (U+202E turns "gpj.exe" into "exe.jpg" on screen).
_TERMINAL_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u202a-\u202e\u2066-\u2069]")


def for_terminal(text: str) -> str:
    """Text from a feed, a file or a command line as a terminal should print it: each control
    or bidi-override character becomes U+FFFD, one for one (marks keep their places)."""
    return _TERMINAL_UNSAFE.sub("\ufffd", text)


def marked(sentence: str, marks: Sequence[Sequence[int]], before: str, after: str,
           escape: Any = str) -> str:
    """The sentence with each marked span wrapped in `before`/`after`, the rest escaped."""
    out, pos = [], 0
    for a, b in sorted(tuple(m) for m in marks):
        if a < pos or b > len(sentence) or a >= b:
            continue  # overlapping or stale marks are shown unmarked rather than garbled
        out += [escape(sentence[pos:a]), before, escape(sentence[a:b]), after]
        pos = b
    out.append(escape(sentence[pos:]))
    return "".join(out)
