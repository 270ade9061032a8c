"""Hits into evidence items (DESIGN §5, cooldown collapse across feeds), review and listing.

Grouping rule, the same whatever order entries and feeds arrive in: an indicator's hits are
taken in observed-time order (ties by entry id); the first starts an item, and each later hit
joins the current item while it is observed less than the cooldown after the item's start,
else it starts the next item. A late hit observed before existing items regroups them from
the item it falls into onwards: items keep their ids (and reviews) where they keep hits; when
two items merge, a reviewed one survives before an auto one, then the earlier; an item left
without hits is deleted.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.orm import Session

from .config import Settings, load_settings, login_name
from .errors import UsageError
from .forecast import UNUSED, Vector, Weight, evidence_factor, weights
from .ledger import get_question, question_log, rescore
from .models import BlockedMatch, Entry, Evidence, Hit, Indicator, Question
from .timeutil import iso, utcnow

if TYPE_CHECKING:
    from .matching import Blocked

STATES = ("auto", "confirmed", "dismissed", "withdrawn")
_HITS = cast(Table, Hit.__table__)
REASON_WITHDRAWN = "rule changed"


@dataclass(frozen=True)
class NewHit:
    """A new entry that matched an indicator, with the terms it matched."""

    entry_id: int
    indicator_id: str
    observed_at: datetime
    terms: tuple[str, ...]
    sentence: str | None = None
    marks: tuple[tuple[int, int], ...] = ()


@dataclass
class _Point:
    """One hit of an indicator while regrouping: a stored hit's id, or a new hit."""

    observed_at: datetime
    entry_id: int
    hit: int | None
    new: NewHit | None
    item: Evidence | None


def record_hits(session: Session, hits: Sequence[NewHit], now: datetime,
                makers: dict[int, int] | None = None) -> tuple[int, set[str]]:
    """Store new hits and group them into evidence; (new items, touched questions). With
    `makers`, each new item is also counted there under the entry id of its earliest new hit
    (an item a regroup makes of stored hits alone, under the indicator's earliest new hit), so
    a batch of feeds can say which feed's hits started how many."""
    by_indicator: dict[str, list[NewHit]] = {}
    for h in hits:
        by_indicator.setdefault(h.indicator_id, []).append(h)
    ids = sorted(by_indicator)
    # Lock the indicators (in one order) so two pollers on PostgreSQL never group the same
    # indicator's hits at once; on SQLite the IMMEDIATE transaction serializes writers.
    indicators = session.scalars(
        select(Indicator).where(Indicator.id.in_(ids)).order_by(Indicator.id).with_for_update()
    ).all()
    items: dict[str, list[Evidence]] = {i: [] for i in ids}
    # Withdrawn items are history: new hits never join them.
    for e in session.scalars(select(Evidence).where(Evidence.indicator_id.in_(ids),
                                                    Evidence.state != "withdrawn")
                             .order_by(Evidence.observed_at, Evidence.id)):
        items[e.indicator_id].append(e)
    created = 0
    placed: list[tuple[NewHit, Evidence]] = []
    for indicator in indicators:
        new = sorted(by_indicator[indicator.id], key=lambda h: (h.observed_at, h.entry_id))
        cooldown = timedelta(seconds=indicator.cooldown_seconds)
        plan = _plan(items[indicator.id], new, cooldown)
        if plan is None:
            plan, moved = _regroup(session, indicator, items[indicator.id], new, now, makers)
            created += moved
        made: dict[datetime, Evidence] = {}
        for hit, place in plan:
            if isinstance(place, Evidence):
                item = place
            elif place in made:
                item = made[place]
            else:
                item = made[place] = Evidence(
                    question_id=indicator.question_id, indicator_id=indicator.id,
                    observed_at=place, state="auto", created_at=now)
                session.add(item)
                if makers is not None:
                    makers[hit.entry_id] = makers.get(hit.entry_id, 0) + 1
            placed.append((hit, item))
        created += len(made)
    session.flush()
    if placed:
        # Core's executemany on the table: the ORM's bulk insert costs twice as much.
        session.execute(insert(_HITS), [
            {"entry_id": hit.entry_id, "indicator_id": hit.indicator_id, "evidence_id": item.id,
             "terms": list(hit.terms), "created_at": now, "sentence": hit.sentence,
             "marks": [list(m) for m in hit.marks]} for hit, item in placed])
    return created, {i.question_id for i in indicators}


def record_blocked(session: Session, blocked: Sequence[tuple[int, Blocked]],
                   now: datetime) -> None:
    """Keep the matches cues blocked (entry id, what blocked it), for the analyst to see."""
    if blocked:
        session.execute(insert(BlockedMatch), [
            {"entry_id": entry_id, "indicator_id": b.indicator, "sentence": b.sentence,
             "cue": b.cue, "kind": b.kind, "created_at": now} for entry_id, b in blocked])


@dataclass(frozen=True)
class BlockedItem:
    """A match a cue kept from counting: where it was seen, the sentence and the cue."""

    question: str
    indicator: str
    observed_at: datetime
    sentence: str
    cue: str
    kind: str
    entry: int
    feed: str
    title: str
    link: str | None

    def to_json(self) -> dict[str, Any]:
        return {"question": self.question, "indicator": self.indicator,
                "observed_at": iso(self.observed_at), "sentence": self.sentence,
                "cue": self.cue, "kind": self.kind, "entry": self.entry, "feed": self.feed,
                "title": self.title, "link": self.link}


def list_blocked(session: Session, question_id: str | None = None) -> list[BlockedItem]:
    """Matches a cue blocked, newest entry first: what the matcher saw and chose not to count."""
    query = (select(BlockedMatch, Entry, Indicator.question_id)
             .join(Entry, BlockedMatch.entry_id == Entry.id)
             .join(Indicator, BlockedMatch.indicator_id == Indicator.id)
             .order_by(Entry.observed_at.desc(), BlockedMatch.id.desc()))
    if question_id is not None:
        query = query.where(Indicator.question_id == get_question(session, question_id).id)
    return [BlockedItem(qid, b.indicator_id, e.observed_at, b.sentence, b.cue, b.kind, e.id,
                        e.feed_id, e.title, e.link)
            for b, e, qid in session.execute(query)]


def _plan(items: Sequence[Evidence], new: list[NewHit],
          cooldown: timedelta) -> list[tuple[NewHit, Evidence | datetime]] | None:
    """The common case, where no item moves: each new hit joins the item whose window holds
    it, or starts a new item (its start time) that ends before the next item starts.
    None otherwise."""
    starts: list[tuple[datetime, Evidence | None]] = [(e.observed_at, e) for e in items]
    plan: list[tuple[NewHit, Evidence | datetime]] = []
    for hit in new:
        t = hit.observed_at
        i = bisect_right(starts, t, key=lambda s: s[0])
        if i and t - starts[i - 1][0] < cooldown:
            start, item = starts[i - 1]
            plan.append((hit, item if item is not None else start))
            continue
        if i < len(starts) and starts[i][0] - t < cooldown:
            return None  # a new start close before an item: the items after it regroup
        starts.insert(i, (t, None))
        plan.append((hit, t))
    return plan


def _regroup(session: Session, indicator: Indicator, items: list[Evidence], new: list[NewHit],
             now: datetime, makers: dict[int, int] | None = None,
             ) -> tuple[list[tuple[NewHit, Evidence | datetime]], int]:
    """Regroup an indicator's items from where its earliest new hit falls: stored hits move,
    items are re-timed, made or deleted. Returns where the new hits go and the items made."""
    cooldown = timedelta(seconds=indicator.cooldown_seconds)
    earliest = new[0].observed_at
    before = [e for e in items if e.observed_at <= earliest]
    # Items that start before `start` end before it too, so grouping from there is enough.
    start = earliest
    if before and earliest - before[-1].observed_at < cooldown:
        start = before[-1].observed_at
    affected = {e.id: e for e in items if e.observed_at >= start}
    points = [_Point(h.observed_at, h.entry_id, None, h, None) for h in new]
    if affected:
        rows = session.execute(
            select(Hit.id, Hit.entry_id, Hit.evidence_id, Entry.observed_at)
            .join(Entry, Hit.entry_id == Entry.id)
            .where(Hit.evidence_id.in_(list(affected)), Hit.withdrawn_at.is_(None))
        )
        points += [_Point(at, entry_id, hit_id, None, affected[evidence_id])
                   for hit_id, entry_id, evidence_id, at in rows]
    points.sort(key=lambda p: (p.observed_at, p.entry_id))

    groups: list[list[_Point]] = []
    for p in points:
        if groups and p.observed_at - groups[-1][0].observed_at < cooldown:
            groups[-1].append(p)
        else:
            groups.append([p])

    used: set[int] = set()
    created = 0
    plan: list[tuple[NewHit, Evidence | datetime]] = []
    moves: dict[int, list[int]] = {}
    for group in groups:
        held = {p.item.id: p.item for p in group if p.item is not None}
        candidates = sorted((e for i, e in held.items() if i not in used),
                            key=lambda e: (e.state == "auto", e.observed_at, e.id))
        if candidates:
            item = candidates[0]
            item.observed_at = group[0].observed_at
        else:
            item = Evidence(question_id=indicator.question_id, indicator_id=indicator.id,
                            observed_at=group[0].observed_at, state="auto", created_at=now)
            session.add(item)
            session.flush()
            created += 1
            if makers is not None:
                starter = next((p.new for p in group if p.new is not None), new[0])
                makers[starter.entry_id] = makers.get(starter.entry_id, 0) + 1
        used.add(item.id)
        for p in group:
            if p.new is not None:
                plan.append((p.new, item))
            elif p.hit is not None and p.item is not item:
                moves.setdefault(item.id, []).append(p.hit)
    for evidence_id, hit_ids in moves.items():
        session.execute(update(Hit).where(Hit.id.in_(hit_ids)).values(evidence_id=evidence_id))
    gone = [i for i in affected if i not in used]
    if gone:
        session.execute(delete(Evidence).where(Evidence.id.in_(gone)))
    return plan, created


def item_weights(session: Session, question_ids: Iterable[str],
                 settings: Settings) -> dict[int, Weight]:
    """Evidence id -> how it is applied (trust w and repeat δ^k, docs/model.md); items that
    are not applied (dismissed, withdrawn, before `opens`) are absent."""
    out: dict[int, Weight] = {}
    for question in session.scalars(select(Question).where(Question.id.in_(set(question_ids)))):
        out.update(weights(question_log(session, question, settings)))
    return out


@dataclass(frozen=True)
class Sighting:
    """One hit of an evidence item: the entry, the sentence and the terms that matched."""

    entry: int
    feed: str
    title: str
    link: str | None
    published: datetime | None
    observed_at: datetime
    terms: list[str]
    sentence: str | None
    marks: list[Any]
    withdrawn_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {"entry": self.entry, "feed": self.feed, "title": self.title, "link": self.link,
                "published": iso(self.published), "observed_at": iso(self.observed_at),
                "terms": self.terms, "sentence": self.sentence, "marks": self.marks,
                "withdrawn_at": iso(self.withdrawn_at)}


@dataclass(frozen=True)
class EvidenceItem:
    """An evidence item as `tracker evidence` shows it, with the factor (w·L + 1 − w)^(δ^k)
    it applies and how it counts (trust w, repeat δ^k; docs/model.md)."""

    id: int
    question: str
    indicator: str
    observed_at: datetime
    state: str
    factor: Vector
    counted: Weight
    hits: list[Sighting]
    note: str | None
    reviewed_by: str | None
    reviewed_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        """The JSON object of DESIGN §4 `evidence`."""
        return {"id": self.id, "question": self.question, "indicator": self.indicator,
                "observed_at": iso(self.observed_at), "state": self.state,
                "factor": self.factor, "weight": self.counted.trust,
                "repeat": self.counted.repeat,
                "hits": [h.to_json() for h in self.hits], "note": self.note,
                "reviewed_by": self.reviewed_by, "reviewed_at": iso(self.reviewed_at)}


def list_evidence(
    session: Session, question_id: str | None = None, state: str | None = None
) -> list[EvidenceItem]:
    """Evidence items, newest observed first."""
    if state is not None and state not in STATES:
        raise UsageError(f"unknown state {state!r}", hint=f"use one of {', '.join(STATES)}")
    query = select(Evidence).order_by(Evidence.observed_at.desc(), Evidence.id.desc())
    if question_id is not None:
        query = query.where(Evidence.question_id == get_question(session, question_id).id)
    if state is not None:
        query = query.where(Evidence.state == state)
    items = session.scalars(query).all()
    if not items:
        return []
    settings = load_settings(session)
    power = item_weights(session, {e.question_id for e in items}, settings)
    scenarios = {q.id: [s.id for s in q.scenarios] for q in session.scalars(
        select(Question).where(Question.id.in_({e.question_id for e in items})))}
    hits: dict[int, list[Sighting]] = {}
    rows = session.execute(
        select(Hit.evidence_id, Hit.terms, Hit.sentence, Hit.marks, Hit.withdrawn_at, Entry)
        .join(Entry, Hit.entry_id == Entry.id)
        .where(Hit.evidence_id.in_([e.id for e in items]))
        .order_by(Entry.observed_at, Hit.id)
    ).all()
    for evidence_id, terms, sentence, marks, withdrawn_at, entry in rows:
        hits.setdefault(evidence_id, []).append(Sighting(
            entry.id, entry.feed_id, entry.title, entry.link, entry.published,
            entry.observed_at, list(terms), sentence, marks or [], withdrawn_at))
    out = []
    for e in items:
        counted = power.get(e.id, UNUSED)
        out.append(EvidenceItem(
            e.id, e.question_id, e.indicator_id, e.observed_at, e.state,
            evidence_factor(e.indicator.likelihood, counted, scenarios[e.question_id]),
            counted, hits.get(e.id, []), e.note, e.reviewed_by, e.reviewed_at))
    return out


@dataclass(frozen=True)
class Review:
    """What a review changed: the item and the question's probabilities before and after."""

    evidence_id: int
    question_id: str
    state: str
    old: Vector
    new: Vector


def already_reviewed(session: Session, evidence_id: int, state: str) -> Evidence | None:
    """The item when it is already in `state`: reviewing it again would change nothing."""
    item = session.get(Evidence, evidence_id)
    return item if item is not None and item.state == state else None


def review(session: Session, evidence_id: int, state: str, *, note: str | None = None,
           by: str | None = None, now: datetime | None = None) -> Review:
    """Confirm or dismiss an evidence item, then rescore its question."""
    if state not in ("confirmed", "dismissed"):
        raise UsageError(f"cannot set evidence to {state!r}", hint="confirm or dismiss")
    item = session.get(Evidence, evidence_id)
    if item is not None:
        # Its indicator first (the writers' order, tracker/ledger.py): a poll regrouping its
        # items has finished, and the item is read again as that poll left it (or gone).
        session.execute(select(Indicator.id).where(Indicator.id == item.indicator_id)
                        .with_for_update()).all()
        item = session.get(Evidence, evidence_id, populate_existing=True)
    if item is None:
        raise UsageError(f"unknown evidence {evidence_id}",
                         hint="list the ids with `tracker evidence`")
    if item.state == "withdrawn":
        raise UsageError(f"evidence {evidence_id} was withdrawn ({item.note or REASON_WITHDRAWN})",
                         hint="a changed rule no longer matches it; see `tracker rematch`")
    now = now or utcnow()
    old = rescore(session, [item.question_id], now)[item.question_id]
    item.state = state
    item.note = note.strip() if note and note.strip() else item.note
    item.reviewed_by = by or login_name()
    item.reviewed_at = now
    session.flush()
    new = rescore(session, [item.question_id], now)[item.question_id]
    return Review(item.id, item.question_id, state, old, new)

