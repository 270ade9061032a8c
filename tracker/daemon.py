"""The daemon: APScheduler jobs (poll, report, outbox, sync), start-up checks and signals."""

from __future__ import annotations

import functools
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import TYPE_CHECKING

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine, delete, select
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

import tracker

from .config import (
    Settings,
    is_dead_here,
    load_settings,
    mail_recipients,
    process_owner,
    report_trigger,
    smtp_settings,
)
from .db import check_schema, transaction
from .errors import TrackerError
from .jobs import OUTBOX_EVERY, PRUNE_EVERY, RunNote, record_job, record_stop
from .models import Feed, JobRun, Report
from .scenarios import load_scenarios
from .status import feed_state
from .sync import START_ONLY, start_only_message, sync
from .text import oneline, when
from .timeutil import format_duration, utcnow

if TYPE_CHECKING:
    from .poll import FeedOutcome, StandingPipeline

log = logging.getLogger("tracker.daemon")

# How long the jobs in flight get to wind down after SIGTERM; the rest of the 10 s is margin.
STOP_GRACE = 6.0
# How long a forced exit (a job still running after STOP_GRACE) waits to record the stop.
FORCED_STOP_WRITE = 2.5
# Job runs older than this are pruned, so a daemon ticking every few seconds stays small.
KEEP_RUNS = timedelta(days=30)
# While the database stays unreachable, the log says so again at most this often.
OUTAGE_REMINDER = timedelta(minutes=5)


def is_database_outage(exc: BaseException) -> bool:
    """Whether `exc` (or what it was raised from) says the database cannot be reached or
    used: the server down, restarting or refusing connections, the connection cut; a SQLite
    file that cannot be opened, read or written, or stays locked. An error of the statement
    itself (a deadlock, a timeout, a missing table) is no outage: each is logged as it comes."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return False
        if isinstance(seen, DBAPIError) and (
                seen.connection_invalidated
                or (isinstance(seen, OperationalError | InterfaceError)
                    and _unreachable(seen.orig))):
            return True
        seen = seen.__cause__
    return False


# SQLite's result codes of a file it cannot open, read or write, or that stays locked.
_SQLITE_UNREACHABLE = ("SQLITE_CANTOPEN", "SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_IOERR",
                       "SQLITE_FULL", "SQLITE_READONLY")


def _unreachable(orig: BaseException | None) -> bool:
    name = getattr(orig, "sqlite_errorname", None)
    if name is not None:
        return str(name).startswith(_SQLITE_UNREACHABLE)
    # PostgreSQL: no SQLSTATE is no answer from the server (psycopg on connect, or the
    # connection cut); 08 is a connection exception, 57P the server shutting down or
    # starting, 53300 too many connections.
    state = getattr(orig, "sqlstate", None)
    return state is None or str(state).startswith(("08", "57P", "53300"))


def _reason(exc: BaseException) -> str:
    """The first line of what the driver said, for a one-line log."""
    orig = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    lines = str(orig).strip().splitlines()
    return oneline(f"{type(orig).__name__}: {lines[0] if lines else ''}", 300)


def _span(delta: timedelta) -> str:
    """A duration in its two largest units: 4s, 3m12s, 2h5m, 1d3h."""
    rest = max(int(delta.total_seconds()), 0)
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size or (unit == "s" and not parts):
            parts.append(f"{rest // size}{unit}")
            rest %= size
        if len(parts) == 2 or (parts and rest == 0):
            break
    return "".join(parts)


@dataclass
class DatabaseOutage:
    """The database unreachable, as the daemon's jobs find it: the first failed attempt is
    logged in full (ERROR, with its traceback), the next ones are counted and summed up in a
    one-line WARNING at most every OUTAGE_REMINDER, and the first job that reaches the
    database again says so. Jobs run in several threads: one lock."""

    since: datetime | None = None
    attempts: int = 0
    said: datetime | None = None  # when the log last spoke of this outage
    lock: threading.Lock = field(default_factory=threading.Lock)

    def failed(self, job: str, exc: BaseException, now: datetime | None = None) -> None:
        now = now or utcnow()
        with self.lock:
            self.attempts += 1
            if self.since is None:
                self.since = self.said = now
                log.error("database unreachable (job %s failed): %s", job, _reason(exc),
                          exc_info=exc)
            elif self.said is None or now - self.said >= OUTAGE_REMINDER:
                self.said = now
                log.warning("database still unreachable since %s (%d failed attempts): %s",
                            when(self.since), self.attempts, _reason(exc))

    def reached(self, now: datetime | None = None) -> None:
        with self.lock:
            if self.since is None:
                return
            since, self.since, self.said, self.attempts = self.since, None, None, 0
        log.warning("database reachable again after %s", _span((now or utcnow()) - since))


def _mark_logged(exc: BaseException) -> None:
    """Say on `exc` that the outage it is part of has been logged, so that neither
    APScheduler's executor nor _on_job_event logs it again."""
    exc.tracker_logged = True  # type: ignore[attr-defined]


def _logged(exc: BaseException | None) -> bool:
    return bool(getattr(exc, "tracker_logged", False))


@dataclass
class Context:
    """What every job of one daemon shares."""

    sessions: sessionmaker[Session]
    scenarios_path: str
    owner: str
    settings: Settings
    stop: threading.Event = field(default_factory=threading.Event)
    scheduler: BlockingScheduler | None = None
    caught_up: bool = False
    pipeline: StandingPipeline | None = None
    failed: bool = False  # stopping because something it cannot go on without stopped
    failed_jobs: set[str] = field(default_factory=set)  # whose last run raised
    outage: DatabaseOutage = field(default_factory=DatabaseOutage)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _busy: int = field(default=0, init=False)
    _idle: threading.Condition = field(default_factory=threading.Condition, init=False)

    def enter(self) -> None:
        with self._idle:
            self._busy += 1

    def leave(self) -> None:
        with self._idle:
            self._busy -= 1
            self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait for the jobs in flight to return; False when some are still running."""
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout)


def job(name: str) -> Callable[[Callable[[Context, RunNote], None]], Callable[[Context], None]]:
    """Make a job: skipped once the daemon is stopping, counted while it runs, recorded."""

    def wrap(body: Callable[[Context, RunNote], None]) -> Callable[[Context], None]:
        @functools.wraps(body)
        def run(ctx: Context) -> None:
            if ctx.stop.is_set():
                return
            ctx.enter()
            try:
                with record_job(ctx.sessions, name, owner=ctx.owner) as note:
                    ctx.outage.reached()  # its run is recorded: the database answers
                    body(ctx, note)
            except Exception as exc:
                ctx.failed_jobs.add(name)  # its run may not even be recorded: the database
                if is_database_outage(exc):
                    ctx.outage.failed(name, exc)  # logs the outage's first failure, not each
                    _mark_logged(exc)
                raise
            else:
                ctx.failed_jobs.discard(name)
            finally:
                ctx.leave()

        return run

    return wrap


@job("poll")
def poll_job(ctx: Context, note: RunNote) -> None:
    """Hand the due feeds to the standing pipeline, and say what it stored since last tick.

    The job never waits for a fetch: the pipeline's workers fetch, its writer stores, and a
    slow feed holds one worker, not the tick (tracker/pipeline.py).
    """
    pipeline = _pipeline(ctx)
    if pipeline is not None and pipeline.dead:
        # Its thread ended on an error it could not go past (logged there). A daemon that
        # runs on without polling would look healthy to `status` and to the service manager:
        # exit with a failure instead, so that it is restarted.
        log.error("the poll pipeline has stopped; exiting with status 1 to be restarted")
        ctx.failed = True
        os.kill(os.getpid(), signal.SIGTERM)
        note.detail = "the poll pipeline has stopped"
        return
    queued = pipeline.dispatch() if pipeline is not None else 0
    summary = pipeline.finished() if pipeline is not None else None
    if summary is None:
        note.detail = "stopping"
        return
    # What finished since the last tick: the feeds queued now are still on their way.
    note.detail = (f"{queued} feeds queued; since the last tick {len(summary.feeds)} feeds "
                   f"done ({summary.failed} failed), {summary.new_entries} new entries, "
                   f"{summary.new_evidence} new evidence"
                   + (", offline" if summary.offline else ""))
    if queued or summary.feeds:
        log.info("poll: %s", note.detail)


def _pipeline(ctx: Context) -> StandingPipeline | None:
    """The daemon's one pipeline, started at the first tick; None once stopping."""
    with ctx.lock:
        if ctx.stop.is_set():
            return None
        if ctx.pipeline is None:
            # Imported here, as in the other jobs, so that every CLI command need not load it.
            from .poll import StandingPipeline

            ctx.pipeline = StandingPipeline(
                ctx.sessions, owner=ctx.owner, settings=ctx.settings, stop=ctx.stop,
                on_feed=_log_feed, on_round=lambda _summary: _catch_up(ctx))
            ctx.pipeline.start()
            ctx.enter()  # until the pipeline's thread ends: the stop waits for it
            threading.Thread(target=_watch_pipeline, args=(ctx, ctx.pipeline),
                             name="tracker-pipeline-watch", daemon=True).start()
        return ctx.pipeline


def _watch_pipeline(ctx: Context, pipeline: StandingPipeline) -> None:
    pipeline.thread.join()
    ctx.leave()


def _catch_up(ctx: Context) -> None:
    """After the first round of polling, run the report job at once: a report missed while
    the daemon was down is made then, with what that poll found, not before it with every
    feed unpolled. Called as each round ends, in the pipeline's thread; the round that
    counts is the first one claimed (a later tick's empty round ends at once, while the
    first may still be fetching a slow feed)."""
    if ctx.caught_up or ctx.scheduler is None or ctx.stop.is_set():
        return
    if ctx.pipeline is None or not ctx.pipeline.first_round_ended:
        return
    ctx.caught_up = True
    ctx.scheduler.modify_job("report", next_run_time=datetime.now(UTC))


def _log_feed(outcome: FeedOutcome) -> None:
    if outcome.outcome == "error":
        state = feed_state(retired=False, failures=outcome.failures, last_failed=True,
                           held_until=outcome.held_until, now=utcnow())
        if state.held_until is not None:
            log.info("feed %s %s: %s", outcome.feed, state, outcome.error)
        else:
            log.warning("feed %s failed: %s", outcome.feed, outcome.error)
    elif outcome.outcome == "gone":
        log.warning("feed %s is gone (410): retired", outcome.feed)
    elif outcome.new_entries:
        log.info("feed %s: %d new entries, %d hits, %d new evidence", outcome.feed,
                 outcome.new_entries, outcome.hits, outcome.new_evidence)


@job("report")
def report_job(ctx: Context, note: RunNote) -> None:
    """Make the report of the latest due period unless it exists, then send what is due."""
    period, made = make_due_report(ctx.sessions)
    sent = _deliver(ctx)
    note.detail = f"{period}: {'made' if made else 'already made'}, {sent} sent"


def make_due_report(sessions: sessionmaker[Session], now: datetime | None = None
                    ) -> tuple[str, bool]:
    """Make the report of the latest period whose time has passed, once; (period, made now)."""
    from .reports import latest_due_period, make_report

    now = now or utcnow()
    try:
        with transaction(sessions) as session:
            period = latest_due_period(now, load_settings(session))
            if session.scalar(select(Report.id).where(Report.period == period)) is not None:
                return period, False
            made = make_report(session, period, now=now)
            # another daemon may have stored the period between our look and our insert:
            # make_report then returns theirs, which stands
            theirs = made.created_at != now
    except IntegrityError:
        theirs = True
    if theirs:
        log.info("report %s: made by another daemon", period)
        return period, False
    log.info("report %s: made", period)
    return period, True


@job("outbox")
def outbox_job(ctx: Context, note: RunNote) -> None:
    """Make the due report if the report job failed at its time (the database unreachable
    then: the week's report would wait for a restart, or be lost under the next period),
    retry the reports waiting in the outbox, and prune old job runs."""
    if "report" in ctx.failed_jobs:
        make_due_report(ctx.sessions)  # says what it did
        ctx.failed_jobs.discard("report")
    sent = _deliver(ctx)
    with transaction(ctx.sessions) as session:
        session.execute(delete(JobRun).where(JobRun.started < utcnow() - KEEP_RUNS))
    note.detail = f"{sent} sent"


def _deliver(ctx: Context) -> int:
    from .mail import deliver_due

    if ctx.stop.is_set():
        return 0
    sent = 0
    for d in deliver_due(ctx.sessions, owner=ctx.owner):
        if d.ok:
            sent += 1
            log.info("report %s sent: %s", d.period, d.where)
        else:
            log.warning("report %s not sent (will retry): %s", d.period, d.error)
    return sent


@job("prune")
def prune_job(ctx: Context, note: RunNote) -> None:
    """Prune the entries older than the retention setting that no evidence refers to."""
    from .retention import prune_entries

    with transaction(ctx.sessions) as session:
        pruned = prune_entries(session, utcnow() - load_settings(session).retention)
    note.detail = f"{pruned} old entries pruned"
    if pruned:
        log.info("prune: %s", note.detail)


@job("sync")
def sync_job(ctx: Context, note: RunNote) -> None:
    """Sync scenarios.yaml again (SIGHUP) and follow a changed tick or report schedule."""
    try:
        spec = load_scenarios(ctx.scenarios_path)
        with transaction(ctx.sessions) as session:
            result = sync(session, spec)
    except TrackerError as exc:
        # A bad edit must not stop a running daemon: keep the last good sync.
        note.outcome, note.detail = "refused", f"refused: {exc}"
        log.warning("sync of %s refused, keeping the last good one: %s",
                    ctx.scenarios_path, exc)
        return
    note.detail = result.summary()
    log.info("synced %s: %s", ctx.scenarios_path, note.detail)
    with ctx.lock:
        old, ctx.settings = ctx.settings, spec.settings
        # what the running pipeline was made with; none yet: it starts with the new settings
        running = ctx.pipeline.settings if ctx.pipeline is not None else None
    if running is not None:
        for name in START_ONLY:
            if getattr(spec.settings, name) != getattr(running, name):
                log.warning("%s (the daemon runs with %s, the file says %s)",
                            start_only_message(name), getattr(running, name),
                            getattr(spec.settings, name))
    if ctx.scheduler is not None:
        _reschedule(ctx.scheduler, old, spec.settings)


def _reschedule(scheduler: BlockingScheduler, old: Settings, new: Settings) -> None:
    if new.tick != old.tick:
        scheduler.reschedule_job("poll", trigger=IntervalTrigger(seconds=_seconds(new.tick)))
        log.info("poll tick is now %s", format_duration(new.tick))
    if (new.report_cron, new.timezone) != (old.report_cron, old.timezone):
        scheduler.reschedule_job("report", trigger=report_trigger(new))
        log.info("report schedule is now %r in %s", new.report_cron, new.timezone)


def _seconds(delta: timedelta) -> float:
    return max(delta.total_seconds(), 1.0)


def release_dead_claims(sessions: sessionmaker[Session]) -> int:
    """Free the feed leases and outbox claims of daemons on this host that no longer run, and
    end their job runs left `running` as errors, abandoned.

    After a `kill -9` and a restart, the dead daemon's feeds would otherwise wait for their
    leases to expire; a daemon on another host is never second-guessed.
    """
    from .mail import free_dead_claims

    freed = 0
    with transaction(sessions) as session:
        for feed in session.scalars(select(Feed).where(Feed.lease_owner.is_not(None))):
            if is_dead_here(feed.lease_owner):
                feed.lease_owner, feed.lease_until = None, None
                freed += 1
        freed += free_dead_claims(session)
        # its job runs cut short stay "running" in status (for hours, for the prune job)
        for run in session.scalars(select(JobRun).where(JobRun.outcome == "running")):
            if is_dead_here(run.owner):
                run.finished, run.outcome = utcnow(), "error"
                run.detail = "abandoned: its daemon's process ended (kill -9 or a crash)"
    return freed


def build_scheduler(ctx: Context) -> BlockingScheduler:
    """The scheduler with its four jobs; the report job also runs after the first poll, to
    catch up, and the prune job at once."""
    now = datetime.now(UTC)
    scheduler = BlockingScheduler(
        timezone=UTC,
        executors={"default": ThreadPoolExecutor(4)},
        job_defaults={"coalesce": True, "max_instances": 1},
    )
    scheduler.add_listener(_on_job_event, EVENT_JOB_ERROR | EVENT_JOB_MISSED)
    executor_log = logging.getLogger("apscheduler.executors.default")
    if not any(isinstance(f, _LoggedOutage) for f in executor_log.filters):
        executor_log.addFilter(_LoggedOutage())
    tick = _seconds(ctx.settings.tick)
    # A poll more than a tick late is skipped: the next tick is as good and comes soon.
    scheduler.add_job(poll_job, IntervalTrigger(seconds=tick), args=[ctx], id="poll",
                      name="poll", next_run_time=now, misfire_grace_time=max(int(tick), 1))
    # A report is wanted however late it is (a suspended laptop, a slow start).
    scheduler.add_job(report_job, report_trigger(ctx.settings), args=[ctx], id="report",
                      name="report", misfire_grace_time=None)
    scheduler.add_job(outbox_job, IntervalTrigger(seconds=OUTBOX_EVERY.total_seconds()),
                      args=[ctx], id="outbox", name="outbox",
                      misfire_grace_time=int(OUTBOX_EVERY.total_seconds()))
    # at start too: a daemon restarted more often than every six hours would otherwise never
    scheduler.add_job(prune_job, IntervalTrigger(seconds=PRUNE_EVERY.total_seconds()),
                      args=[ctx], id="prune", name="prune", next_run_time=now,
                      misfire_grace_time=int(PRUNE_EVERY.total_seconds()))
    ctx.scheduler = scheduler
    return scheduler


def _record_forced_stop(sessions: sessionmaker[Session], owner: str) -> None:
    """Before the forced exit: give back `owner`'s outbox claims and record the stop, in a
    thread given FORCED_STOP_WRITE seconds, so that a database that does not answer cannot
    hold the exit past the 10 s a stop is promised."""
    from .mail import release_claims

    def write() -> None:
        try:
            if freed := release_claims(sessions, owner):
                log.info("gave back the claim of %d report(s) being sent; each stays in the "
                         "outbox", freed)
            record_stop(sessions, owner, "stopped; a job still running was abandoned",
                        abandon_running=True)
        except Exception:  # the database is gone: status falls back to the last job's time
            log.warning("could not record the stop", exc_info=True)

    writer = threading.Thread(target=write, name="tracker-stop", daemon=True)
    writer.start()
    writer.join(FORCED_STOP_WRITE)
    if writer.is_alive():
        log.warning("could not record the stop within %.1f s", FORCED_STOP_WRITE)


def _on_job_event(event: JobExecutionEvent) -> None:
    if _logged(event.exception):
        return  # the database unreachable: DatabaseOutage says so, once
    if event.exception is not None:
        log.error("job %s failed: %s: %s", event.job_id, event.exception.__class__.__name__,
                  event.exception)
    else:
        log.warning("job %s missed its time (%s); it runs at the next one",
                    event.job_id, event.scheduled_run_time)


def run_scheduler(ctx: Context, scheduler: BlockingScheduler) -> None:
    """Run the jobs until a stop. APScheduler 3's shutdown marks the scheduler stopped before
    it takes the lock under which the main loop hands due jobs to the pool, so a one-off job
    (a SIGHUP's sync) handed over just then is no longer found to be removed, and the loop
    raises JobLookupError. After a stop was asked for, that is the stop, not an error."""
    try:
        scheduler.start()
    except JobLookupError:
        if not ctx.stop.is_set():
            raise
        log.debug("a one-off job ran as the scheduler stopped", exc_info=True)


def _install_signals(ctx: Context, scheduler: BlockingScheduler) -> None:
    """SIGTERM/SIGINT stop, SIGHUP re-syncs; the work happens in a thread, never in the
    handler, because the handler interrupts the main thread wherever it is (even in a lock)."""

    def stop(signum: int, _frame: FrameType | None) -> None:
        if not ctx.stop.is_set():
            ctx.stop.set()
            threading.Thread(target=_shutdown, args=(scheduler, signum), daemon=True).start()

    def hup(_signum: int, _frame: FrameType | None) -> None:
        threading.Thread(target=_queue_sync, args=(ctx, scheduler), daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, hup)


def _shutdown(scheduler: BlockingScheduler, signum: int) -> None:
    log.info("%s: stopping (no new job starts; fetches in flight are abandoned)",
             signal.Signals(signum).name)
    deadline = time.monotonic() + 5
    while True:
        try:
            scheduler.shutdown(wait=False)
            return
        except SchedulerNotRunningError:
            # The signal came before the scheduler started; run_daemon sees ctx.stop too.
            if time.monotonic() > deadline:
                return
            time.sleep(0.05)


def _queue_sync(ctx: Context, scheduler: BlockingScheduler) -> None:
    log.info("SIGHUP: syncing %s again", ctx.scenarios_path)
    scheduler.add_job(sync_job, args=[ctx], id="sync", name="sync", replace_existing=True,
                      misfire_grace_time=None)


class _SkippedTick(logging.Filter):
    """Drops APScheduler's "skipped: maximum number of running instances": a tick that comes
    while the last poll still runs is meant to be skipped, and is no news for the journal."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances" not in record.getMessage()


class _LoggedOutage(logging.Filter):
    """Drops APScheduler's "Job ... raised an exception" and its traceback for a failure of a
    database outage: DatabaseOutage logs the outage's first failure in full and then a line
    every few minutes, where each tick used to add two ERROR lines and a traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and _logged(record.exc_info[1]))


def run_daemon(engine: Engine, sessions: sessionmaker[Session], scenarios_path: str, *,
               owner: str | None = None) -> int:
    """Check the schema, sync scenarios.yaml, then run the jobs until SIGTERM or SIGINT; the
    exit status: 0, or 1 when the daemon stopped because its poll pipeline had."""
    if not log.isEnabledFor(logging.DEBUG):
        # Our own lines say what each job did; APScheduler's INFO would double them.
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
    scheduler_log = logging.getLogger("apscheduler.scheduler")
    if not any(isinstance(f, _SkippedTick) for f in scheduler_log.filters):
        scheduler_log.addFilter(_SkippedTick())
    # A SIGHUP while the daemon starts (`systemctl restart` then `reload`) would end it with
    # the signal's default action: it is kept, and acted on once the handlers are in place.
    # (`tracker daemon` keeps them from its first lines on: tracker/__main__.py.)
    signal.signal(signal.SIGHUP,
                  lambda signum, _frame: tracker.STARTING_SIGHUPS.append(signum))
    check_schema(engine)
    spec = load_scenarios(scenarios_path)
    # Bad mail settings are bad options (exit 2) now, not a failed send a week from now. No
    # recipients at all is not: the report is kept in the outbox until some are named.
    smtp = smtp_settings()
    if smtp is not None:
        from .mail import check_login

        check_login(smtp)  # a password it would refuse to send in the clear
    mail_recipients(spec.settings)
    with transaction(sessions) as session:
        result = sync(session, spec)
    ctx = Context(sessions, scenarios_path, owner or process_owner(), spec.settings)
    log.info("synced %s: %s", scenarios_path, result.summary())
    if freed := release_dead_claims(sessions):
        log.info("freed %d lease(s) of a daemon on this host that died", freed)
    scheduler = build_scheduler(ctx)
    _install_signals(ctx, scheduler)
    if tracker.STARTING_SIGHUPS:
        tracker.STARTING_SIGHUPS.clear()
        _queue_sync(ctx, scheduler)
    s = spec.settings
    log.info("daemon %s started: poll every %s, report on %r (%s), outbox every %s",
             ctx.owner, format_duration(s.tick), s.report_cron, s.timezone,
             format_duration(OUTBOX_EVERY))
    if not ctx.stop.is_set():
        run_scheduler(ctx, scheduler)
    if not ctx.wait_idle(STOP_GRACE):
        # A job did not return in time: leave now; each feed and report is written in its own
        # transaction, so the database rolls back whatever was half done. The stop is still
        # recorded and the outbox claims given back, or `status` would say "running" and
        # `report --send` wait for a sender that is gone.
        log.warning("a job was still running after %.0f s; exiting without it", STOP_GRACE)
        _record_forced_stop(sessions, ctx.owner)
        logging.shutdown()
        os._exit(0)
    try:
        record_stop(sessions, ctx.owner, "stopped: the poll pipeline had stopped"
                    if ctx.failed else "stopped cleanly")
    except Exception:  # the database is gone: status falls back to the last job's time
        log.warning("could not record the stop", exc_info=True)
    engine.dispose()
    log.info("daemon %s stopped", ctx.owner)
    return 1 if ctx.failed else 0
