"""Scoring a resolved question's record (DESIGN §5): the daily series, Brier and log scores of
the four tracks, skill and the calibration table. Pure functions, no database."""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from .forecast import QuestionLog, Vector, forecasts_before
from .timeutil import day_start

# Track name -> (manual forecasts counted, evidence counted).
TRACKS: dict[str, tuple[bool, bool]] = {
    "tracker": (True, True),
    "analyst": (True, False),
    "evidence": (False, True),
    "prior": (False, False),
}
BIN_LOWS = tuple(k / 10 for k in range(10))


@dataclass(frozen=True)
class TrackScore:
    """Means over the days of one track; log is -inf once a day gave the outcome 0."""

    brier: float
    log: float
    skill: float | None  # None when the prior's Brier score is 0

    def to_json(self) -> dict[str, Any]:
        """JSON has no -inf: log is then null and log_infinite true."""
        infinite = self.log == -math.inf
        return {"brier": self.brier, "log": None if infinite else self.log,
                "log_infinite": infinite, "skill": self.skill}


@dataclass(frozen=True)
class QuestionScore:
    """A resolved question's scores, with the tracker's daily forecasts for calibration."""

    resolved_to: str
    days: tuple[date, ...]
    tracks: dict[str, TrackScore]
    forecasts: tuple[Vector, ...]


@dataclass(frozen=True)
class CalibrationBin:
    """One bin [low, high) of the calibration table ([0.9, 1] for the last)."""

    low: float
    high: float
    count: int
    mean_forecast: float | None
    observed: float | None

    def to_json(self) -> dict[str, Any]:
        """An empty bin has null mean and observed frequency."""
        return {"low": self.low, "high": self.high, "count": self.count,
                "mean_forecast": self.mean_forecast, "observed": self.observed}


def score_days(opens_at: datetime, resolved_at: datetime) -> list[date]:
    """UTC days from the day of `opens` to the day before R; the day of R when they coincide."""
    first, last = opens_at.date(), resolved_at.date()
    days = [first + timedelta(days=k) for k in range((last - first).days)]
    return days or [last]


def day_cutoffs(days: Iterable[date], resolved_at: datetime) -> list[datetime]:
    """F(end of day d) counts events before midnight after d, and never those from R on."""
    return [min(day_start(d + timedelta(days=1)), resolved_at) for d in days]


def brier(p: Mapping[str, float], k: str) -> float:
    """Σ_s (p_s − [s = k])²: 0 best, 2 worst."""
    return sum((v - (1.0 if s == k else 0.0)) ** 2 for s, v in p.items())


def log_score(p: Mapping[str, float], k: str) -> float:
    """ln p_k, -inf when p_k is 0."""
    return math.log(p[k]) if p[k] > 0 else -math.inf


def _days(log: QuestionLog) -> tuple[str, list[date], list[datetime]]:
    """The outcome, the scored days and their cutoffs of a resolved question."""
    if log.resolved_to is None or log.resolved_at is None:
        raise ValueError("the question is not resolved")
    days = score_days(log.opens_at, log.resolved_at)
    return log.resolved_to, days, day_cutoffs(days, log.resolved_at)


def mean_log_score(log: QuestionLog, track: str) -> float:
    """One track's mean log score over the days of a resolved question."""
    k, _, cutoffs = _days(log)
    manual, evidence = TRACKS[track]
    vectors = forecasts_before(log, cutoffs, manual=manual, evidence=evidence)
    return math.fsum(log_score(p, k) for p in vectors) / len(vectors)


def score_question(log: QuestionLog) -> QuestionScore:
    """The four tracks' mean Brier and log scores over the days of a resolved question."""
    k, days, cutoffs = _days(log)
    series = {name: forecasts_before(log, cutoffs, manual=m, evidence=e)
              for name, (m, e) in TRACKS.items()}
    means = {}
    for name, vectors in series.items():
        means[name] = (math.fsum(brier(p, k) for p in vectors) / len(vectors),
                       math.fsum(log_score(p, k) for p in vectors) / len(vectors))
    prior_brier = means["prior"][0]
    tracks = {
        name: TrackScore(b, lg, 1 - b / prior_brier if prior_brier > 0 else None)
        for name, (b, lg) in means.items()
    }
    return QuestionScore(k, tuple(days), tracks, tuple(series["tracker"]))


def calibration(scores: Iterable[QuestionScore]) -> list[CalibrationBin]:
    """Every (question, scenario, day) of the tracker track in ten bins of forecast value."""
    totals = [0.0] * 10
    hits = [0] * 10
    counts = [0] * 10
    for score in scores:
        for p in score.forecasts:
            for s, v in p.items():
                i = max(0, bisect.bisect_right(BIN_LOWS, v) - 1)
                counts[i] += 1
                totals[i] += v
                hits[i] += s == score.resolved_to
    return [
        CalibrationBin(low, (i + 1) / 10, counts[i],
                       totals[i] / counts[i] if counts[i] else None,
                       hits[i] / counts[i] if counts[i] else None)
        for i, low in enumerate(BIN_LOWS)
    ]
