"""Correcting mistakes without losing the audit trail: a void withdraws a manual forecast or a
resolution by adding a row that names it; nothing is deleted or rewritten."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from .errors import UsageError
from .ledger import lock_questions, rescore
from .models import VOIDED, Forecast, Question
from .text import when
from .timeutil import utcnow

VOIDABLE = ("manual", "resolution")


def void(session: Session, forecast_id: int, *, note: str, by: str,
         now: datetime | None = None) -> tuple[Forecast, Forecast]:
    """Withdraw a manual forecast or a resolution; (the voided row, the void row). A voided
    resolution leaves its question open again. The question is rescored."""
    now = now or utcnow()
    if not note or not note.strip():
        raise UsageError("a note is required: say why (--note TEXT)")
    target = session.get(Forecast, forecast_id)
    if target is None or target.source not in VOIDABLE:
        raise UsageError(f"no manual forecast or resolution #{forecast_id}",
                         hint="`tracker history QUESTION` lists them with their ids")
    lock_questions(session, [target.question_id])  # checked after a void that came first
    done = session.scalars(select(Forecast).where(Forecast.voids == target.id)).first()
    if done is not None:
        raise UsageError(f"forecast #{target.id} was already voided by {done.author} at "
                         f"{when(done.created_at)}: {done.note}")
    question = session.get_one(Question, target.question_id)
    row = Forecast(question_id=target.question_id, at=now, source="void",
                   probabilities=target.probabilities, author=by, note=note.strip(),
                   created_at=now, voids=target.id)
    session.add(row)
    if target.source == "resolution":
        question.resolved_to, question.resolved_at = None, None
    session.flush()
    rescore(session, [question.id], now)
    return target, row


def current_resolution(session: Session, question: Question) -> Forecast:
    """The resolution in force of a question, or UsageError when it is open."""
    row = session.scalars(
        select(Forecast).where(Forecast.question_id == question.id,
                               Forecast.source == "resolution", Forecast.id.not_in(VOIDED))
        .order_by(Forecast.id.desc())
    ).first()
    if row is None or question.resolved_to is None:
        raise UsageError(f"question {question.id} is not resolved")
    return row
