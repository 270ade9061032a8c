"""What the tracker has been doing: feeds' health (one `feed_state` for `status`, the report
and the daemon's log), the last and next run of each job, the outbox, the settings in force."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .config import effective, is_dead_here, load_settings
from .jobs import DAEMON_SEEN, JOBS, STOP, last_runs, next_runs
from .models import Entry, Feed, JobRun, Report
from .retention import database_size
from .text import when
from .timeutil import as_utc, iso, utcnow


@dataclass(frozen=True)
class FeedState:
    """ok, failing, held (by its host's Retry-After, until `held_until`) or retired."""

    state: str
    held_until: datetime | None = None

    def __str__(self) -> str:
        return f"held until {when(self.held_until)}" if self.held_until else self.state


def feed_state(*, retired: bool, failures: int, last_failed: bool,
               held_until: datetime | None, now: datetime) -> FeedState:
    """The one rule: retired (or gone) first; a feed whose host asked the tracker to wait
    (Retry-After, on this feed or another of its host), while that wait lasts, is held; any
    other failure is failing (also when the offline rule kept its failure count from
    growing)."""
    if retired:
        return FeedState("retired")
    if held_until is not None and as_utc(held_until) > now:
        return FeedState("held", as_utc(held_until))
    return FeedState("failing" if failures or last_failed else "ok")


def state_of(feed: Feed, now: datetime) -> FeedState:
    """The state of a stored feed."""
    last_failed = feed.last_error_at is not None and (
        feed.last_success is None or feed.last_error_at > feed.last_success)
    return feed_state(retired=feed.retired or feed.gone, failures=feed.failures,
                      last_failed=last_failed, held_until=feed.held_until, now=now)


@dataclass(frozen=True)
class FeedStatus:
    id: str
    url: str
    state: FeedState
    last_success: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    failures: int
    next_poll: datetime | None
    entries: int

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "url": self.url, "state": self.state.state,
                "held_until": iso(self.state.held_until),
                "last_success": iso(self.last_success), "last_error": self.last_error,
                "last_error_at": iso(self.last_error_at), "failures": self.failures,
                "next_poll": iso(self.next_poll), "entries": self.entries}


@dataclass(frozen=True)
class JobStatus:
    job: str
    started: datetime | None
    finished: datetime | None
    outcome: str | None
    detail: str | None
    owner: str | None
    next: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {"job": self.job, "started": iso(self.started), "finished": iso(self.finished),
                "outcome": self.outcome, "detail": self.detail, "owner": self.owner,
                "next": iso(self.next)}


@dataclass(frozen=True)
class OutboxRow:
    period: str
    state: str
    attempts: int
    sent_at: datetime | None
    next_attempt: datetime | None
    last_error: str | None
    delivered_to: str | None

    def to_json(self) -> dict[str, Any]:
        return {"period": self.period, "state": self.state, "attempts": self.attempts,
                "sent_at": iso(self.sent_at), "next_attempt": iso(self.next_attempt),
                "last_error": self.last_error, "delivered_to": self.delivered_to}


@dataclass(frozen=True)
class Status:
    """DESIGN §4 `status`, with the settings in force."""

    running: bool
    last_seen: datetime | None
    stopped_at: datetime | None  # the clean stop of the daemon seen last, if it stopped so
    gone: list[str]  # daemons of this host seen last, whose process ended without a stop
    feeds: list[FeedStatus]
    jobs: list[JobStatus]
    outbox: list[OutboxRow]
    size_bytes: int | None
    settings: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"daemon": {"running": self.running, "last_seen": iso(self.last_seen),
                           "stopped_at": iso(self.stopped_at), "gone": self.gone},
                "feeds": [f.to_json() for f in self.feeds],
                "jobs": [j.to_json() for j in self.jobs],
                "outbox": [r.to_json() for r in self.outbox],
                "database": {"size_bytes": self.size_bytes},
                "settings": self.settings}


def feeds_status(session: Session, now: datetime) -> list[FeedStatus]:
    """Every feed, active ones first, with its state and number of stored entries."""
    counts: dict[str, int] = {fid: n for fid, n in session.execute(
        select(Entry.feed_id, func.count(Entry.id)).group_by(Entry.feed_id))}
    return [FeedStatus(f.id, f.url, state_of(f, now), f.last_success, f.last_error,
                       f.last_error_at, f.failures, f.next_poll, counts.get(f.id, 0))
            for f in session.scalars(select(Feed).order_by(Feed.retired, Feed.id))]


def outbox(session: Session, limit: int = 20) -> list[OutboxRow]:
    """The latest reports, newest first."""
    return [OutboxRow(r.period, r.state, r.attempts, r.sent_at, r.next_attempt, r.last_error,
                      r.delivered_to)
            for r in session.scalars(select(Report).order_by(Report.period_end.desc())
                                     .limit(limit))]


def status(session: Session, db: str | None = None, scenarios: str | None = None) -> Status:
    """Feeds' health, the last and next run of each job, the outbox, the settings in force."""
    now = utcnow()
    settings = load_settings(session)
    last = last_runs(session)
    stop = last.pop(STOP, None)
    upcoming = next_runs(settings, last, now)
    jobs = []
    for name in (*JOBS, *sorted(set(last) - set(JOBS))):
        run = last.get(name)
        if run is None and upcoming.get(name) is None:
            continue
        jobs.append(JobStatus(name, run.started if run else None,
                              run.finished if run else None, run.outcome if run else None,
                              run.detail if run else None, run.owner if run else None,
                              upcoming.get(name)))
    # A daemon runs when one ran a job lately and has not stopped cleanly since, unless it
    # ran on this host and its process is gone (kill -9, a crash, a power loss: no stop
    # recorded). A daemon of another host is judged by its job runs alone.
    latest = session.scalars(select(JobRun).where(JobRun.id.in_(
        select(func.max(JobRun.id)).where(JobRun.started > now - DAEMON_SEEN)
        .group_by(JobRun.owner)))).all()
    unstopped = sorted({run.owner or "" for run in latest if run.job != STOP})
    dead = {run.owner or "": as_utc(run.started) for run in latest
            if run.job != STOP and is_dead_here(run.owner)}
    running = len(dead) < len(unstopped)
    # Named only while nothing has happened since: a daemon started or stopped after a dead
    # one (a restart, a clean stop) or one still running has taken over from it.
    others = max((as_utc(run.started) for run in latest if (run.owner or "") not in dead),
                 default=None)
    gone = sorted(o for o, last in dead.items() if others is None or last > others)
    seen = max((run.started for run in last.values()), default=None)
    # Said only when the stop is the last thing a daemon did (not one that crashed after it).
    stopped_at = (as_utc(stop.started) if stop is not None and not running
                  and (seen is None or as_utc(stop.started) >= as_utc(seen)) else None)
    return Status(running, seen, stopped_at, gone, feeds_status(session, now), jobs,
                  outbox(session), database_size(session), effective(settings, db, scenarios))
