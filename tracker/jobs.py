"""Job runs: every run of a daemon job recorded (start, end, outcome) for `tracker status`."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from .config import Settings, report_trigger
from .db import transaction
from .models import JobRun
from .timeutil import utcnow

JOBS = ("poll", "report", "outbox", "prune", "sync")
STOP = "stop"  # not a job: the run a daemon records as it stops cleanly, so status knows
OUTBOX_EVERY = timedelta(minutes=1)
# A running daemon starts the outbox job every minute: no job for this long means none runs.
DAEMON_SEEN = 3 * OUTBOX_EVERY
PRUNE_EVERY = timedelta(hours=6)

log = logging.getLogger("tracker.jobs")



@dataclass
class RunNote:
    """What a running job wants kept with its run: a one-line detail, and its outcome when
    not plain `ok` (a sync that refused the file is `refused`)."""

    detail: str | None = None
    outcome: str = "ok"


@contextmanager
def record_job(
    sessions: sessionmaker[Session], name: str, *, owner: str | None = None
) -> Iterator[RunNote]:
    """Record a run of job `name`: a `running` row at start, then `ok` or `error` at the end.

    Each write is its own short transaction, so a run killed midway stays visible as `running`.
    """
    with transaction(sessions) as session:
        run = JobRun(job=name, started=utcnow(), outcome="running", owner=owner)
        session.add(run)
        session.flush()
        run_id = run.id
    log.debug("job %s started", name)
    note = RunNote()
    try:
        yield note
    except BaseException as exc:
        _finish(sessions, run_id, "error", f"{exc.__class__.__name__}: {exc}"[:2000])
        raise
    _finish(sessions, run_id, note.outcome, note.detail)
    log.debug("job %s done: %s", name, note.detail or note.outcome)


def record_stop(sessions: sessionmaker[Session], owner: str, detail: str, *,
                abandon_running: bool = False) -> None:
    """A daemon stopped: a run of its own, so `status` need not wait out DAEMON_SEEN to say
    no daemon runs. With `abandon_running` (a daemon leaving a job it could not wait for),
    the owner's runs still `running` end as errors, "abandoned"."""
    now = utcnow()
    with transaction(sessions) as session:
        if abandon_running:
            session.execute(
                update(JobRun).where(JobRun.owner == owner, JobRun.outcome == "running")
                .values(finished=now, outcome="error",
                        detail="abandoned: the daemon stopped while it ran"))
        session.add(JobRun(job=STOP, started=now, finished=now, outcome="ok", owner=owner,
                           detail=detail))


def _finish(sessions: sessionmaker[Session], run_id: int, outcome: str, detail: str | None) -> None:
    with transaction(sessions) as session:
        run = session.get(JobRun, run_id)
        if run is not None:
            run.finished, run.outcome, run.detail = utcnow(), outcome, detail


def last_runs(session: Session) -> dict[str, JobRun]:
    """The latest run of each job, by job name."""
    latest = (
        select(JobRun.job, func.max(JobRun.id).label("id")).group_by(JobRun.job).subquery()
    )
    rows = session.scalars(select(JobRun).join(latest, JobRun.id == latest.c.id))
    return {run.job: run for run in rows}


def next_runs(settings: Settings, last: dict[str, JobRun], now: datetime
              ) -> dict[str, datetime | None]:
    """When each job runs next, from the schedule and the last runs (also for a stopped daemon)."""
    def after(job: str, every: timedelta) -> datetime:
        run = last.get(job)
        return max(run.started + every, now) if run is not None else now

    fire = report_trigger(settings).get_next_fire_time(None, now)
    return {
        "poll": after("poll", settings.tick),
        "report": fire.astimezone(UTC) if fire is not None else None,
        "outbox": after("outbox", OUTBOX_EVERY),
        "prune": after("prune", PRUNE_EVERY),
        "sync": None,
    }
