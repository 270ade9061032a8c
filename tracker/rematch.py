"""Re-matching stored entries after a rule changed (docs/matching.md): which sightings a rule
now adds and which it withdraws, counted for `tracker sync` and applied by `tracker rematch`.

Nothing is deleted. A hit the rule no longer matches is marked withdrawn; an auto item left
without hits becomes "withdrawn" with the reason "rule changed"; a reviewed item keeps its
review and its hits (the analyst's judgement stands); new hits are grouped as a poll would.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from .config import load_settings
from .evidence import REASON_WITHDRAWN, NewHit, record_blocked, record_hits
from .ledger import get_question, lock_rules, rescore
from .matching import Blocked, Cues, Match, Matcher, Rule
from .models import BlockedMatch, Entry, Evidence, Hit, Indicator, Question

_CHUNK = 2000


@dataclass
class IndicatorChange:
    """What re-matching one indicator over the stored entries adds and takes away."""

    indicator: str
    question: str
    added: list[tuple[int, datetime, Match]] = field(default_factory=list)
    lost: list[int] = field(default_factory=list)  # ids of auto items' hits no longer matched
    kept: int = 0  # reviewed items' hits the rule no longer matches, kept with their review
    blocked: list[tuple[int, Blocked]] = field(default_factory=list)


@dataclass
class RematchReport:
    """The changes, and after `rematch`: evidence made, items withdrawn, questions rescored."""

    changes: list[IndicatorChange]
    new_evidence: int = 0
    withdrawn: list[int] = field(default_factory=list)
    rescored: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The JSON of `tracker rematch --json`."""
        return {
            "indicators": [{"id": c.indicator, "question": c.question,
                            "added_hits": len(c.added), "withdrawn_hits": len(c.lost),
                            "kept_reviewed_hits": c.kept, "blocked": len(c.blocked)}
                           for c in self.changes],
            "new_evidence": self.new_evidence, "withdrawn_evidence": self.withdrawn,
            "questions_rescored": self.rescored}


def _indicators(session: Session, question_id: str | None,
                ids: Iterable[str] | None) -> list[Indicator]:
    query = (select(Indicator).join(Question, Indicator.question_id == Question.id)
             .where(Indicator.retired.is_(False), Question.retired.is_(False),
                    Question.resolved_to.is_(None))
             .order_by(Question.position, Indicator.position))
    if question_id is not None:
        query = query.where(Question.id == get_question(session, question_id).id)
    if ids is not None:
        query = query.where(Indicator.id.in_(list(ids)))
    return list(session.scalars(query))


def plan(session: Session, question_id: str | None = None,
         indicator_ids: Iterable[str] | None = None) -> list[IndicatorChange]:
    """Match every stored entry against the indicators' current rules; change nothing."""
    indicators = _indicators(session, question_id, indicator_ids)
    if not indicators:
        return []
    changes = {i.id: IndicatorChange(i.id, i.question_id) for i in indicators}
    rules = {i.id: Rule.from_mapping(i.rule) for i in indicators}
    matcher = Matcher(rules, Cues.from_settings(load_settings(session).matching))
    matched: dict[str, set[int]] = {i: set() for i in changes}
    last = 0
    while True:
        rows = session.execute(
            select(Entry.id, Entry.title, Entry.summary, Entry.observed_at)
            .where(Entry.id > last).order_by(Entry.id).limit(_CHUNK)).all()
        if not rows:
            break
        last = rows[-1][0]
        for entry_id, title, summary, observed_at in rows:
            found = matcher.find(title, summary)
            for m in found.matches:
                matched[m.indicator].add(entry_id)
                changes[m.indicator].added.append((entry_id, observed_at, m))
            for b in found.blocked:
                changes[b.indicator].blocked.append((entry_id, b))
    active = session.execute(
        select(Hit.id, Hit.entry_id, Hit.indicator_id, Evidence.state)
        .join(Evidence, Hit.evidence_id == Evidence.id)
        .where(Hit.indicator_id.in_(list(changes)), Hit.withdrawn_at.is_(None))).all()
    has_hit: dict[str, set[int]] = {i: set() for i in changes}
    for hit_id, entry_id, indicator_id, state in active:
        has_hit[indicator_id].add(entry_id)
        if entry_id not in matched[indicator_id]:
            if state == "auto":
                changes[indicator_id].lost.append(hit_id)
            else:
                changes[indicator_id].kept += 1
    for change in changes.values():
        change.added = [a for a in change.added if a[0] not in has_hit[change.indicator]]
    return list(changes.values())


def rematch(session: Session, question_id: str | None = None, *,
            now: datetime) -> RematchReport:
    """Apply `plan`: withdraw lost hits (and auto items left without any), add new hits,
    refresh the blocked matches, and rescore the questions touched, once. It holds the rules
    (`lock_rules`) while it scans: a poll's hits wait for it, a second rematch or a sync too.
    (Else a poll committing hits of entries the scan had passed made them look lost.)"""
    lock_rules(session, feeds=False)
    changes = plan(session, question_id)
    report = RematchReport(changes)
    touched: set[str] = set()
    lost = [h for c in changes for h in c.lost]
    if lost:
        session.execute(update(Hit).where(Hit.id.in_(lost)).values(withdrawn_at=now))
        items = session.scalars(select(Evidence).where(
            Evidence.id.in_(select(Hit.evidence_id).where(Hit.id.in_(lost))))).all()
        for item in items:
            left = session.scalars(
                select(Entry.observed_at).join(Hit, Hit.entry_id == Entry.id)
                .where(Hit.evidence_id == item.id, Hit.withdrawn_at.is_(None))
                .order_by(Entry.observed_at)).first()
            if left is None:
                item.state, item.withdrawn_at, item.note = "withdrawn", now, REASON_WITHDRAWN
                report.withdrawn.append(item.id)
            else:
                item.observed_at = left  # an item's time is its first hit's
            touched.add(item.question_id)
    new: list[NewHit] = []
    for c in changes:
        if not c.added:
            continue
        # A hit withdrawn earlier and matched again starts afresh: its row gives way.
        session.execute(delete(Hit).where(
            Hit.indicator_id == c.indicator, Hit.withdrawn_at.is_not(None),
            Hit.entry_id.in_([entry_id for entry_id, _, _ in c.added])))
        new += [NewHit(entry_id, c.indicator, at, m.terms, m.sentence, m.marks)
                for entry_id, at, m in c.added]
    if new:
        report.new_evidence, questions = record_hits(session, new, now)
        touched |= questions
    ids = [c.indicator for c in changes]
    if ids:
        session.execute(delete(BlockedMatch).where(BlockedMatch.indicator_id.in_(ids)))
        record_blocked(session, [b for c in changes for b in c.blocked], now)
    session.flush()
    if touched:
        rescore(session, sorted(touched), now)
    report.rescored = sorted(touched)
    return report
