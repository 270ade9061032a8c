"""The poll pipeline: claim → queue → fetch workers → one writer → release.

    claim (leases) ──► todo queue ──► N fetch workers ──► done queue ──► one writer thread
      due, not in flight     │          fetch, hash, parse      (bounded)     feedpoll.FeedStore
                             └── a hung feed holds one worker; a busy host holds it at the
                                 Fetcher's per-host slot (≤ 2 at a time per host)

A fixed pool of `settings.concurrency` workers takes claimed feeds from a queue, one feed
each at a time; what they fetched goes through a queue (at most that many parsed feeds) to
the one writer, which stores whatever is waiting in one transaction, each feed whole or absent
(tracker/feedpoll.py tells one feed's story). A body lives from its fetch to its parse; what
is queued for the writer is the parsed feed, dropped once stored: memory is bounded by the
workers, not by the feeds of a poll.

A *round* is what one claim took. Network failures wait for the rest of their round, because
the offline rule needs every fetch's result (every fetch failed at the network level, on at
least two servers: we are offline, and no feed is backed off); a round ends when every feed it
claimed is stored, and the questions its evidence touched are rescored then.

`tracker poll` runs one round in the calling thread and returns its summary. The daemon keeps
one `StandingPipeline` in its own thread for as long as it runs: APScheduler's poll job only
calls `dispatch()` every tick, which claims the feeds that are due and not in flight (a feed
held by its host's Retry-After is not due: the hold is its next_poll) and queues them; the
job never waits for a fetch, so a slow feed never makes a tick be skipped.

Speed devices, each kept because bench/poll.py shows what it buys:
- parse and match in worker processes (tracker/sandbox.py), in parallel with the fetching;
- uvloop, where installed: a poll answered by 304s is mostly event-loop and socket work;
- gc.freeze() once per process: full collections stop walking the modules' objects;
- the writer stores what is waiting in one transaction, each step one statement for every
  feed of the batch (quiet feeds: one executemany): a commit, a transaction's set-up and a
  statement's compilation per batch, not per feed (the writer's CPU in a cold poll of 300
  feeds: 2.2-2.9 s when each feed had its own statements, 1.5-1.7 s so).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import gc
import hashlib
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from .config import Settings, is_dead_here, load_settings, process_owner
from .db import transaction
from .errors import UsageError, valid
from .feedpoll import KEY_CHUNK, FeedOutcome, FeedStore, Fetched, Job, Outcome
from .fetch import USER_AGENT, Fetcher, FetchResult
from .ledger import rescore
from .matching import Cues, Rule
from .models import Evidence, Feed, Indicator, Question
from .sandbox import Parsers
from .text import count, oneline
from .timeutil import utcnow

log = logging.getLogger("tracker.poll")

LEASE = timedelta(minutes=5)
FETCHER_LIFE = timedelta(minutes=10)  # DNS answers and idle connections are kept this long
BATCH = 50  # feeds the writer stores in one transaction, when that many are waiting

FetcherFactory = Callable[[Settings], Fetcher]
Clock = Callable[[], datetime]


@dataclass
class PollSummary:
    """Every feed's outcome and the totals of one poll (one round of the pipeline)."""

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
        return sum(1 for f in self.feeds if f.outcome in (Outcome.ERROR, Outcome.GONE))

    @property
    def skipped(self) -> int:
        """Feeds named but not polled (retired)."""
        return sum(1 for f in self.feeds if f.outcome == Outcome.SKIPPED)

    @property
    def ok(self) -> bool:
        """True unless feeds were fetched and none of them worked (the exit-0 rule)."""
        tried = [f for f in self.feeds if f.outcome != Outcome.SKIPPED]
        return not tried or any(f.worked for f in tried)

    def add(self, outcome: FeedOutcome) -> None:
        self.feeds.append(outcome)
        self.new_entries += outcome.new_entries
        self.new_evidence += outcome.new_evidence
        self.hits += outcome.hits
        self.blocked += outcome.blocked


def default_fetcher(settings: Settings) -> Fetcher:
    """A Fetcher as DESIGN §6 has it, with the concurrency of the settings."""
    return Fetcher(user_agent=USER_AGENT, concurrency=settings.concurrency)


@functools.cache  # once per process
def freeze_long_lived() -> None:
    """Before a process's first poll: take what start-up made out of the collector's sight.

    By then the process holds a hundred thousand objects of its modules, classes and schema,
    alive until it exits; every full collection walked them all (some 40 ms). gc.freeze()
    moves them to a generation never collected; reference counting still frees every object,
    and only cycles among those there at that moment (next to none) would stay.
    """
    gc.freeze()


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop where it is installed (a dependency except on Windows), else
    asyncio's own: uvloop does the event-loop and socket work of 304s in C."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


@dataclass
class _Round:
    """The feeds one claim took, until every one of them is stored."""

    summary: PollSummary
    jobs: int
    fetching: int
    left: int
    network_failures: list[Fetched] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)


class Pipeline:
    """The workers, the writer and the rounds; runs in one event loop (see the module doc)."""

    def __init__(self, sessions: sessionmaker[Session], *, owner: str, clock: Clock,
                 settings: Settings, fetcher_factory: FetcherFactory | None = None,
                 on_feed: Callable[[FeedOutcome], None] | None = None,
                 on_round: Callable[[PollSummary], None] | None = None,
                 stop: threading.Event | None = None) -> None:
        self.sessions = sessions
        self.owner = owner
        self.clock = clock
        self.settings = settings
        self.fetcher_factory = fetcher_factory or default_fetcher
        self.on_feed = on_feed
        self.on_round = on_round
        self.stop = stop
        self.store = FeedStore(sessions, clock)
        # One writer thread: the database is written in one place, a feed at a time, while
        # the fetching goes on.
        self.writer = ThreadPoolExecutor(1, thread_name_prefix="tracker-store")
        self.workers = max(settings.concurrency, 1)
        self.in_flight: dict[str, _Round] = {}  # claimed and not yet stored; loop thread only
        self.first_round: _Round | None = None  # the first claim's round; see first_round_ended
        self.rules: tuple[dict[str, Rule], Cues] | None = None
        self.parsers: Parsers | None = None
        self.retired_parsers: list[Parsers] = []
        self._todo: asyncio.Queue[Job] | None = None
        self._done: asyncio.Queue[Fetched | None] | None = None  # None: the todo ran dry
        self._parsed_slots: asyncio.Semaphore | None = None
        self._fetcher: Fetcher | None = None
        self._fetcher_born = 0.0
        self._fetchers: dict[Fetcher, int] = {}  # fetchers with fetches in flight: how many
        self._tasks: list[asyncio.Task[None]] = []

    # --- running ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the workers and the writer in the running loop."""
        self._todo = asyncio.Queue()
        # Parsed feeds wait for the writer at most `workers` at a time (memory); quiet ones,
        # a few bytes each, without a bound, so the writer can mark many polled at once.
        self._done = asyncio.Queue()
        self._parsed_slots = asyncio.Semaphore(self.workers)
        self._fetcher = self.fetcher_factory(self.settings)
        self._fetcher_born = asyncio.get_running_loop().time()
        self._tasks = [asyncio.create_task(self._work()) for _ in range(self.workers)]
        self._tasks.append(asyncio.create_task(self._write()))

    async def wait(self, until: asyncio.Event | None = None) -> None:
        """Until `until` is set or the stop is requested (looked at every tenth of a second);
        a failed worker or writer is raised here."""
        waiter = asyncio.ensure_future(until.wait()) if until is not None else None
        try:
            while not self._stopping() and not (waiter is not None and waiter.done()):
                for task in self._tasks:
                    if task.done() and not task.cancelled() and task.exception() is not None:
                        raise task.exception()  # type: ignore[misc]
                if waiter is not None:
                    await asyncio.wait({waiter}, timeout=0.1)
                else:
                    await asyncio.sleep(0.1)
        finally:
            if waiter is not None:
                waiter.cancel()

    async def close(self) -> None:
        """Abandon the fetches in flight, let a store already running finish (its transaction
        is whole; queued ones never start), give back the leases of what was not stored."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for fetcher in {*self._fetchers, self._fetcher}:
            if fetcher is not None:
                await fetcher.aclose()
        # Parses in flight are dropped with their workers.
        for parsers in [*self.retired_parsers, self.parsers]:
            if parsers is not None:
                parsers.close()
        self.writer.shutdown(wait=True, cancel_futures=True)
        self._release(list(self.in_flight))
        self.in_flight.clear()

    def _stopping(self) -> bool:
        return self.stop is not None and self.stop.is_set()

    # --- claiming --------------------------------------------------------------------------

    async def claim(self, feed_ids: Sequence[str] | None = None, all_feeds: bool = False,
                    ) -> tuple[_Round, list[FeedOutcome]]:
        """Claim the feeds to poll (not those in flight here) and queue them as one round."""
        assert self._todo is not None, "start() first"
        loop = asyncio.get_running_loop()
        busy = frozenset(self.in_flight)
        jobs, skipped, leased = await loop.run_in_executor(
            self.writer, self._claim, feed_ids, all_feeds, busy)
        round_ = _Round(PollSummary(leased=leased), len(jobs), len(jobs), len(jobs))
        if self.first_round is None and (jobs or not leased):
            # a claim that found every due feed leased to another daemon polled nothing:
            # the first round is the first that polls, or that finds nothing due at all
            self.first_round = round_
        for job in jobs:
            self.in_flight[job.id] = round_
            self._todo.put_nowait(job)
        if not jobs:
            await self._end_round(round_)
        return round_, skipped

    def _claim(self, feed_ids: Sequence[str] | None, all_feeds: bool, busy: frozenset[str]
               ) -> tuple[list[Job], list[FeedOutcome], int]:
        with transaction(self.sessions) as session:
            settings = load_settings(session)
            now = self.clock()
            _rescore_stale(session, now)
            _free_dead_leases(session, now)
            jobs, skipped = _claim(session, settings, feed_ids, all_feeds, now, self.owner,
                                   busy)
            leased = _leased(session, now, self.owner)
            if jobs:
                self._follow_rules((_rules(session), Cues.from_settings(settings.matching)))
        return jobs, skipped, leased

    def _follow_rules(self, rules: tuple[dict[str, Rule], Cues]) -> None:
        """Parse with the rules in force: after a sync changed them, new parse workers."""
        if rules == self.rules:
            return
        self.rules = rules
        if self.parsers is not None:
            self.parsers.retire()  # its parses in flight finish under the old rules
            self.retired_parsers.append(self.parsers)
            self.parsers = None

    def _parsers(self, feeds: int) -> Parsers:
        if self.parsers is None:
            assert self.rules is not None
            self.parsers = Parsers(feeds, *self.rules)
        return self.parsers

    # --- fetch workers ---------------------------------------------------------------------

    async def _work(self) -> None:
        """One worker: a feed at a time, fetched, hashed and (if it changed) parsed."""
        assert self._todo is not None and self._done is not None
        while True:
            job = await self._todo.get()
            if self._todo.empty():
                self._done.put_nowait(None)  # the writer holds no quiet feed back any longer
            round_ = self.in_flight[job.id]
            try:
                item = await self._fetch(job, round_)
            except Exception as exc:  # nothing one feed does may take a worker away
                log.exception("feed %s: could not poll", job.id)
                item = Fetched(job, FetchResult(job.url, "error", error=(
                    f"unexpected error: {type(exc).__name__}: {exc}")), "")
            if item is not None:
                await self._to_writer(item)
            round_.fetching -= 1
            if round_.fetching == 0 and round_.network_failures:
                await self._network_failures(round_)

    async def _fetch(self, job: Job, round_: _Round) -> Fetched | None:
        """Fetch, hash and (if it changed) parse one feed; None for a network failure, which
        waits for the rest of its round."""
        fetcher = await self._current_fetcher()
        self._fetchers[fetcher] = self._fetchers.get(fetcher, 0) + 1
        try:
            result = await fetcher.fetch(job.url, etag=job.etag, last_modified=job.last_modified)
        finally:
            self._fetchers[fetcher] -= 1
            if not self._fetchers[fetcher]:
                del self._fetchers[fetcher]
                if fetcher is not self._fetcher:
                    await fetcher.aclose()
        if result.outcome == "error" and result.network_error:
            round_.network_failures.append(Fetched(job, result, ""))
            return None
        body, result.body = result.body or b"", None
        item = Fetched(job, result, hashlib.sha256(body).hexdigest())
        if result.outcome == "ok" and not item.quiet:
            # Parsed before the writer gets it, so a transaction is only writing.
            item.parsed, item.matches = await self._parsers(round_.jobs).parse(
                body, result.final_url or job.url)
        return item

    async def _current_fetcher(self) -> Fetcher:
        """The Fetcher for a new fetch: a standing pipeline makes a new one every
        FETCHER_LIFE, so host names are resolved again (a Fetcher resolves each once) and idle
        connections do not pile up; the old one closes when its last fetch is done."""
        assert self._fetcher is not None
        now = asyncio.get_running_loop().time()
        if now - self._fetcher_born > FETCHER_LIFE.total_seconds():
            old, self._fetcher = self._fetcher, self.fetcher_factory(self.settings)
            self._fetcher.keep_holds(old)
            self._fetcher_born = now
            if old not in self._fetchers:
                await old.aclose()
        return self._fetcher

    async def _to_writer(self, item: Fetched) -> None:
        assert self._done is not None and self._parsed_slots is not None
        if item.parsed is not None:
            await self._parsed_slots.acquire()  # given back once the writer stored it
        self._done.put_nowait(item)

    async def _network_failures(self, round_: _Round) -> None:
        """Offline needs evidence: every fetch failed at the network level, and on at least
        two servers; one dead server polled alone is that feed's failure, not ours."""
        failures, round_.network_failures = round_.network_failures, []
        servers = {urlsplit(f.result.final_url or f.job.url).netloc.lower() for f in failures}
        offline = len(failures) == round_.jobs and len(servers) >= 2
        round_.summary.offline = offline
        for item in failures:
            item.offline = offline
            await self._to_writer(item)

    # --- the writer ------------------------------------------------------------------------

    async def _write(self) -> None:
        """Store what the workers fetched, as it comes: changed feeds that are waiting in one
        transaction; quiet ones gathered BATCH at a time while feeds wait to be fetched, then
        as they come."""
        assert self._done is not None and self._todo is not None
        assert self._parsed_slots is not None
        quiet: list[Fetched] = []
        while True:
            batch = [await self._done.get()]
            while len(batch) < BATCH and not self._done.empty():
                batch.append(self._done.get_nowait())
            fetched = [item for item in batch if item is not None]
            quiet += [item for item in fetched if item.quiet]
            changed = [item for item in fetched if self.store.storable(item)]
            rest = [item for item in fetched if not item.quiet and not self.store.storable(item)]
            try:
                if quiet and (len(quiet) >= BATCH or self._todo.empty()):
                    group, quiet = quiet, []
                    await self._stored(group, self._store_quiet)
                if changed:
                    await self._stored(changed, self._store_changed)
                for item in rest:
                    await self._stored([item], lambda items: [self.store.settle(items[0])])
            finally:
                for item in fetched:
                    if item.parsed is not None:
                        self._parsed_slots.release()

    async def _stored(self, items: list[Fetched],
                      store: Callable[[list[Fetched]], list[FeedOutcome]]) -> None:
        """Store `items` in the writer thread and report each. When the database itself
        fails (unreachable, disk full: no fault of these feeds), they are reported not stored,
        with no failure counted; their leases lapse and a later poll takes them again. The
        writer goes on: a database that comes back finds the poller still polling."""
        loop = asyncio.get_running_loop()
        try:
            outcomes = await loop.run_in_executor(self.writer, store, items)
        except Exception as exc:
            reason = oneline(f"{type(exc).__name__}: {exc}", 300)
            log.error("could not store %s (%s); polled again once the database answers",
                      count(len(items), "feed"), reason)
            outcomes = [FeedOutcome(item.job.id, Outcome.ERROR, error=f"not stored: {reason}")
                        for item in items]
        for item, outcome in zip(items, outcomes, strict=True):
            await self._report(item.job, outcome)

    def _store_quiet(self, batch: list[Fetched]) -> list[FeedOutcome]:
        try:
            return self.store.quiet(batch)
        except Exception:  # one feed's row must not stop the others: each on its own
            log.exception("could not mark %d quiet feeds polled at once", len(batch))
            return [self.store.settle(item) for item in batch]

    def _store_changed(self, batch: list[Fetched]) -> list[FeedOutcome]:
        if len(batch) > 1:
            try:
                return self.store.changed(batch)
            except Exception:  # then each on its own: a failure to store is one feed's
                log.warning("could not store %d feeds at once; storing each on its own",
                            len(batch), exc_info=True)
        return [self.store.settle(item) for item in batch]

    async def _report(self, job: Job, outcome: FeedOutcome) -> None:
        round_ = self.in_flight.pop(job.id)
        round_.summary.add(outcome)
        if self.on_feed is not None:
            self.on_feed(outcome)
        round_.left -= 1
        if round_.left == 0:
            await self._end_round(round_)

    async def _end_round(self, round_: _Round) -> None:
        """Rescore the questions whose evidence changed, once per round rather than per feed:
        F(now) is derived from the log, which each feed's transaction already left whole."""
        if self.store.touched:
            touched, self.store.touched = sorted(self.store.touched), set()
            loop = asyncio.get_running_loop()
            try:
                await loop.run_in_executor(self.writer, self._rescore, touched)
                round_.summary.questions_rescored = touched
            except Exception as exc:  # the database failed: rescored with a later round
                self.store.touched |= set(touched)
                log.error("could not rescore %s (%s); with the next round",
                          ", ".join(touched), oneline(f"{type(exc).__name__}: {exc}", 300))
        round_.done.set()
        if self.on_round is not None:
            self.on_round(round_.summary)

    @property
    def first_round_ended(self) -> bool:
        """Whether the first round has ended: every feed it claimed stored and its questions
        rescored (at once, when nothing was due). A claim that found every due feed leased to
        another daemon is no first round. Rounds end in any order: a later tick that claims
        nothing ends its empty round while the first is still fetching."""
        return self.first_round is not None and self.first_round.done.is_set()

    def _rescore(self, question_ids: list[str]) -> None:
        with transaction(self.sessions) as session:
            _rescore(session, question_ids, self.clock())

    def _release(self, feed_ids: list[str]) -> None:
        """Give back the leases of feeds claimed but not stored (stop, crash)."""
        if not feed_ids:
            return
        with transaction(self.sessions) as session:
            for i in range(0, len(feed_ids), KEY_CHUNK):
                session.execute(
                    update(Feed)
                    .where(Feed.id.in_(feed_ids[i:i + KEY_CHUNK]), Feed.lease_owner == self.owner)
                    .values(lease_owner=None, lease_until=None))


def poll(
    sessions: sessionmaker[Session],
    *,
    feed_ids: Sequence[str] | None = None,
    all_feeds: bool = False,
    now: Clock | None = None,
    owner: str | None = None,
    on_feed: Callable[[FeedOutcome], None] | None = None,
    stop: threading.Event | None = None,
    fetcher_factory: FetcherFactory | None = None,
    on_start: Callable[[int], None] | None = None,
) -> PollSummary:
    """Poll the named feeds, or all active ones, or the due ones; store, match, rescore: one
    round of the pipeline, returning once every feed it claimed is stored.

    `on_start` hears how many feeds this poll covers, `on_feed` each outcome as it is stored;
    setting `stop` abandons the fetches in flight and returns promptly.
    """
    if stop is not None and stop.is_set():
        return PollSummary()
    freeze_long_lived()
    with transaction(sessions) as session:
        settings = load_settings(session)
    pipeline = Pipeline(sessions, owner=owner or process_owner(), clock=now or utcnow,
                        settings=settings, fetcher_factory=fetcher_factory, on_feed=on_feed,
                        stop=stop)
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(_one_round(pipeline, feed_ids, all_feeds, on_start))


async def _one_round(pipeline: Pipeline, feed_ids: Sequence[str] | None, all_feeds: bool,
                     on_start: Callable[[int], None] | None) -> PollSummary:
    await pipeline.start()
    try:
        round_, skipped = await pipeline.claim(feed_ids, all_feeds)
        if on_start is not None:
            on_start(round_.jobs + len(skipped))
        for outcome in skipped:
            round_.summary.add(outcome)
            if pipeline.on_feed is not None:
                pipeline.on_feed(outcome)
        if round_.jobs:
            await pipeline.wait(round_.done)
    finally:
        await pipeline.close()
    return round_.summary


class StandingPipeline:
    """The daemon's pipeline: its own thread and event loop for as long as the daemon runs.

    `dispatch()` (from the scheduler's poll job, every tick) claims the due feeds not in
    flight and queues them; what the rounds came to is collected by `finished()`.
    """

    def __init__(self, sessions: sessionmaker[Session], *, owner: str, settings: Settings,
                 stop: threading.Event,
                 on_feed: Callable[[FeedOutcome], None] | None = None,
                 on_round: Callable[[PollSummary], None] | None = None,
                 fetcher_factory: FetcherFactory | None = None) -> None:
        self._finished: list[PollSummary] = []
        self._lock = threading.Lock()
        self._on_round = on_round
        self.pipeline = Pipeline(sessions, owner=owner, clock=utcnow, settings=settings,
                                 fetcher_factory=fetcher_factory, on_feed=on_feed,
                                 on_round=self._round_ended, stop=stop)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._run, name="tracker-pipeline", daemon=True)

    def start(self) -> None:
        freeze_long_lived()
        self.thread.start()
        self._ready.wait()

    def _run(self) -> None:
        try:
            with asyncio.Runner(loop_factory=loop_factory()) as runner:
                runner.run(self._serve())
        except Exception:
            log.exception("the poll pipeline failed; polling has stopped")
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        try:
            await self.pipeline.start()
        finally:
            self._ready.set()
        try:
            await self.pipeline.wait()
        finally:
            await self.pipeline.close()

    @property
    def settings(self) -> Settings:
        """The settings it was made with: its number of workers (concurrency) stays."""
        return self.pipeline.settings

    @property
    def dead(self) -> bool:
        """Started, and its thread has ended though no stop was asked for: polling stopped."""
        return (self.thread.ident is not None and not self.thread.is_alive()
                and not self.pipeline._stopping())

    def dispatch(self, timeout: float = 60.0) -> int:
        """Claim the due feeds not in flight and queue them; how many were queued (0 once the
        pipeline has stopped)."""
        if self._loop is None or not self.thread.is_alive():
            return 0
        try:
            future = asyncio.run_coroutine_threadsafe(self.pipeline.claim(), self._loop)
            round_, _ = future.result(timeout)
        except (concurrent.futures.CancelledError, RuntimeError):
            return 0  # the pipeline stopped (its loop closed) while we asked
        return round_.jobs

    @property
    def first_round_ended(self) -> bool:
        """Whether the daemon's first round has been stored (see Pipeline.first_round_ended)."""
        return self.pipeline.first_round_ended

    def _round_ended(self, summary: PollSummary) -> None:
        with self._lock:
            self._finished.append(summary)
        if self._on_round is not None:
            self._on_round(summary)

    def finished(self) -> PollSummary:
        """The rounds that ended since the last call, as one summary."""
        with self._lock:
            rounds, self._finished = self._finished, []
        total = PollSummary()
        for summary in rounds:
            for outcome in summary.feeds:
                total.add(outcome)
            total.offline |= summary.offline
            total.questions_rescored = sorted({*total.questions_rescored,
                                               *summary.questions_rescored})
        return total

    def join(self, timeout: float) -> bool:
        self.thread.join(timeout)
        return not self.thread.is_alive()


# --- the claim and its neighbours ------------------------------------------------------------


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
    now: datetime, owner: str, busy: frozenset[str] = frozenset(),
) -> tuple[list[Job], list[FeedOutcome]]:
    """Lease the feeds to poll; rows another process holds are skipped, never waited for, and
    so are the ones this process has in flight (their leases are renewed)."""
    query = select(
        Feed.id, Feed.url, Feed.etag, Feed.last_modified, Feed.body_hash, Feed.interval_seconds,
        Feed.held_until,
    ).order_by(Feed.id).with_for_update(skip_locked=True).where(
        or_(Feed.lease_until.is_(None), Feed.lease_until <= now, Feed.lease_owner == owner))
    skipped: list[FeedOutcome] = []
    named: list[str] = []
    if feed_ids:
        known = {f: r for f, r in session.execute(select(Feed.id, Feed.retired))}
        unknown = [f for f in feed_ids if f not in known]
        if unknown:
            live = sorted(f for f, retired in known.items() if not retired)
            raise UsageError(f"unknown feed {', '.join(unknown)}",
                             hint=valid("feeds", unknown[0], live) if live else
                             "valid feeds: none; run tracker sync")
        for f in dict.fromkeys(feed_ids):
            if known[f]:
                skipped.append(FeedOutcome(f, Outcome.SKIPPED, error="retired"))
            else:
                named.append(f)
        query = query.where(Feed.id.in_(named))
    else:
        query = query.where(Feed.retired.is_(False))
        if not all_feeds:
            query = query.where(or_(Feed.next_poll.is_(None), Feed.next_poll <= now))
    rows = list(session.execute(query))
    jobs = [
        Job(feed_id, url, etag, last_modified, body_hash,
            timedelta(seconds=seconds) if seconds else settings.poll_interval, held_until)
        for feed_id, url, etag, last_modified, body_hash, seconds, held_until in rows
        if feed_id not in busy
    ]
    # the rows are locked (FOR UPDATE; SQLite's write lock is the transaction's): one UPDATE
    # per chunk takes their leases
    leased = [row[0] for row in rows]
    for i in range(0, len(leased), KEY_CHUNK):
        session.execute(
            update(Feed)
            .where(Feed.id.in_(leased[i:i + KEY_CHUNK]))
            .values(lease_owner=owner, lease_until=now + LEASE)
            .execution_options(synchronize_session=False))
    claimed = {j.id for j in jobs}
    skipped += [FeedOutcome(f, Outcome.SKIPPED, error="being polled by another process")
                for f in named if f not in claimed]
    return jobs, skipped


def _rules(session: Session) -> dict[str, Rule]:
    """The rules of the active indicators of open questions, compiled once per claim."""
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
