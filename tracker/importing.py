"""A checked journal into the database, in the caller's transaction, through the same core
functions as `tracker update` and `tracker resolve`; and the shipped record, loaded the same way."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .errors import UsageError, ValidationError, problem_line, valid
from .journal import Entry, Journal, parse_yaml_journal
from .ledger import get_question, lock_questions, record_manual, resolve
from .models import VOIDED, Forecast, Question
from .text import when
from .timeutil import day_start

# Equal to the 6 decimals `history --format csv` writes, so re-importing an export adds nothing.
SAME = 1e-6
RECORD = "record.yaml"


@dataclass
class QuestionImport:
    """What an import did to one question."""

    id: str
    added: int = 0
    present: int = 0
    unchanged: int = 0  # forecasts equal to the one in force at their time: nothing recorded


@dataclass
class ImportReport:
    """Per question: entries added and entries already present; derived CSV rows ignored;
    questions of the shipped record left out because they do not fit (`missing`: those of
    them that are not in scenarios.yaml at all)."""

    questions: list[QuestionImport] = field(default_factory=list)
    ignored: int = 0
    left_out: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def added(self) -> int:
        return sum(q.added for q in self.questions)

    def to_json(self, dry_run: bool) -> dict[str, Any]:
        """The JSON of `tracker import --json` (docs/journal.md)."""
        return {
            "questions": [{"id": q.id, "added": q.added, "present": q.present,
                           "unchanged": q.unchanged} for q in self.questions],
            "ignored": self.ignored,
            "left_out": self.left_out,
            "missing": self.missing,
            "dry_run": dry_run,
        }


def apply_journal(session: Session, journal: Journal, *, by: str,
                  only_fitting: bool = False) -> ImportReport:
    """Apply every entry, each question's in time order; ValidationError lists every refusal
    with its line, and the caller's transaction must then be rolled back. With only_fitting
    (the shipped record), a question that is unknown or refuses an entry is left out instead."""
    report = ImportReport(ignored=journal.ignored)
    problems: list[tuple[int, str]] = []
    by_question: dict[str, list[Entry]] = {}
    for entry in journal.entries:
        by_question.setdefault(entry.question, []).append(entry)
    lock_questions(session, by_question)  # all at once, in the writers' order
    for qid, entries in by_question.items():
        try:
            question = get_question(session, qid)
        except UsageError as exc:
            if only_fitting:
                report.left_out.append(qid)
                report.missing.append(qid)
            else:
                problems += [(e.line, f"{e.where}: {exc}") for e in entries]
            continue
        entries.sort(key=lambda e: e.at)
        if only_fitting:
            savepoint = session.begin_nested()
            counts, refused = _apply_question(session, question, entries, by)
            if refused:
                savepoint.rollback()
                report.left_out.append(qid)
                continue
            savepoint.commit()
        else:
            counts, refused = _apply_question(session, question, entries, by)
            problems += refused
        report.questions.append(counts)
    problems += [(problem_line(text), text) for text in journal.problems]
    if problems:
        raise ValidationError(journal.source, [text for _, text in sorted(problems)])
    return report


def _apply_question(session: Session, question: Question, entries: list[Entry],
                    by: str) -> tuple[QuestionImport, list[tuple[int, str]]]:
    """Apply one question's entries in order: the counts and the refusals (by line)."""
    counts = QuestionImport(question.id)
    refused: list[tuple[int, str]] = []
    for entry in entries:
        try:
            done = _apply(session, question, entry, by)
        except UsageError as exc:
            refused.append((entry.line, f"{entry.where}: {exc}"))
            continue
        setattr(counts, done, getattr(counts, done) + 1)
    return counts, refused


def _apply(session: Session, question: Question, entry: Entry, by: str) -> str:
    """Record one entry: "added", "present" when it is stored already, "unchanged" when it
    equals the forecast in force at its time (nothing is recorded, as `tracker update` does);
    UsageError when it is refused."""
    if entry.at < day_start(question.opens):
        raise UsageError(f"{when(entry.at)} is before the question opens ({question.opens})")
    if entry.scenario is not None:
        return _resolve(session, question, entry, by)
    if _present(session, question, entry):
        return "present"
    scenarios = {s.id for s in question.scenarios}
    missing = scenarios - set(entry.probabilities)
    if missing and set(entry.probabilities) <= scenarios:
        # A partial update depends on the forecast in force at import time: not reproducible.
        raise UsageError(f"no probability for {', '.join(sorted(missing))}: a journal's "
                         "forecast names every scenario")
    old, new = record_manual(session, question, entry.probabilities, note=entry.note,
                             by=entry.by or by, at=entry.at)
    return "unchanged" if new is old else "added"


def _present(session: Session, question: Question, entry: Entry) -> bool:
    """Whether this manual forecast is stored already: same time, note and probabilities."""
    rows = session.scalars(select(Forecast).where(
        Forecast.question_id == question.id, Forecast.source == "manual",
        Forecast.at == entry.at))
    return any(
        f.note == entry.note.strip()
        and set(f.probabilities) == set(entry.probabilities)
        and all(abs(f.probabilities[s] - p) <= SAME for s, p in entry.probabilities.items())
        for f in rows
    )


def _resolve(session: Session, question: Question, entry: Entry, by: str) -> str:
    """Resolve as the entry says: "added", or "present" when the question is resolved so
    already or this resolution was voided."""
    assert entry.scenario is not None
    if entry.scenario not in {s.id for s in question.scenarios}:
        raise UsageError(f"unknown scenario {entry.scenario!r} for {question.id}",
                         hint=valid("scenarios", entry.scenario,
                                    [s.id for s in question.scenarios]))
    if question.resolved_to is not None:
        if (question.resolved_to, question.resolved_at) == (entry.scenario, entry.at):
            return "present"
        raise UsageError(f"contradicts the resolution on record: {question.id} resolved to "
                         f"{question.resolved_to} at {when(question.resolved_at)}")
    taken_back = session.scalars(select(Forecast).where(
        Forecast.question_id == question.id, Forecast.source == "resolution",
        Forecast.id.in_(VOIDED), Forecast.at == entry.at))
    if any(f.probabilities.get(entry.scenario) == 1 for f in taken_back):
        # this very resolution was taken back (`tracker void`): importing again must not
        # bring it back
        return "present"
    resolve(session, question, entry.scenario, by=entry.by or by, note=entry.note, at=entry.at)
    return "added"


def load_record(session: Session) -> ImportReport:
    """The shipped record of events, for the questions of the database that fit it."""
    text = resources.files("tracker").joinpath(RECORD).read_text(encoding="utf-8")
    return apply_journal(session, parse_yaml_journal(text, RECORD), by="tracker record",
                         only_fitting=True)
