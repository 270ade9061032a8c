"""Each question's log in the database: F(t) rescored from it (tracker/forecast.py), manual
forecasts and resolutions added to it, and the scores of the resolved questions."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from .config import Settings, load_settings
from .errors import UsageError, valid
from .forecast import (
    EvidencePoint,
    ManualPoint,
    QuestionLog,
    Vector,
    check_update,
    forecast_at,
    manual_update,
    outcome,
    reliability,
)
from .models import VOIDED, Evidence, Feed, Forecast, Indicator, Question
from .scores import CalibrationBin, QuestionScore, calibration, score_question
from .text import when
from .timeutil import day_start, utcnow


def get_question(session: Session, question_id: str) -> Question:
    """The question with this id, or a UsageError listing the valid ids."""
    question = session.get(Question, question_id)
    if question is None:
        ids = session.scalars(select(Question.id).order_by(Question.position)).all()
        raise UsageError(f"unknown question {question_id!r}",
                         hint=valid("questions", question_id, ids) if ids else
                         "no questions yet: add them to scenarios.yaml and run "
                         "`tracker sync`")
    return question


# Writers on PostgreSQL take turns on the rows they depend on, always in one order: feeds,
# then indicators, then questions, each kind in id order, so that no two transactions wait on
# each other in a circle. (The poll stores a feed's entries under its feed lock, then groups
# hits under their indicators' locks; a review locks its indicator, then rescores its
# question.) On SQLite every write transaction starts with the database's write lock
# (BEGIN IMMEDIATE), so writers take turns already; FOR UPDATE is left out there.
_RULES_LOCK = 0x74726B01  # pg_advisory_xact_lock key of sync and rematch


def lock_questions(session: Session, ids: Iterable[str] | None = None) -> None:
    """Hold these questions' rows (all when None) until the transaction ends, and read them
    again. Every write to a question's log and every rescore holds its question: one that
    checks ("already resolved", "already voided") or computes F after the lock sees what any
    other committed first, and a stored forecast is never one computed without a write that
    committed meanwhile."""
    query = select(Question).order_by(Question.id).with_for_update()
    if ids is not None:
        wanted = sorted(set(ids))
        if not wanted:
            return
        query = query.where(Question.id.in_(wanted))
    session.execute(query.execution_options(populate_existing=True)).all()


def lock_rules(session: Session, *, feeds: bool = True) -> None:
    """Make `sync` and `rematch` take turns with each other (an advisory lock, PostgreSQL),
    then hold every feed (unless not `feeds`: rematch changes none), indicator and question
    row, in the writers' order: what they read and change stays as read until they commit.
    A poll's hits wait for them; a review too."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _RULES_LOCK})
    if feeds:
        session.execute(select(Feed.id).order_by(Feed.id).with_for_update()).all()
    session.execute(select(Indicator).order_by(Indicator.id).with_for_update()
                    .execution_options(populate_existing=True)).all()
    lock_questions(session)


APPLIED = ("auto", "confirmed")


def reliabilities(session: Session, question_id: str,
                  settings: Settings) -> dict[str, tuple[Counter[str], float]]:
    """Indicator id -> (its evidence items by review state, the weight of its auto items)."""
    states: dict[str, Counter[str]] = {}
    for indicator_id, state, n in session.execute(
        select(Evidence.indicator_id, Evidence.state, func.count())
        .where(Evidence.question_id == question_id)
        .group_by(Evidence.indicator_id, Evidence.state)
    ):
        states.setdefault(indicator_id, Counter())[state] = n
    return {i: (c, indicator_weight(c, settings)) for i, c in states.items()}


def indicator_weight(reviews: Counter[str], settings: Settings) -> float:
    """The weight of an indicator's unreviewed items, from its confirmed and dismissed counts
    (docs/model.md); an indicator never reviewed has the prior mean, `auto_weight`."""
    return reliability(reviews["confirmed"], reviews["dismissed"], settings.auto_weight,
                       settings.reliability_strength)


def question_log(session: Session, question: Question, settings: Settings,
                 known_at: datetime | None = None) -> QuestionLog:
    """Everything F(t) of a question depends on, read from the database; with `known_at`,
    only what had been recorded by then (review states are today's)."""
    recorded = known_at or datetime.max.replace(tzinfo=UTC)
    voided = select(Forecast.voids).where(Forecast.question_id == question.id,
                                          Forecast.voids.is_not(None),
                                          Forecast.created_at <= recorded)
    manual = [
        ManualPoint(f.at, f.probabilities, f.author, f.note)
        for f in session.scalars(
            select(Forecast)
            .where(Forecast.question_id == question.id, Forecast.source == "manual",
                   Forecast.created_at <= recorded, Forecast.id.not_in(voided))
            .order_by(Forecast.at, Forecast.id)
        )
    ]
    weights = reliabilities(session, question.id, settings)
    rows = session.execute(
        select(Evidence, Indicator.likelihood)
        .join(Indicator, Evidence.indicator_id == Indicator.id)
        .where(Evidence.question_id == question.id, Evidence.state.in_(APPLIED),
               Evidence.created_at <= recorded)
    ).all()
    evidence = [
        EvidencePoint(e.id, e.indicator_id, e.observed_at, likelihood,
                      1.0 if e.state == "confirmed" else weights[e.indicator_id][1])
        for e, likelihood in rows
    ]
    resolution = session.scalars(
        select(Forecast)
        .where(Forecast.question_id == question.id, Forecast.source == "resolution",
               Forecast.created_at <= recorded, Forecast.id.not_in(voided))
        .order_by(Forecast.id.desc())
    ).first()
    return QuestionLog(
        scenarios=tuple(s.id for s in question.scenarios),
        prior={s.id: s.prior for s in question.scenarios},
        opens_at=day_start(question.opens),
        manual=tuple(manual),
        evidence=tuple(evidence),
        floor=settings.floor,
        resolved_to=question.resolved_to if resolution or not known_at else None,
        resolved_at=question.resolved_at if resolution or not known_at else None,
        resolution_by=resolution.author if resolution else "",
        resolution_note=resolution.note if resolution else "",
        repeat_decay=settings.repeat_decay,
        closes_at=day_start(question.closes + timedelta(days=1)),
        events={s.id: tuple(s.event) for s in question.scenarios if s.event is not None},
    ).ordered()


def rescore(
    session: Session, question_ids: Iterable[str] | None = None, now: datetime | None = None
) -> dict[str, Vector]:
    """Recompute F(now) from the log and store it on each question (all when none named)."""
    now = now or utcnow()
    settings = load_settings(session)
    query = select(Question).order_by(Question.position)
    ids: list[str] | None = None
    if question_ids is not None:
        ids = list(question_ids)
        if not ids:
            return {}
        query = query.where(Question.id.in_(ids))
    lock_questions(session, ids)  # the log is read after every write that came first
    out: dict[str, Vector] = {}
    for question in session.scalars(query):
        current = forecast_at(question_log(session, question, settings), now)
        if question.current != current:
            # Written only on change, so rescoring an unchanged log changes no row.
            question.current = current
            question.scored_at = now
        out[question.id] = current
    return out


def current_probabilities(question: Question) -> Vector:
    """F(now) as last stored, or the prior before any scoring."""
    if question.current:
        return {s.id: float(question.current.get(s.id, 0.0)) for s in question.scenarios}
    return {s.id: s.prior for s in question.scenarios}


def later_manual(session: Session, question: Question, at: datetime) -> list[Forecast]:
    """The manual forecasts dated after `at` and not voided, in time order: from the first on,
    they override one made at `at`; the last is the one in force now."""
    return list(session.scalars(
        select(Forecast)
        .where(Forecast.question_id == question.id, Forecast.source == "manual",
               Forecast.at > at, Forecast.id.not_in(VOIDED))
        .order_by(Forecast.at, Forecast.id)
    ))


def check_time(question: Question, at: datetime, now: datetime) -> None:
    """Refuse a forecast or resolution time in the future or before the question opens."""
    if at > now:
        raise UsageError("--at is in the future")
    if at < day_start(question.opens):
        raise UsageError(f"--at is before the question opens ({question.opens})")


def record_manual(
    session: Session,
    question: Question,
    named: Mapping[str, float],
    *,
    note: str,
    by: str,
    at: datetime | None = None,
) -> tuple[Vector, Vector]:
    """Append a manual forecast; returns (forecast in force before, new forecast). A forecast
    equal to the one in force is not recorded: the two returned vectors are then the same."""
    now = utcnow()
    at = at or now
    lock_questions(session, [question.id])  # checked after a resolve that came first
    if question.resolved_to is not None:
        raise UsageError(f"question {question.id} is resolved ({question.resolved_to}); "
                         "it takes no more forecasts")
    if question.retired:
        raise UsageError(f"question {question.id} is retired (it left scenarios.yaml); "
                         "it takes no more forecasts")
    if not note or not note.strip():
        raise UsageError("a note is required: say why (--note TEXT)")
    scenarios = [s.id for s in question.scenarios]
    for sid in named:
        if sid not in scenarios:
            raise UsageError(f"unknown scenario {sid!r} of {question.id}",
                             hint=valid("scenarios", sid, scenarios))
    problem = check_update(scenarios, named)
    if problem:
        raise UsageError(problem)
    check_time(question, at, now)
    settings = load_settings(session)
    old = forecast_at(question_log(session, question, settings), at)
    new = manual_update(old, named)
    if all(abs(new[s] - old[s]) < 1e-12 for s in new):
        # Nothing would change: no forecast is recorded (the caller tells the user).
        return old, old
    session.add(Forecast(question_id=question.id, at=at, source="manual", probabilities=new,
                         author=by, note=note.strip(), created_at=now))
    session.flush()
    rescore(session, [question.id], now)
    return old, new


def resolve(
    session: Session, question: Question, scenario: str, *, by: str, note: str = "",
    at: datetime | None = None,
) -> Forecast:
    """Resolve `question` to `scenario` at `at` (default now): store the outcome append-only
    and rescore. Refused (UsageError) for an unknown scenario, a bad time or a second time."""
    now = utcnow()
    at = at or now
    lock_questions(session, [question.id])  # checked after a resolve or update that came first
    if question.resolved_to is not None:
        raise UsageError(f"question {question.id} is already resolved to {question.resolved_to} "
                         f"at {when(question.resolved_at)}")
    if question.retired:
        raise UsageError(f"question {question.id} is retired (it left scenarios.yaml); "
                         "it cannot be resolved")
    scenarios = [s.id for s in question.scenarios]
    if scenario not in scenarios:
        raise UsageError(f"unknown scenario {scenario!r} for {question.id}",
                         hint=valid("scenarios", scenario, scenarios))
    check_time(question, at, now)
    later = later_manual(session, question, at)
    if later:
        # history ends at the resolution: a later forecast would be hidden, not scored
        ids = ", ".join(f"#{f.id}" for f in later)
        if len(later) == 1:
            raise UsageError(f"{question.id} has a manual forecast at {when(later[0].at)}, "
                             f"after this resolution ({ids})",
                             hint="resolve at or after it, or void it first (`tracker void ID`)")
        raise UsageError(f"{question.id} has {len(later)} manual forecasts after this "
                         f"resolution, the last at {when(later[-1].at)} ({ids})",
                         hint="resolve at or after the last, or void them first "
                              "(`tracker void ID`)")
    forecast = Forecast(question_id=question.id, at=at, source="resolution",
                        probabilities=outcome(scenarios, scenario), author=by,
                        note=note.strip(), created_at=now)
    session.add(forecast)
    question.resolved_to = scenario
    question.resolved_at = at
    session.flush()
    rescore(session, [question.id], now)
    return forecast


def question_score(session: Session, question: Question) -> QuestionScore:
    """The scores of one resolved question."""
    return score_question(question_log(session, question, load_settings(session)))


def resolved_scores(
    session: Session, question_id: str | None = None
) -> tuple[list[tuple[Question, QuestionScore]], list[CalibrationBin]]:
    """Scores of every resolved question (or the one named) and their calibration table."""
    if question_id is not None:
        question = get_question(session, question_id)
        if question.resolved_to is None:
            raise UsageError(f"question {question_id} is not resolved yet",
                             hint="resolve it with `tracker resolve`")
        questions = [question]
    else:
        questions = list(session.scalars(
            select(Question).where(Question.resolved_to.is_not(None))
            .order_by(Question.position, Question.id)))
    scored = [(q, question_score(session, q)) for q in questions]
    return scored, calibration(s for _, s in scored)
