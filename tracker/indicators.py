"""The indicator report card: each indicator's sightings, review record, reliability and what
it added to the evidence track's log score on resolved questions (docs/model.md)."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .config import load_settings
from .forecast import QuestionLog
from .ledger import get_question, indicator_weight, question_log, reliabilities
from .models import Question
from .scores import mean_log_score

# The weekly report's "indicators to review": at most this many lines; an indicator is "most
# dismissed" from this share of dismissals among at least this many reviews.
REVIEW_LINES = 5
DISMISSED_SHARE = 0.5
MIN_REVIEWS = 2


@dataclass(frozen=True)
class IndicatorCard:
    """One indicator's record. contribution: the evidence track's mean log score with the
    indicator minus without it (positive: it helped); None while the question is open."""

    id: str
    question: str
    description: str
    sightings: int
    confirmed: int
    dismissed: int
    pending: int
    withdrawn: int
    reliability: float
    contribution: float | None

    def to_json(self) -> dict[str, Any]:
        """The keys of `tracker indicators --json` (README), in this order."""
        return asdict(self)

    @property
    def dismissed_share(self) -> float | None:
        reviews = self.confirmed + self.dismissed
        return self.dismissed / reviews if reviews else None


def _contribution(log: QuestionLog | None, with_all: float | None,
                  indicator: str) -> float | None:
    """with_all minus the evidence track's mean log score without the indicator's items;
    None when unresolved or when either score is infinite (a zero forecast on the outcome)."""
    if log is None or with_all is None:
        return None
    without = mean_log_score(log.without(indicator), "evidence")
    if not math.isfinite(with_all) or not math.isfinite(without):
        return None
    return with_all - without


def indicator_cards(session: Session, question_id: str | None = None) -> list[IndicatorCard]:
    """The card of every indicator of one question, or of every question not retired; a
    retired indicator is listed while it has sightings."""
    settings = load_settings(session)
    if question_id is not None:
        questions = [get_question(session, question_id)]
    else:
        questions = list(session.scalars(select(Question).where(Question.retired.is_(False))
                                         .order_by(Question.position, Question.id)))
    cards = []
    for q in questions:
        record = reliabilities(session, q.id, settings)
        log = question_log(session, q, settings) if q.resolved_to is not None else None
        with_all = mean_log_score(log, "evidence") if log is not None else None
        for i in q.indicators:
            counts = record[i.id][0] if i.id in record else Counter[str]()
            if i.retired and not counts:
                continue
            weight = indicator_weight(counts, settings)
            cards.append(IndicatorCard(
                i.id, q.id, i.description, sum(counts.values()), counts["confirmed"],
                counts["dismissed"], counts["auto"], counts["withdrawn"], weight,
                _contribution(log, with_all, i.id)))
    return cards


def to_review(cards: list[IndicatorCard]) -> list[tuple[IndicatorCard, str]]:
    """The worst contributors (below 0) then the most dismissed, each with why, at most
    REVIEW_LINES."""
    reasons: dict[str, list[str]] = {}
    worst = sorted((c for c in cards if c.contribution is not None and c.contribution < 0),
                   key=lambda c: (c.contribution, c.id))
    for c in worst:
        lowered = -(c.contribution or 0.0)
        reasons.setdefault(c.id, []).append(
            f"lowered the evidence track's mean log score by {lowered:.3f}")
    dismissed = sorted(
        (c for c in cards if c.confirmed + c.dismissed >= MIN_REVIEWS
         and (c.dismissed_share or 0.0) >= DISMISSED_SHARE),
        key=lambda c: (-(c.dismissed_share or 0.0), -c.dismissed, c.id))
    for c in dismissed:
        reasons.setdefault(c.id, []).append(
            f"{c.dismissed} of {c.confirmed + c.dismissed} reviewed sightings dismissed")
    by_id = {c.id: c for c in cards}
    return [(by_id[i], "; ".join(why)) for i, why in reasons.items()][:REVIEW_LINES]
