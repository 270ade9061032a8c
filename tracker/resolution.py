"""Resolving questions and scoring the resolved ones, from the database."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from .config import load_settings
from .errors import UsageError, valid
from .forecasts import check_time, get_question, question_log, rescore
from .models import Forecast, Question
from .scores import CalibrationBin, QuestionScore, calibration, score_question
from .scoring import outcome
from .timeutil import iso, utcnow


def resolve(
    session: Session, question: Question, scenario: str, *, by: str, note: str = "",
    at: datetime | None = None,
) -> Forecast:
    """Resolve `question` to `scenario` at `at` (default now): store the outcome append-only
    and rescore. Refused (UsageError) for an unknown scenario, a bad time or a second time."""
    now = utcnow()
    at = at or now
    if question.resolved_to is not None:
        raise UsageError(f"question {question.id} is already resolved to {question.resolved_to} "
                         f"at {iso(question.resolved_at)}")
    scenarios = [s.id for s in question.scenarios]
    if scenario not in scenarios:
        raise UsageError(f"unknown scenario {scenario!r} for {question.id}",
                         hint=valid("scenarios", scenario, scenarios))
    check_time(question, at, now)
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
