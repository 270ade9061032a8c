"""Times and durations: everything inside is timezone-aware UTC."""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, time, timedelta

_DURATION = re.compile(r"(\d+)\s*([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_DURATION = timedelta(days=3650)  # ten years: any later and `now + duration` may overflow


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """An aware UTC datetime; a naive one is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def day_start(day: date) -> datetime:
    """Midnight UTC at the start of a day."""
    return datetime.combine(day, time(0), tzinfo=UTC)


def parse_duration(text: str | int | float) -> timedelta:
    """Parse `30s`, `30m`, `1h`, `14d`, `1h30m`; raise ValueError otherwise. A number without a
    unit is refused: `cooldown: 14` may mean days to whoever wrote it, never 14 seconds."""
    if isinstance(text, bool):
        raise ValueError("not a duration")
    if isinstance(text, int | float):
        shown = f"{text:g}" if isinstance(text, float) else str(text)
        if not math.isfinite(text):
            raise ValueError(f"bad duration {shown} (use e.g. 30s, 15m, 1h, 14d)")
        raise ValueError(f"bad duration {shown}: give a unit ({shown}s, {shown}m, {shown}h or "
                         f"{shown}d)")
    s = str(text).strip().lower()
    pos, total = 0, 0
    for m in _DURATION.finditer(s):
        if m.start() != pos and s[pos : m.start()].strip():
            raise ValueError(f"bad duration {text!r} (use e.g. 30s, 15m, 1h, 14d)")
        total += int(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos == 0 or s[pos:].strip():
        raise ValueError(f"bad duration {text!r} (use e.g. 30s, 15m, 1h, 14d)")
    if total <= 0:
        raise ValueError(f"bad duration {text!r}: must be positive")
    return _capped(total, text)


def _capped(seconds: float, text: object) -> timedelta:
    if seconds > MAX_DURATION.total_seconds():  # .inf too
        raise ValueError(f"bad duration {text!r}: more than {MAX_DURATION.days}d")
    return timedelta(seconds=float(seconds))


def format_duration(delta: timedelta) -> str:
    """The shortest `14d`/`1h`/`30m`/`45s` form of a duration."""
    secs = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs % size == 0 and secs >= size:
            return f"{secs // size}{unit}"
    return f"{secs}s"


def parse_time(text: str, *, now: datetime | None = None) -> datetime:
    """Parse an ISO 8601 date or time (naive means UTC); refuse a time in the future."""
    raw = text.strip()
    try:
        if len(raw) == 10:
            value = day_start(date.fromisoformat(raw))
        else:
            value = as_utc(datetime.fromisoformat(raw.replace("Z", "+00:00")))
    except ValueError:
        example = "use ISO 8601, e.g. 2026-03-01 or 2026-03-01T12:00Z"
        raise ValueError(f"bad time {text!r} ({example})") from None
    if value > (now or utcnow()):
        raise ValueError(f"time {text!r} is in the future")
    return value


def iso(value: datetime | None) -> str | None:
    """ISO 8601 UTC with a Z, or None."""
    if value is None:
        return None
    return as_utc(value).isoformat().replace("+00:00", "Z")
