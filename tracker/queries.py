"""What the read commands show, from the database: the questions, one question in full, its
history as an audit trail. Typed results; each shapes its own JSON (DESIGN §4)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .config import load_settings
from .forecast import HistoryPoint, forecast_at
from .forecast import history as log_history
from .ledger import current_probabilities, get_question, question_log, rescore
from .models import NOT_APPLIED, Entry, Evidence, Feed, Forecast, Hit, Indicator, Question, Report
from .timeutil import as_utc, iso, utcnow


def question_json(q: Question) -> dict[str, Any]:
    """The summary object of a question (DESIGN §4 `show`)."""
    return {
        "id": q.id,
        "title": q.title,
        "status": q.status,
        "opens": q.opens.isoformat(),
        "closes": q.closes.isoformat(),
        "probabilities": current_probabilities(q),
        "resolved_to": q.resolved_to,
    }


@dataclass(frozen=True)
class QuestionList:
    """The questions `tracker show` lists, and how many are retired."""

    questions: list[Question]
    retired: int

    def to_json(self) -> dict[str, Any]:
        return {"questions": [question_json(q) for q in self.questions]}


def list_questions(session: Session, show_all: bool = False) -> QuestionList:
    """The questions in their file order, retired ones only with `show_all`."""
    query = select(Question).order_by(Question.position, Question.id)
    if not show_all:
        query = query.where(Question.retired.is_(False))
    rows = list(session.scalars(query).all())
    retired = 0 if rows else session.scalar(select(func.count()).select_from(Question)) or 0
    return QuestionList(rows, retired)


@dataclass(frozen=True)
class QuestionView:
    """One question in full, now or as it stood at `as_of`."""

    question: Question
    status: str
    probabilities: dict[str, float]
    resolved_to: str | None
    as_of: datetime | None
    indicators: list[Indicator]
    sighted: dict[str, datetime]
    points: list[HistoryPoint]
    # With as_of: forecasts dated by then but recorded after it (an import, the shipped
    # record, a backdated update), which the view leaves out.
    recorded_later: int = 0

    def to_json(self) -> dict[str, Any]:
        q = self.question
        data = question_json(q)
        if self.as_of is not None:
            data.update(as_of=iso(self.as_of), probabilities=self.probabilities,
                        status=self.status, resolved_to=self.resolved_to,
                        recorded_later=self.recorded_later)
        data["resolution"] = q.resolution_criteria
        data["scenarios"] = [{"id": s.id, "label": s.label,
                              "probability": self.probabilities[s.id]} for s in q.scenarios]
        data["indicators"] = [{"id": i.id, "description": i.description,
                               "last_sighted": iso(self.sighted.get(i.id))}
                              for i in self.indicators]
        return data


def question_view(session: Session, question_id: str, as_of: datetime | None = None
                  ) -> QuestionView:
    """A question with its probabilities, indicators and history, as of now or `as_of` (F at
    that time and what had been recorded by then)."""
    q = get_question(session, question_id)
    log = question_log(session, q, load_settings(session), known_at=as_of)
    points = log_history(log, as_of or utcnow())
    probs, status, resolved_to = current_probabilities(q), q.status, q.resolved_to
    if as_of is not None:
        probs = forecast_at(log, as_of)
        points = [p for p in points if p.at <= as_of]
        then = log.resolved_at is not None and log.resolved_at <= as_of
        status, resolved_to = ("resolved" if then else "open"), (log.resolved_to if then else None)
    indicators = [i for i in q.indicators if not i.retired]
    later = 0
    if as_of is not None:
        later = session.scalar(select(func.count()).select_from(Forecast).where(
            Forecast.question_id == q.id, Forecast.source.in_(("manual", "resolution")),
            Forecast.at <= as_of, Forecast.created_at > as_of)) or 0
    return QuestionView(q, status, probs, resolved_to, as_of, indicators,
                        last_sightings(session, q.id, as_of), points, later)


def last_sightings(session: Session, question_id: str,
                   as_of: datetime | None = None) -> dict[str, Any]:
    """Indicator id -> observed time of its latest applied evidence (not dismissed or
    withdrawn; with `as_of`, observed and recorded by then)."""
    query = (select(Evidence.indicator_id, func.max(Evidence.observed_at))
             .where(Evidence.question_id == question_id, Evidence.state.not_in(NOT_APPLIED))
             .group_by(Evidence.indicator_id))
    if as_of is not None:
        query = query.where(Evidence.observed_at <= as_of, Evidence.created_at <= as_of)
    rows = session.execute(query).all()
    return {iid: at for iid, at in rows}


@dataclass(frozen=True)
class Rescored:
    """What `tracker score` recomputed: each question's probabilities, and its resolution."""

    scored_at: datetime
    probabilities: dict[str, dict[str, float]]
    resolved_to: dict[str, str | None]

    def to_json(self) -> dict[str, Any]:
        return {"scored_at": iso(self.scored_at), "questions": [
            {"id": qid, "probabilities": p, "resolved_to": self.resolved_to.get(qid)}
            for qid, p in self.probabilities.items()]}


def rescore_questions(session: Session, question_id: str | None, now: datetime) -> Rescored:
    """Recompute the current probabilities of one question, or of all, from the log."""
    ids = [get_question(session, question_id).id] if question_id else None
    current = rescore(session, ids, now)
    rows = session.execute(select(Question.id, Question.resolved_to)
                           .where(Question.id.in_(list(current)))).all()
    return Rescored(now, current, {qid: resolved_to for qid, resolved_to in rows})


def report_state(session: Session, period: str) -> str | None:
    """The outbox state of a period's report (pending, sent, failed), None before it is made."""
    return session.scalar(select(Report.state).where(Report.period == period))


def stored_report(session: Session, period: str) -> Report | None:
    """The report of a period in the outbox, if one was made."""
    return session.scalars(select(Report).where(Report.period == period)).one_or_none()


@dataclass
class HistoryRow:
    """One row of `tracker history`: the forecast in force from `at` and what made it; for the
    audit trail, the id of a stored forecast and what voided it. `stored` marks a row read from
    the stored forecasts (a voided one, or a void) rather than from the log."""

    at: datetime
    source: str
    probabilities: dict[str, float]
    by: str | None
    note: str | None
    evidence: list[int]
    factor: dict[str, float] | None = None
    indicator: str | None = None
    headlines: list[dict[str, Any]] | None = None
    id: int | None = None
    voided_by: int | None = None
    voids: int | None = None
    stored: bool = False

    def to_json(self) -> dict[str, Any]:
        """The JSON object of DESIGN §4 `history`."""
        if self.stored:
            out: dict[str, Any] = {"id": self.id, "at": iso(self.at), "source": self.source,
                                   "by": self.by, "note": self.note, "evidence": self.evidence,
                                   "probabilities": self.probabilities}
            if self.voided_by is not None:
                out["voided_by"] = self.voided_by
            else:
                out["voids"] = self.voids
            return out
        out = {"at": iso(self.at), "source": self.source, "probabilities": self.probabilities,
               "by": self.by, "note": self.note, "evidence": self.evidence}
        for key in ("factor", "indicator", "headlines", "id"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


def history_rows(session: Session, q: Question) -> list[HistoryRow]:
    """Every forecast of a question in order, with the audit trail (voids, withdrawn
    sightings)."""
    log = question_log(session, q, load_settings(session))
    points = log_history(log, utcnow())
    ids = [e for p in points for e in p.evidence]
    headlines: dict[int, list[dict[str, Any]]] = {}
    if ids:
        rows = session.execute(
            select(Hit.evidence_id, Entry.title, Entry.link, Feed.id)
            .join(Entry, Hit.entry_id == Entry.id).join(Feed, Entry.feed_id == Feed.id)
            .where(Hit.evidence_id.in_(ids)).order_by(Hit.id)
        ).all()
        for eid, title, link, feed in rows:
            headlines.setdefault(eid, []).append({"title": title, "link": link, "feed": feed})
    out = []
    for p in points:
        row = HistoryRow(as_utc(p.at), p.source, p.probabilities, p.by or None, p.note or None,
                         list(p.evidence))
        if p.source in ("evidence", "silence"):
            row.factor = p.factor
        if p.source == "evidence" and p.indicator is not None:
            row.indicator = p.indicator
            row.headlines = [h for e in p.evidence for h in headlines.get(e, [])]
        out.append(row)
    return _with_withdrawn(session, q, _with_voids(session, q, log, out))


def _with_voids(session: Session, q: Question, log: Any,
                rows: list[HistoryRow]) -> list[HistoryRow]:
    """The rows with the id of each manual forecast and resolution (what `tracker void`
    takes), plus each voided one and each void, in time order: the audit trail."""
    stored = session.scalars(select(Forecast).where(Forecast.question_id == q.id)
                             .order_by(Forecast.at, Forecast.id)).all()
    voided = {f.voids: f.id for f in stored if f.voids is not None}
    live: dict[tuple[str, str | None, str, str], list[int]] = {}
    for f in stored:
        if f.source in ("manual", "resolution") and f.id not in voided:
            live.setdefault((f.source, iso(f.at), f.author, f.note), []).append(f.id)
    for r in rows:
        key = (r.source, iso(r.at), r.by or "", r.note or "")
        if live.get(key):
            r.id = live[key].pop(0)
    for f in stored:
        if f.id in voided:
            rows.append(HistoryRow(as_utc(f.at), f.source, f.probabilities, f.author,
                                   f.note or None, [], id=f.id, voided_by=voided[f.id],
                                   stored=True))
        elif f.source == "void":
            rows.append(HistoryRow(as_utc(f.at), f.source, forecast_at(log, f.at), f.author,
                                   f.note or None, [], id=f.id, voids=f.voids, stored=True))
    # at one instant the resolution last: a (voided) forecast made then came before it
    return sorted(rows, key=lambda r: (r.at, r.source == "resolution"))


def _with_withdrawn(session: Session, q: Question, rows: list[HistoryRow]) -> list[HistoryRow]:
    """History rows plus a row per withdrawn sighting, at its observed time, that moved
    nothing: the forecast in force then, and why and when it was withdrawn."""
    items = session.scalars(select(Evidence).where(
        Evidence.question_id == q.id, Evidence.state == "withdrawn")).all()
    for e in items:
        at = iso(e.observed_at) or ""
        before = [r for r in rows if (iso(r.at) or "") <= at and r.source != "withdrawn"]
        day = (iso(e.withdrawn_at) or "?")[:10]
        rows.append(HistoryRow(as_utc(e.observed_at), "withdrawn",
                               before[-1].probabilities if before else {}, None,
                               f"{e.indicator_id} withdrawn on {day}: {e.note}", [e.id],
                               indicator=e.indicator_id))
    rows.sort(key=lambda r: iso(r.at) or "")  # stable: a withdrawn row after what was in force
    return rows
