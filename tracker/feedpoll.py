"""One feed's story, from what its fetch came to until it is stored: the writer's side.

`FeedStore.settle` reads top to bottom: gone (410) retires the feed; a failure or a host's
Retry-After backs it off (and holds the host); a changed body stores its new entries, hits
and evidence; a quiet answer (304, or the body of last time) only marks it polled. A feed's
validators and body hash are stored in the transaction that stores its entries, so what a
feed stored is whole or absent and a crash repeats work instead of losing it (the feeds
waiting for the writer share one transaction, and a batch that fails is stored feed by feed).
Every method runs in the pipeline's one writer thread (tracker/pipeline.py): the database is
written in one place.
"""

from __future__ import annotations

import enum
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast
from urllib.parse import urlsplit

from sqlalchemy import Table, insert, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from .db import transaction
from .evidence import NewHit, record_blocked, record_hits
from .fetch import FetchResult
from .matching import Blocked, Found
from .models import Entry, Feed
from .parse import ParsedEntry, ParsedFeed
from .parse import observed_time as entry_observed_time
from .sandbox import Matches

log = logging.getLogger("tracker.poll")

MAX_BACKOFF = timedelta(hours=24)
MAX_NEW_ENTRIES = 500  # per feed and poll, newest first: a feed may send 100,000 at once
KEY_CHUNK = 500  # keys per IN (...) query, well under every backend's parameter limit
_ENTRIES = cast(Table, Entry.__table__)  # inserted through Core (see FeedStore._insert)
EntryBlocked = tuple[int, Blocked]  # a blocked match and the id of the entry it was found in


class Outcome(enum.StrEnum):
    """What polling one feed came to; a str, so JSON and the CLI print the plain word."""

    OK = "ok"
    NOT_MODIFIED = "not_modified"
    UNCHANGED = "unchanged"
    ERROR = "error"
    GONE = "gone"
    SKIPPED = "skipped"


WORKED = (Outcome.OK, Outcome.NOT_MODIFIED, Outcome.UNCHANGED)


@dataclass
class FeedOutcome:
    """What polling one feed came to."""

    feed: str
    outcome: Outcome
    new_entries: int = 0
    hits: int = 0
    new_evidence: int = 0
    blocked: int = 0  # matches a negation, hypothetical or simulation cue kept from counting
    error: str | None = None
    warning: str | None = None
    failures: int = 0
    next_poll: datetime | None = None
    held_until: datetime | None = None  # its host's Retry-After: what made it fail, or a hold
    # another feed of the host got while this one's fetch was in flight

    @property
    def worked(self) -> bool:
        return self.outcome in WORKED


@dataclass(frozen=True)
class Job:
    """A claimed feed, as read when it was claimed."""

    id: str
    url: str
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    interval: timedelta
    held_until: datetime | None = None  # its host's hold when it was claimed (--all polls one)

    @property
    def host(self) -> str:
        return (urlsplit(self.url).hostname or "").lower()


@dataclass
class Fetched:
    """A fetch on its way to the writer: the body itself is gone, parsed (if it changed)."""

    job: Job
    result: FetchResult
    digest: str
    parsed: ParsedFeed | None = None
    matches: Matches | None = None
    offline: bool = False  # a network failure in a poll where every fetch failed so

    @property
    def quiet(self) -> bool:
        """Nothing new: a 304, or the very body stored last time."""
        r = self.result
        return r.outcome == "not_modified" or (r.outcome == "ok"
                                               and self.digest == self.job.body_hash)


def jittered(delay: timedelta) -> timedelta:
    """A delay shortened by up to 10 %, so feeds polled together drift apart."""
    return delay * random.uniform(0.9, 1.0)


def backoff(interval: timedelta, failures: int) -> timedelta:
    """interval · 2^failures, at most 24 h."""
    # in seconds, capped first: a 10-day interval times 2^30 would overflow timedelta
    seconds = interval.total_seconds() * 2 ** min(failures, 30)
    return timedelta(seconds=min(seconds, MAX_BACKOFF.total_seconds()))


class FeedStore:
    """Stores what each feed's poll came to; collects the questions whose evidence changed."""

    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], datetime]) -> None:
        self.sessions = sessions
        self.clock = clock
        self.touched: set[str] = set()

    def settle(self, item: Fetched) -> FeedOutcome:
        """Store one feed's result in its own transaction; a failure to store is the feed's."""
        try:
            return self._settle(item)
        except OperationalError:
            raise  # the database failed (unreachable, disk full): not this feed's failure
        except Exception as exc:  # one feed's data must not stop the others
            log.exception("feed %s: could not store", item.job.id)
            return self.failure(item.job, f"could not store: {type(exc).__name__}: {exc}")

    def _settle(self, item: Fetched) -> FeedOutcome:
        job, result = item.job, item.result
        if result.outcome == "gone":
            return self.gone(job, result.error or "HTTP 410")
        if result.outcome == "error":
            # No request was made when the host had already asked us to wait: a hold, not a
            # failure of this feed.
            held = result.status is None and result.retry_after is not None
            return self.failure(job, result.error or "failed", result.retry_after,
                                offline=item.offline, counted=not held)
        if item.quiet:
            return self.quiet([item])[0]
        parsed = item.parsed
        assert parsed is not None, "a changed body is parsed before it is stored"
        if parsed.error or not parsed.entries:
            return self.failure(job, parsed.error or "no entries in the feed")
        return self.changed([item])[0]

    def quiet(self, batch: list[Fetched]) -> list[FeedOutcome]:
        """Mark feeds that sent nothing new as polled: one transaction, one executemany."""
        now = self.clock()
        done, rows = [], []
        with transaction(self.sessions) as session:
            holds = _holds(session, [item.job for item in batch], now)
            for item in batch:
                hold = holds.get(item.job.id)
                next_poll = _next_poll(item.job, now, hold)
                rows.append({"id": item.job.id, **_polled_ok(item.result, now, next_poll, hold)})
                done.append(FeedOutcome(item.job.id, Outcome.NOT_MODIFIED
                                        if item.result.outcome == "not_modified"
                                        else Outcome.UNCHANGED, next_poll=next_poll,
                                        held_until=hold))
            session.execute(update(Feed), rows)  # bulk UPDATE by primary key
        return done

    def changed(self, batch: list[Fetched]) -> list[FeedOutcome]:
        """Store the new entries, hits and evidence of feeds whose parse found entries; one
        transaction for the batch, each feed whole or absent with it, and each step one
        statement for the whole batch (a feed's own statements cost more than its rows)."""
        now = self.clock()
        with transaction(self.sessions) as session:
            return self._store_entries(session, batch, now)

    @staticmethod
    def storable(item: Fetched) -> bool:
        """A changed body whose parse found entries: what `changed` stores."""
        return (item.result.outcome == "ok" and not item.quiet and item.parsed is not None
                and not item.parsed.error and bool(item.parsed.entries))

    def _store_entries(self, session: Session, batch: list[Fetched],
                       now: datetime) -> list[FeedOutcome]:
        feeds: list[tuple[Fetched, list[ParsedEntry]]] = []
        for item in batch:
            assert item.parsed is not None
            unique: dict[str, ParsedEntry] = {}
            for e in item.parsed.entries:
                unique.setdefault(e.key, e)  # a duplicate id within the feed: the first wins
            feeds.append((item, list(unique.values())))
        stored = _stored(session, {(item.job.id, e.key) for item, entries in feeds
                                   for e in entries})
        news: list[list[ParsedEntry]] = []
        warnings: list[str | None] = []
        for item, entries in feeds:
            assert item.parsed is not None
            warning = item.parsed.warning
            new = [e for e in entries if (item.job.id, e.key) not in stored]
            if len(new) > MAX_NEW_ENTRIES:
                # newest first (no date counts as now); the rest may come in a later poll
                left = len(new) - MAX_NEW_ENTRIES
                new = sorted(new, key=lambda e: e.published or now,
                             reverse=True)[:MAX_NEW_ENTRIES]
                cap = f"{left} older new entries left out (at most {MAX_NEW_ENTRIES} a poll)"
                warning = cap + (f"; {warning}" if warning else "")
            news.append(new)
            warnings.append(warning)
        hits, blocked = self._insert(session, [(item, new) for (item, _), new
                                               in zip(feeds, news, strict=True)], now)
        record_blocked(session, [b for _, b in blocked], now)
        makers: dict[int, int] = {}
        touched: set[str] = set()
        if hits:
            _, touched = record_hits(session, [h for _, h in hits], now, makers)
        self.touched |= touched

        done, rows = [], []
        holds = _holds(session, [item.job for item in batch], now)
        for (item, _), new, warning in zip(feeds, news, warnings, strict=True):
            job = item.job
            hold = holds.get(job.id)
            next_poll = _next_poll(job, now, hold)
            rows.append({"id": job.id, **_polled_ok(item.result, now, next_poll, hold),
                         "body_hash": item.digest, "warning": warning})
            mine = [h for feed_id, h in hits if feed_id == job.id]
            done.append(FeedOutcome(
                job.id, Outcome.OK, new_entries=len(new), hits=len(mine),
                new_evidence=sum(makers.pop(h.entry_id, 0) for h in mine),
                blocked=sum(1 for feed_id, _ in blocked if feed_id == job.id),
                warning=warning, next_poll=next_poll, held_until=hold))
        session.execute(update(Feed), rows)  # bulk UPDATE by primary key
        return done

    @staticmethod
    def _insert(session: Session, feeds: list[tuple[Fetched, list[ParsedEntry]]],
                now: datetime) -> tuple[list[tuple[str, NewHit]], list[tuple[str, EntryBlocked]]]:
        """Insert the new entries of every feed (one executemany, then one query for the
        ids of those that matched: no per-row RETURNING); their hits and blocked matches,
        found with the parse in its worker, each with its feed."""
        rows: list[dict[str, object]] = []
        matched: list[tuple[str, str, datetime, Found]] = []
        for item, new in feeds:
            found = item.matches or {}
            for e in new:
                observed = entry_observed_time(e.published, now)
                rows.append({"feed_id": item.job.id, "key": e.key, "guid": e.guid,
                             "link": e.link, "title": e.title, "summary": e.summary,
                             "published": e.published, "fetched_at": now,
                             "observed_at": observed})
                if e.key in found:
                    matched.append((item.job.id, e.key, observed, found[e.key]))
        if not rows:
            return [], []
        # Core's executemany: the ORM's bulk insert builds the same rows at twice the cost.
        session.execute(insert(_ENTRIES), rows)
        ids = _stored(session, {(feed_id, key) for feed_id, key, _, _ in matched})
        hits = [(feed_id, NewHit(ids[feed_id, key], m.indicator, observed, m.terms,
                                 m.sentence, m.marks))
                for feed_id, key, observed, found in matched for m in found.matches]
        blocked = [(feed_id, (ids[feed_id, key], b))
                   for feed_id, key, _, found in matched for b in found.blocked]
        return hits, blocked

    def gone(self, job: Job, reason: str) -> FeedOutcome:
        """HTTP 410: the feed is retired for good."""
        now = self.clock()
        with transaction(self.sessions) as session:
            feed = _locked(session, job)
            feed.gone = feed.retired = True
            feed.last_polled = feed.last_error_at = now
            feed.last_error = f"{reason}: the feed is gone and now retired"
            feed.next_poll = None
            feed.lease_owner = feed.lease_until = None
            return FeedOutcome(job.id, Outcome.GONE, error=feed.last_error,
                               failures=feed.failures)

    def failure(self, job: Job, reason: str, retry_after: datetime | None = None,
                offline: bool = False, counted: bool = True) -> FeedOutcome:
        """Record a failure and back the feed off; offline, or only held by its host's
        Retry-After, its failure count stays. A Retry-After holds the whole host."""
        now = self.clock()
        with transaction(self.sessions) as session:
            feed = _locked(session, job)
            feed.last_polled = feed.last_error_at = now
            feed.last_error = reason
            if offline or not counted:
                delay = jittered(job.interval)
            else:
                feed.failures += 1
                delay = jittered(backoff(job.interval, feed.failures))
            feed.next_poll = now + delay
            feed.held_until = retry_after
            if retry_after is not None:
                feed.next_poll = max(feed.next_poll, retry_after)
                _hold_host(session, job, retry_after)
            feed.lease_owner = feed.lease_until = None
            return FeedOutcome(job.id, Outcome.ERROR, error=reason, failures=feed.failures,
                               next_poll=feed.next_poll, held_until=retry_after)


def _stored(session: Session, wanted: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """Which of these (feed, key) pairs are stored: their entry ids. One query per KEY_CHUNK
    keys, over the batch's feeds at once (a key of one feed may come back for another: only
    the pairs asked for are kept)."""
    out: dict[tuple[str, str], int] = {}
    if not wanted:
        return out
    feed_ids = sorted({feed_id for feed_id, _ in wanted})
    keys = sorted({key for _, key in wanted})
    for i in range(0, len(keys), KEY_CHUNK):
        rows = session.execute(select(Entry.feed_id, Entry.key, Entry.id).where(
            Entry.feed_id.in_(feed_ids), Entry.key.in_(keys[i:i + KEY_CHUNK])))
        out.update(((feed_id, key), entry_id) for feed_id, key, entry_id in rows
                   if (feed_id, key) in wanted)
    return out


def _locked(session: Session, job: Job) -> Feed:
    feed = session.get(Feed, job.id, with_for_update=True)
    assert feed is not None, f"feed {job.id} vanished"  # feeds are retired, never deleted
    return feed


def _hold_host(session: Session, job: Job, until: datetime) -> None:
    """A Retry-After holds for the whole host: its other feeds wait too, across polls."""
    for other in session.scalars(  # in id order, as _holds locks them
        select(Feed).where(Feed.retired.is_(False), Feed.id != job.id).order_by(Feed.id)
    ):
        if (urlsplit(other.url).hostname or "").lower() == job.host and (
            other.next_poll is None or other.next_poll < until
        ):
            other.next_poll = until
            other.held_until = until


def _polled_ok(result: FetchResult, now: datetime, next_poll: datetime,
               hold: datetime | None) -> dict[str, object]:
    """The columns of a feed polled successfully: validators, failures 0, lease released;
    its host's hold, if one is in force, stays."""
    return {"etag": result.etag, "last_modified": result.last_modified, "last_polled": now,
            "last_success": now, "failures": 0, "next_poll": next_poll, "held_until": hold,
            "lease_owner": None, "lease_until": None}


def _holds(session: Session, jobs: list[Job], now: datetime) -> dict[str, datetime]:
    """The feeds among these whose host was held while their fetch was in flight: a
    Retry-After another feed of the host got meanwhile (`_hold_host` set it on them). A hold
    that was already there when the feed was claimed (`poll --all` asks a held feed too) is
    ended by the success, as any hold is."""
    claimed = {job.id: job.held_until for job in jobs}
    ids = sorted(claimed)
    out: dict[str, datetime] = {}
    for i in range(0, len(ids), KEY_CHUNK):
        # Locked (PostgreSQL; SQLite's writer holds the database) until this transaction's
        # UPDATE: another poller's hold committed in between would be overwritten otherwise.
        rows = session.execute(select(Feed.id, Feed.held_until).where(
            Feed.id.in_(ids[i:i + KEY_CHUNK])).order_by(Feed.id).with_for_update())
        out.update((feed_id, until) for feed_id, until in rows
                   if until is not None and until > now and until != claimed[feed_id])
    return out


def _next_poll(job: Job, now: datetime, hold: datetime | None) -> datetime:
    """The interval from now, jittered; not before the host's hold ends."""
    next_poll = now + jittered(job.interval)
    return next_poll if hold is None else max(next_poll, hold)
