"""Poll feeds: claim them, fetch concurrently, store each feed's entries, hits and evidence.

Each feed's result is stored in its own transaction as soon as it arrives, validators and
body hash together with the entries, so what a feed stored is whole or absent and a crash
repeats work instead of losing it.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import logging
import random
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import exists, func, insert, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from .config import is_dead_here, load_settings, process_owner
from .db import transaction
from .errors import UsageError
from .evidence import NewHit, record_blocked, record_hits
from .fetch import USER_AGENT, Fetcher, FetchResult
from .forecasts import rescore
from .matching import Blocked, Cues, Rule
from .models import Entry, Evidence, Feed, Indicator, Question
from .parse import ParsedEntry, ParsedFeed
from .parse import observed_time as entry_observed_time
from .sandbox import Matches, Parsers
from .scenarios import Settings
from .timeutil import utcnow

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)
MAX_BACKOFF = timedelta(hours=24)
WORKED = ("ok", "not_modified", "unchanged")
_QUIET_BATCH = 50  # feeds that sent nothing new, marked polled in one transaction
_KEY_CHUNK = 500  # keys per IN (...) query, well under every backend's parameter limit
MAX_NEW_ENTRIES = 500  # per feed and poll, newest first: a feed may send 100,000 at once

FetcherFactory = Callable[[Settings], Fetcher]
_Polled = tuple["_Job", FetchResult, "FeedOutcome | None"]


@dataclass
class FeedOutcome:
    """What polling one feed came to; `outcome` is ok, not_modified, unchanged, error, gone
    or skipped."""

    feed: str
    outcome: str
    new_entries: int = 0
    hits: int = 0
    new_evidence: int = 0
    blocked: int = 0  # matches a negation, hypothetical or simulation cue kept from counting
    error: str | None = None
    warning: str | None = None
    failures: int = 0
    next_poll: datetime | None = None

    @property
    def worked(self) -> bool:
        return self.outcome in WORKED


@dataclass
class PollSummary:
    """Every feed's outcome and the totals of one poll."""

    feeds: list[FeedOutcome] = field(default_factory=list)
    new_entries: int = 0
    new_evidence: int = 0
    offline: bool = False
    questions_rescored: list[str] = field(default_factory=list)
    hits: int = 0
    blocked: int = 0
    leased: int = 0  # active feeds left alone because another process is polling them

    @property
    def failed(self) -> int:
        """Feeds whose poll failed, those found gone (HTTP 410) included."""
        return sum(1 for f in self.feeds if f.outcome in ("error", "gone"))

    @property
    def ok(self) -> bool:
        """True unless feeds were fetched and none of them worked (the exit-0 rule)."""
        tried = [f for f in self.feeds if f.outcome != "skipped"]
        return not tried or any(f.worked for f in tried)


@dataclass(frozen=True)
class _Job:
    """A claimed feed, as read when it was claimed."""

    id: str
    url: str
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    interval: timedelta



_frozen = False


def _freeze_long_lived() -> None:
    """Once per process, before its first poll: take what start-up made out of the collector's
    sight.

    By then the process holds a hundred thousand objects of its modules, classes and schema,
    alive until it exits. Every full collection walked all of them, some 40 ms, and fell on
    whichever poll happened to cross the threshold; a poll of 300 feeds answered by 304s takes
    about three times that. gc.freeze() moves them to a generation that is never collected.
    Reference counting still frees every object; only cycles among those already there when
    it is called would stay, and at that moment there are next to none.
    """
    global _frozen
    if not _frozen:  # not gc.get_freeze_count(): it walks every frozen object
        gc.freeze()
        _frozen = True


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop where it is installed (a dependency except on Windows), else
    asyncio's own: a poll of feeds that answer 304 is mostly event-loop and socket work, and
    uvloop does that work in C."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def default_fetcher(settings: Settings) -> Fetcher:
    """A Fetcher as DESIGN §6 has it, with the concurrency of the settings."""
    return Fetcher(user_agent=USER_AGENT, concurrency=settings.concurrency)


def poll(
    sessions: sessionmaker[Session],
    *,
    feed_ids: Sequence[str] | None = None,
    all_feeds: bool = False,
    now: Callable[[], datetime] | None = None,
    owner: str | None = None,
    on_feed: Callable[[FeedOutcome], None] | None = None,
    stop: threading.Event | None = None,
    fetcher_factory: FetcherFactory | None = None,
    on_start: Callable[[int], None] | None = None,
) -> PollSummary:
    """Poll the named feeds, or all active ones, or the due ones; store, match, rescore.

    `on_start` hears how many feeds this poll covers, `on_feed` each outcome as it is stored;
    setting `stop` abandons the fetches in flight and returns promptly.
    """
    _freeze_long_lived()
    clock = now or utcnow
    owner = owner or process_owner()
    summary = PollSummary()
    if stop is not None and stop.is_set():
        return summary
    with transaction(sessions) as session:
        settings = load_settings(session)
        _rescore_stale(session, clock())
        _free_dead_leases(session, clock())
        jobs, skipped = _claim(session, settings, feed_ids, all_feeds, clock(), owner)
        summary.leased = _leased(session, clock(), owner)
        rules = _rules(session)
    run = _Poll(sessions, settings, rules, clock, owner, summary, on_feed, stop)
    if on_start is not None:
        on_start(len(jobs) + len(skipped))
    for outcome in skipped:
        run.report(outcome)
    if jobs:
        try:
            with asyncio.Runner(loop_factory=_loop_factory()) as runner:
                runner.run(run.run(jobs, fetcher_factory or default_fetcher))
        finally:
            run.release_unstored(jobs)
        # Once per poll rather than per feed: F(now) is derived from the log, which each
        # feed's transaction already left whole; after a crash the next poll rebuilds it.
        run.rescore_touched()
    return summary


def _rescore_stale(session: Session, now: datetime) -> None:
    """Rescore the open questions with evidence newer than their stored forecast: a poll
    killed (kill -9) after storing a feed but before its rescore left them stale."""
    newer = or_(Question.scored_at.is_(None), Evidence.created_at > Question.scored_at)
    stale = list(session.scalars(select(Question.id).where(
        Question.retired.is_(False), Question.resolved_to.is_(None),
        exists().where(Evidence.question_id == Question.id, newer))))
    if stale:
        log.info("rescoring %s: evidence newer than the stored forecast", ", ".join(stale))
        _rescore(session, stale, now)


def _rescore(session: Session, question_ids: list[str], now: datetime) -> None:
    """Rescore and mark the questions scored now, even where F did not change, so their
    evidence no longer counts as newer than the stored forecast."""
    rescore(session, question_ids, now)
    session.execute(update(Question).where(Question.id.in_(question_ids))
                    .values(scored_at=now).execution_options(synchronize_session=False))


def _free_dead_leases(session: Session, now: datetime) -> None:
    """A lease held by a process of this host that died (kill -9) is free at once."""
    for feed_id, lease_owner in session.execute(select(Feed.id, Feed.lease_owner).where(
            Feed.lease_until > now, Feed.lease_owner.is_not(None))):
        if is_dead_here(lease_owner):
            session.execute(update(Feed).where(Feed.id == feed_id,
                                               Feed.lease_owner == lease_owner)
                            .values(lease_owner=None, lease_until=None))


def _leased(session: Session, now: datetime, owner: str) -> int:
    return session.scalar(select(func.count()).select_from(Feed).where(
        Feed.retired.is_(False), Feed.lease_until > now, Feed.lease_owner != owner)) or 0


def _claim(
    session: Session, settings: Settings, feed_ids: Sequence[str] | None, all_feeds: bool,
    now: datetime, owner: str,
) -> tuple[list[_Job], list[FeedOutcome]]:
    """Lease the feeds to poll; rows another process holds are skipped, never waited for."""
    query = select(
        Feed.id, Feed.url, Feed.etag, Feed.last_modified, Feed.body_hash, Feed.interval_seconds
    ).order_by(Feed.id).with_for_update(skip_locked=True).where(
        or_(Feed.lease_until.is_(None), Feed.lease_until <= now, Feed.lease_owner == owner))
    skipped: list[FeedOutcome] = []
    named: list[str] = []
    if feed_ids:
        known = {f: r for f, r in session.execute(select(Feed.id, Feed.retired))}
        unknown = [f for f in feed_ids if f not in known]
        if unknown:
            valid = ", ".join(sorted(f for f, retired in known.items() if not retired))
            raise UsageError(f"unknown feed {', '.join(unknown)}",
                             hint=f"valid feeds: {valid or 'none; run tracker sync'}")
        for f in dict.fromkeys(feed_ids):
            if known[f]:
                skipped.append(FeedOutcome(f, "skipped", error="retired"))
            else:
                named.append(f)
        query = query.where(Feed.id.in_(named))
    else:
        query = query.where(Feed.retired.is_(False))
        if not all_feeds:
            query = query.where(or_(Feed.next_poll.is_(None), Feed.next_poll <= now))
    jobs = [
        _Job(feed_id, url, etag, last_modified, body_hash,
             timedelta(seconds=seconds) if seconds else settings.poll_interval)
        for feed_id, url, etag, last_modified, body_hash, seconds in session.execute(query)
    ]
    # the rows are locked (FOR UPDATE; SQLite's write lock is the transaction's): one UPDATE
    # per chunk takes their leases
    for i in range(0, len(jobs), _KEY_CHUNK):
        session.execute(
            update(Feed)
            .where(Feed.id.in_([j.id for j in jobs[i:i + _KEY_CHUNK]]))
            .values(lease_owner=owner, lease_until=now + LEASE)
            .execution_options(synchronize_session=False))
    claimed = {j.id for j in jobs}
    skipped += [FeedOutcome(f, "skipped", error="being polled by another process")
                for f in named if f not in claimed]
    return jobs, skipped


def _rules(session: Session) -> dict[str, Rule]:
    """The rules of the active indicators of open questions, compiled once per poll."""
    rows = session.execute(
        select(Indicator.id, Indicator.rule)
        .join(Question, Indicator.question_id == Question.id)
        .where(Indicator.retired.is_(False), Question.retired.is_(False),
               Question.resolved_to.is_(None))
        .order_by(Question.position, Indicator.position)
    )
    rules: dict[str, Rule] = {}
    for indicator_id, rule in rows:
        try:
            rules[indicator_id] = Rule.from_mapping(rule)
        except ValueError as exc:
            log.warning("indicator %s: rule ignored: %s", indicator_id, exc)
    return rules


def _hold_host(session: Session, job: _Job, until: datetime) -> None:
    """A Retry-After holds for the whole host: its other feeds wait too, across polls."""
    host = urlsplit(job.url).hostname
    for other in session.scalars(
        select(Feed).where(Feed.retired.is_(False), Feed.id != job.id)
    ):
        if urlsplit(other.url).hostname == host and (
            other.next_poll is None or other.next_poll < until
        ):
            other.next_poll = until


def _polled_ok(result: FetchResult, now: datetime, next_poll: datetime) -> dict[str, object]:
    """The columns of a feed polled successfully: validators, failures 0, lease released."""
    return {"etag": result.etag, "last_modified": result.last_modified, "last_polled": now,
            "last_success": now, "failures": 0, "next_poll": next_poll,
            "lease_owner": None, "lease_until": None}


def jittered(delay: timedelta) -> timedelta:
    """A delay shortened by up to 10 %, so feeds polled together drift apart."""
    return delay * random.uniform(0.9, 1.0)


def backoff(interval: timedelta, failures: int) -> timedelta:
    """interval · 2^failures, at most 24 h."""
    # in seconds, capped first: a 10-day interval times 2^30 would overflow timedelta
    seconds = interval.total_seconds() * 2 ** min(failures, 30)
    return timedelta(seconds=min(seconds, MAX_BACKOFF.total_seconds()))


class _Poll:
    """One poll: fetches in the event loop, stores in one worker thread, a feed at a time."""

    def __init__(self, sessions: sessionmaker[Session], settings: Settings,
                 rules: dict[str, Rule],
                 clock: Callable[[], datetime], owner: str, summary: PollSummary,
                 on_feed: Callable[[FeedOutcome], None] | None,
                 stop: threading.Event | None) -> None:
        self.sessions = sessions
        self.settings = settings
        self.rules = rules
        self.cues = Cues.from_settings(settings.matching)
        self.clock = clock
        self.owner = owner
        self.summary = summary
        self.on_feed = on_feed
        self.stop = stop
        self.stored: set[str] = set()
        # One writer thread: stores go one at a time while fetching goes on.
        self.writer = ThreadPoolExecutor(1, thread_name_prefix="tracker-store")
        self.parsers: Parsers | None = None
        self.touched: set[str] = set()

    def report(self, outcome: FeedOutcome) -> None:
        """Add a feed's outcome to the summary and tell the caller."""
        s = self.summary
        s.feeds.append(outcome)
        s.new_entries += outcome.new_entries
        s.new_evidence += outcome.new_evidence
        s.hits += outcome.hits
        s.blocked += outcome.blocked
        if self.on_feed is not None:
            self.on_feed(outcome)

    async def run(self, jobs: list[_Job], factory: FetcherFactory) -> None:
        """Poll every job concurrently; each is fetched, parsed and stored as it arrives."""
        fetcher = factory(self.settings)
        self.parsers = Parsers(len(jobs), self.rules, self.cues)
        network_failures: list[tuple[_Job, FetchResult]] = []
        quiet: list[tuple[_Job, FetchResult]] = []
        loop = asyncio.get_running_loop()
        # Finished fetches arrive here; None means stop.
        finished: asyncio.Queue[asyncio.Task[_Polled] | None] = asyncio.Queue()
        tasks = []
        for job in jobs:
            task = asyncio.create_task(self._poll_feed(fetcher, job))
            task.add_done_callback(finished.put_nowait)
            tasks.append(task)
        watcher = asyncio.create_task(self._watch_stop(finished))
        remaining = len(tasks)
        try:
            while remaining or quiet:
                if remaining:
                    done = [await finished.get()]
                    while not finished.empty():
                        done.append(finished.get_nowait())
                    if None in done or self._stopping():
                        return
                    for item in done:
                        assert item is not None
                        remaining -= 1
                        job, result, outcome = item.result()
                        if outcome is not None:
                            self.report(outcome)
                        elif result.network_error:
                            # Held back: the offline rule needs every fetch's result first.
                            network_failures.append((job, result))
                        else:
                            quiet.append((job, result))
                if len(quiet) >= _QUIET_BATCH or (quiet and not remaining):
                    batch, quiet = quiet, []
                    for outcome in await loop.run_in_executor(
                            self.writer, self.store_quiet, batch):
                        self.report(outcome)
            # Offline needs evidence: every fetch failed at the network level, and on at least
            # two servers; one dead server polled alone is that feed's failure, not ours.
            servers = {urlsplit(r.final_url or j.url).netloc.lower() for j, r in network_failures}
            offline = len(network_failures) == len(tasks) and len(servers) >= 2
            self.summary.offline = offline
            for job, result in network_failures:
                self.report(await loop.run_in_executor(
                    self.writer, self.store_failure, job, result.error or "network error",
                    result.retry_after, offline))
        finally:
            watcher.cancel()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, watcher, return_exceptions=True)
            await fetcher.aclose()
            # Parses in flight are dropped with their workers; a store already running
            # finishes (its transaction is whole), and queued ones never start.
            self.parsers.close()
            self.writer.shutdown(wait=True, cancel_futures=True)

    def _stopping(self) -> bool:
        return self.stop is not None and self.stop.is_set()

    async def _watch_stop(self, finished: asyncio.Queue[asyncio.Task[_Polled] | None]) -> None:
        """Look at the stop request every tenth of a second; when it comes, wake the poll."""
        if self.stop is None:
            return
        while not self.stop.is_set():
            await asyncio.sleep(0.1)
        finished.put_nowait(None)

    async def _poll_feed(self, fetcher: Fetcher, job: _Job) -> _Polled:
        """Fetch, parse and store one feed. No outcome yet for a network failure, nor for a
        quiet one (304, or the body of last time), which are stored in batches."""
        result = await fetcher.fetch(job.url, etag=job.etag, last_modified=job.last_modified)
        if result.outcome == "error" and result.network_error:
            return job, result, None
        loop = asyncio.get_running_loop()
        parsed: ParsedFeed | None = None
        matches: Matches | None = None
        digest = hashlib.sha256(result.body or b"").hexdigest()
        if result.outcome == "not_modified" or (result.outcome == "ok"
                                                and digest == job.body_hash):
            return job, result, None
        if result.outcome == "ok":
            # Parsed before the transaction opens, so the write lock is held only to write.
            assert self.parsers is not None
            parsed, matches = await self.parsers.parse(result.body or b"",
                                                       result.final_url or job.url)
        outcome = await loop.run_in_executor(
            self.writer, self.store, job, result, digest, parsed, matches)
        return job, result, outcome

    def store(self, job: _Job, result: FetchResult, digest: str, parsed: ParsedFeed | None,
              matches: Matches | None) -> FeedOutcome:
        """Store one feed's result in its own transaction; a failure to store is the feed's."""
        try:
            return self._store(job, result, digest, parsed, matches)
        except Exception as exc:  # one feed's data must not stop the others
            log.exception("feed %s: could not store", job.id)
            return self.store_failure(job, f"could not store: {type(exc).__name__}: {exc}")

    def store_quiet(self, batch: list[tuple[_Job, FetchResult]]) -> list[FeedOutcome]:
        """Mark feeds that sent nothing new as polled: one transaction, one executemany."""
        now = self.clock()
        done, rows = [], []
        for job, result in batch:
            next_poll = now + jittered(job.interval)
            rows.append({"id": job.id, **_polled_ok(result, now, next_poll)})
            done.append(FeedOutcome(job.id, "not_modified" if result.outcome == "not_modified"
                                    else "unchanged", next_poll=next_poll))
        with transaction(self.sessions) as session:
            session.execute(update(Feed), rows)  # bulk UPDATE by primary key
        self.stored.update(job.id for job, _ in batch)
        return done

    def _store(self, job: _Job, result: FetchResult, digest: str, parsed: ParsedFeed | None,
               matches: Matches | None) -> FeedOutcome:
        if result.outcome == "gone":
            return self._gone(job, result.error or "HTTP 410")
        if result.outcome != "ok":
            # No request was made when the host had already asked us to wait: a hold, not a
            # failure of this feed.
            held = result.status is None and result.retry_after is not None
            return self.store_failure(job, result.error or "failed", result.retry_after,
                                      counted=not held)
        assert parsed is not None, "a changed body is parsed before it is stored"
        if parsed.error or not parsed.entries:
            return self.store_failure(job, parsed.error or "no entries in the feed")
        entries: dict[str, ParsedEntry] = {}
        for e in parsed.entries:
            entries.setdefault(e.key, e)  # a duplicate id within the feed: the first wins
        return self._store_entries(job, result, digest, parsed.warning, list(entries.values()),
                                   matches)

    def _store_entries(self, job: _Job, result: FetchResult, digest: str, warning: str | None,
                       entries: list[ParsedEntry], matches: Matches | None) -> FeedOutcome:
        now = self.clock()
        with transaction(self.sessions) as session:
            keys = [e.key for e in entries]
            seen: set[str] = set()
            for i in range(0, len(keys), _KEY_CHUNK):
                seen.update(session.scalars(select(Entry.key).where(
                    Entry.feed_id == job.id, Entry.key.in_(keys[i:i + _KEY_CHUNK]))))
            new = [e for e in entries if e.key not in seen]
            if len(new) > MAX_NEW_ENTRIES:
                # newest first (no date counts as now); the rest may come in a later poll
                left = len(new) - MAX_NEW_ENTRIES
                new = sorted(new, key=lambda e: e.published or now,
                             reverse=True)[:MAX_NEW_ENTRIES]
                cap = f"{left} older new entries left out (at most {MAX_NEW_ENTRIES} a poll)"
                warning = cap + (f"; {warning}" if warning else "")
            hits: list[NewHit] = []
            blocked: list[tuple[int, Blocked]] = []
            if new:
                # One executemany, then one query for the ids: no per-row RETURNING.
                observed = {e.key: entry_observed_time(e.published, now) for e in new}
                session.execute(insert(Entry), [
                    {"feed_id": job.id, "key": e.key, "guid": e.guid, "link": e.link,
                     "title": e.title, "summary": e.summary, "published": e.published,
                     "fetched_at": now, "observed_at": observed[e.key]} for e in new])
                ids: dict[str, int] = {}
                for i in range(0, len(new), _KEY_CHUNK):
                    chunk = [e.key for e in new[i:i + _KEY_CHUNK]]
                    rows = session.execute(select(Entry.key, Entry.id).where(
                        Entry.feed_id == job.id, Entry.key.in_(chunk)))
                    ids.update((key, entry_id) for key, entry_id in rows)
                # matched with the parse, in its worker
                found = matches or {}
                hits = [NewHit(ids[e.key], m.indicator, observed[e.key], m.terms, m.sentence,
                               m.marks) for e in new if e.key in found
                        for m in found[e.key].matches]
                blocked = [(ids[e.key], b) for e in new if e.key in found
                           for b in found[e.key].blocked]
                record_blocked(session, blocked, now)
            created, touched = record_hits(session, hits, now) if hits else (0, set())
            outcome = self._succeeded(session, job, result, now, "ok",
                                      body_hash=digest, warning=warning)
        self.stored.add(job.id)
        self.touched |= touched
        outcome.new_entries, outcome.hits, outcome.new_evidence = len(new), len(hits), created
        outcome.blocked = len(blocked)
        return outcome

    def _feed(self, session: Session, job: _Job) -> Feed:
        feed = session.get(Feed, job.id, with_for_update=True)
        assert feed is not None, f"feed {job.id} vanished"  # feeds are retired, never deleted
        return feed

    def _succeeded(self, session: Session, job: _Job, result: FetchResult, now: datetime,
                   outcome: str, **values: str | None) -> FeedOutcome:
        """Mark a feed polled successfully: validators, failures 0, next poll, lease released."""
        next_poll = now + jittered(job.interval)
        session.execute(update(Feed).where(Feed.id == job.id).values(
            **_polled_ok(result, now, next_poll), **values))
        return FeedOutcome(job.id, outcome, next_poll=next_poll, warning=values.get("warning"))

    def _gone(self, job: _Job, reason: str) -> FeedOutcome:
        now = self.clock()
        with transaction(self.sessions) as session:
            feed = self._feed(session, job)
            feed.gone = feed.retired = True
            feed.last_polled = feed.last_error_at = now
            feed.last_error = f"{reason}: the feed is gone and now retired"
            feed.next_poll = None
            feed.lease_owner = feed.lease_until = None
            done = FeedOutcome(job.id, "gone", error=feed.last_error, failures=feed.failures)
        self.stored.add(job.id)
        return done

    def store_failure(self, job: _Job, reason: str, retry_after: datetime | None = None,
                      offline: bool = False, counted: bool = True) -> FeedOutcome:
        """Record a failure and back the feed off; offline, or only held by its host's
        Retry-After, its failure count stays."""
        now = self.clock()
        with transaction(self.sessions) as session:
            feed = self._feed(session, job)
            feed.last_polled = feed.last_error_at = now
            feed.last_error = reason
            if offline or not counted:
                delay = jittered(job.interval)
            else:
                feed.failures += 1
                delay = jittered(backoff(job.interval, feed.failures))
            feed.next_poll = now + delay
            if retry_after is not None:
                feed.next_poll = max(feed.next_poll, retry_after)
                _hold_host(session, job, retry_after)
            feed.lease_owner = feed.lease_until = None
            done = FeedOutcome(job.id, "error", error=reason, failures=feed.failures,
                               next_poll=feed.next_poll)
        self.stored.add(job.id)
        return done

    def rescore_touched(self) -> None:
        """Rescore the questions whose evidence this poll changed, once at the end."""
        if not self.touched:
            return
        with transaction(self.sessions) as session:
            _rescore(session, sorted(self.touched), self.clock())
        self.summary.questions_rescored = sorted(self.touched)

    def release_unstored(self, jobs: list[_Job]) -> None:
        """Give back the leases of feeds this poll claimed but did not store (stop, crash)."""
        left = [j.id for j in jobs if j.id not in self.stored]
        if not left:
            return
        with transaction(self.sessions) as session:
            session.execute(
                update(Feed)
                .where(Feed.id.in_(left), Feed.lease_owner == self.owner)
                .values(lease_owner=None, lease_until=None)
            )
