"""scenarios.yaml into the database: add what is new, update texts and rules, retire the rest."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import date, timedelta

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from .config import Settings, store_settings, stored_settings
from .errors import UsageError
from .ledger import lock_rules, rescore
from .models import NOT_APPLIED, Evidence, Feed, Forecast, Indicator, Question, Scenario
from .rematch import IndicatorChange, plan
from .scenarios import ScenarioFile
from .timeutil import day_start, format_duration

# Settings a running daemon reads only as it starts (the poll pipeline's workers and each
# host's connections are made then); a sync changes them for the daemon's next start. Every
# other setting is read where it is used, but for those it schedules by (SCHEDULED).
START_ONLY = ("concurrency",)
# Settings a running daemon schedules by: it follows a change when it syncs the file itself
# (SIGHUP), not when `tracker sync` changes the database under it.
SCHEDULED = ("tick", "report_cron", "timezone")


def start_only_message(name: str) -> str:
    """What the daemon's log and `tracker sync` say of a changed START_ONLY setting."""
    return f"{name} changed: takes effect at the next start"


@dataclass
class SyncReport:
    """What a sync changed, by kind and id."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)  # retired before, back in the file
    # What the file asks for that the tracker will not do, and why.
    notes: list[str] = field(default_factory=list)
    # Added or changed indicators whose rules match stored entries differently now.
    rematch: list[IndicatorChange] = field(default_factory=list)
    # Settings whose value this sync changed: "timezone (UTC -> Asia/Tashkent)".
    settings: list[str] = field(default_factory=list)

    def changed(self, among: tuple[str, ...]) -> list[str]:
        """The settings of `among` (START_ONLY, SCHEDULED) this sync changed, by name."""
        names = [s.split(" ", 1)[0] for s in self.settings]
        return [n for n in names if n in among]

    def summary(self) -> str:
        changed = f"; settings changed: {', '.join(self.settings)}" if self.settings else ""
        restored = f", {len(self.restored)} restored" if self.restored else ""
        return (f"{len(self.added)} added, {len(self.updated)} updated, "
                f"{len(self.retired)} retired{restored}{changed}")


def _has_history(session: Session, question: Question) -> bool:
    """True when the question has forecasts other than its prior (manual, resolution, evidence)."""
    if question.resolved_to is not None:
        return True
    if session.scalar(select(exists().where(Forecast.question_id == question.id))):
        return True
    applied = exists().where(
        Evidence.question_id == question.id,
        Evidence.state.not_in(NOT_APPLIED),
        Evidence.observed_at > day_start(question.opens),
    )
    return bool(session.scalar(select(applied)))


def _changed_settings(before: Settings | None, after: Settings) -> list[str]:
    """The settings a sync changes, each with its old and new value (matching: named only);
    nothing on the first sync."""
    if before is None:
        return []
    out = []
    for f in fields(Settings):
        old, new = getattr(before, f.name), getattr(after, f.name)
        if old == new:
            continue
        out.append(f.name if f.name == "matching" else f"{f.name} ({_shown(old)} -> {_shown(new)})")
    return out


def _shown(value: object) -> str:
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)


def _check_opens(session: Session, row: Question, opens: date, at: str) -> None:
    """Refuse moving `opens` of a question with history: the prior is dated `opens`, and it
    starts the history and two scored tracks (as a changed prior is refused)."""
    if opens != row.opens and _has_history(session, row):
        raise UsageError(f"{at}question {row.id}: opens changed ({row.opens} -> {opens}) but the "
                         "question already has forecasts beyond its prior",
                         hint="keep opens, or give the changed question a new id")


def sync(session: Session, spec: ScenarioFile) -> SyncReport:
    """Bring the database in line with a validated scenarios file, in the caller's transaction."""
    report = SyncReport()
    lock_rules(session)  # two syncs (a SIGHUP and `tracker sync`) or a rematch take turns
    before = stored_settings(session)
    cues_changed = (before or Settings()).matching != spec.settings.matching
    report.settings = _changed_settings(before, spec.settings)
    store_settings(session, spec.settings)
    questions = {q.id: q for q in session.scalars(select(Question))}
    for pos, q in enumerate(spec.questions):
        row = questions.get(q.id)
        if row is None:
            row = Question(id=q.id, title=q.title, resolution_criteria=q.resolution,
                           opens=q.opens, closes=q.closes, position=pos, retired=False)
            row.scenarios = [Scenario(id=s.id, label=s.label, prior=s.prior, position=i,
                                      event=_event(s.event)) for i, s in enumerate(q.scenarios)]
            session.add(row)
            report.added.append(f"question {q.id}")
        else:
            changed = (row.title, row.resolution_criteria, row.opens, row.closes) != (
                q.title, q.resolution, q.opens, q.closes)
            if row.retired:
                report.restored.append(f"question {q.id}")
            old_ids = [s.id for s in row.scenarios]
            new_ids = [s.id for s in q.scenarios]
            if sorted(old_ids) != sorted(new_ids):
                if _has_history(session, row):
                    raise UsageError(
                        f"{spec.at(f'questions[{pos}].scenarios')}"
                        f"question {q.id}: its scenarios changed ({', '.join(old_ids)} -> "
                        f"{', '.join(new_ids)}) but it already has forecasts beyond its prior",
                        hint="keep the scenarios, or give the changed question a new id",
                    )
                row.scenarios = []
                session.flush()
                changed = True
            _check_opens(session, row, q.opens, spec.at(f"questions[{pos}].opens"))
            by_id = {s.id: s for s in row.scenarios}
            moved = [s.id for s in q.scenarios if s.id in by_id and by_id[s.id].prior != s.prior]
            if moved and _has_history(session, row):
                # The prior is the start of history and the baseline of two scored tracks.
                first = next(i for i, s in enumerate(q.scenarios) if s.id == moved[0])
                raise UsageError(f"{spec.at(f'questions[{pos}].scenarios[{first}].prior')}"
                                 f"question {q.id}: the prior of {', '.join(moved)} changed but "
                                 "the question already has forecasts beyond its prior",
                                 hint="record the new view with `tracker update` instead")
            for i, s in enumerate(q.scenarios):
                srow = by_id.get(s.id)
                if srow is None:
                    row.scenarios.append(Scenario(id=s.id, label=s.label, prior=s.prior,
                                                  position=i, event=_event(s.event)))
                elif (srow.label, srow.prior, srow.position, srow.event) != (
                        s.label, s.prior, i, _event(s.event)):
                    srow.label, srow.prior, srow.position = s.label, s.prior, i
                    srow.event = _event(s.event)
                    changed = True
            row.title, row.resolution_criteria = q.title, q.resolution
            row.opens, row.closes, row.position, row.retired = q.opens, q.closes, pos, False
            if changed:
                report.updated.append(f"question {q.id}")
    for qid, row in questions.items():
        if qid not in {q.id for q in spec.questions} and not row.retired:
            row.retired = True
            report.retired.append(f"question {qid}")
    session.flush()
    _sync_indicators(session, spec, report)
    _sync_feeds(session, spec, report)
    session.flush()
    rescore(session)
    new_rules = [i.split(" ", 1)[1] for i in report.added + report.updated + report.restored
                 if i.startswith("indicator ")]
    if new_rules or cues_changed:
        # New cue lists touch every indicator; otherwise only the indicators that changed.
        ids = None if cues_changed else new_rules
        report.rematch = [c for c in plan(session, indicator_ids=ids) if c.added or c.lost]
    return report


def _event(event: tuple[str, ...] | None) -> list[str] | None:
    """A scenario's `event:` as stored: the revealing indicator ids, or null."""
    return None if event is None else list(event)


def _sync_indicators(session: Session, spec: ScenarioFile, report: SyncReport) -> None:
    indicators = {i.id: i for i in session.scalars(select(Indicator))}
    wanted: set[str] = set()
    for qpos, q in enumerate(spec.questions):
        for pos, ind in enumerate(q.indicators):
            wanted.add(ind.id)
            values = dict(question_id=q.id, description=ind.description, rule=ind.match,
                          likelihood=ind.likelihood,
                          cooldown_seconds=int(ind.cooldown.total_seconds()),
                          position=pos, retired=False)
            row = indicators.get(ind.id)
            if row is None:
                session.add(Indicator(id=ind.id, **values))
                report.added.append(f"indicator {ind.id}")
                continue
            if row.question_id != q.id and session.scalar(
                select(exists().where(Evidence.indicator_id == ind.id))
            ):
                raise UsageError(f"{spec.at(f'questions[{qpos}].indicators[{pos}].id')}"
                                 f"indicator {ind.id} moved from question {row.question_id} "
                                 f"to {q.id} but already has evidence",
                                 hint="give the indicator a new id")
            differ = {k for k, v in values.items() if getattr(row, k) != v}
            for k in differ:
                setattr(row, k, values[k])
            if row.retired is False and "retired" in differ:
                report.restored.append(f"indicator {ind.id}")
            if differ - {"position", "retired"}:  # its place in the file alone is no news
                report.updated.append(f"indicator {ind.id}")
    for iid, row in indicators.items():
        if iid not in wanted and not row.retired:
            row.retired = True
            report.retired.append(f"indicator {iid}")


def _sync_feeds(session: Session, spec: ScenarioFile, report: SyncReport) -> None:
    feeds = {f.id: f for f in session.scalars(select(Feed))}
    for f in spec.feeds:
        interval = int(f.interval.total_seconds()) if f.interval else None
        row = feeds.get(f.id)
        if row is None:
            session.add(Feed(id=f.id, url=f.url, interval_seconds=interval, failures=0))
            report.added.append(f"feed {f.id}")
            continue
        changed = False
        if row.url != f.url:
            # A new address starts afresh: its validators and failures belong to the old one.
            row.url, row.etag, row.last_modified, row.body_hash = f.url, None, None, None
            row.failures, row.gone, row.next_poll = 0, False, None
            changed = True
        if row.interval_seconds != interval:
            row.interval_seconds, changed = interval, True
        if row.retired and not row.gone:
            row.retired = False
            report.restored.append(f"feed {f.id}")
        elif row.gone:
            report.notes.append(f"feed {f.id} answered 410 Gone and stays retired: give it "
                                "another URL, or remove it from the file")
        if changed:
            report.updated.append(f"feed {f.id}")
    wanted = {f.id for f in spec.feeds}
    for fid, row in feeds.items():
        if fid not in wanted and not row.retired:
            row.retired = True
            report.retired.append(f"feed {fid}")
