"""`tracker poll` against a real local HTTP server: formats, dedupe, conditional GET, faults,
back-off, the offline rule, leases and stopping."""

from __future__ import annotations

import hashlib
import json
import textwrap
import threading
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, update
from sqlalchemy.orm import Session

from tests.conftest import Tracker, empty_database
from tests.feedserver import FeedServer, closed_port, fixture, gzip_bomb
from tracker.config import Settings, load_settings
from tracker.db import make_engine, make_sessionmaker
from tracker.feedpoll import FeedStore, Fetched, Job
from tracker.fetch import Fetcher, FetchResult
from tracker.matching import Cues, Matcher
from tracker.models import BlockedMatch, Entry, Evidence, Feed, Hit
from tracker.parse import parse_feed
from tracker.pipeline import Pipeline, _rules
from tracker.poll import FeedOutcome, poll
from tracker.sandbox import PARALLEL_PARSE_MIN

QUESTIONS = textwrap.dedent(
    """\
    questions:
      - id: uzbekistan-rejoins
        title: Will Uzbekistan rejoin the CSTO before 2028?
        opens: 2021-07-09
        closes: 2027-12-31
        resolution: Resolves "rejoins" if Uzbekistan becomes a full CSTO member again.
        scenarios:
          - {id: rejoins, label: Uzbekistan rejoins, prior: 0.04}
          - {id: stays-out, label: Uzbekistan stays outside, prior: 0.96}
        indicators:
          - id: uz-csto-talks
            description: Uzbek officials discuss returning to the CSTO
            match:
              all:
                - [Uzbekistan, Tashkent, Узбекистан*, Ташкент*]
                - [CSTO, ОДКБ]
              any: [rejoin*, return*, вступ*, возвращ*]
            likelihood: {rejoins: 0.9, stays-out: 0.2}
      - id: csto-response
        title: How does the CSTO respond after the US leaves Afghanistan?
        opens: 2021-07-09
        closes: 2026-12-31
        resolution: Resolves by the largest CSTO action on the Afghan border.
        scenarios:
          - {id: deploys, label: Collective deployment, prior: 0.2}
          - {id: drills, label: Drills only, prior: 0.5}
          - {id: nothing, label: No response, prior: 0.3}
        indicators:
          - id: csto-border-drills
            description: CSTO drills near the Afghan border
            match:
              all: [[CSTO, ОДКБ, OTSC], [drill*, exercise*, exercice*, учени*]]
              scope: entry  # headlines name the CSTO, summaries the drills
            likelihood: {deploys: 0.8, drills: 0.9, nothing: 0.1}
            cooldown: 7d
          - id: csto-afghan
            description: The CSTO discusses Afghanistan
            match:
              all: [[CSTO, ОДКБ], [Taliban, Afghan*, Kabul]]
            likelihood: {deploys: 0.6, drills: 0.5, nothing: 0.4}
    """
)


def write_scenarios(path: Path, feeds: dict[str, str]) -> Path:
    """A scenarios file with the questions above and these feeds (id -> URL)."""
    lines = ["version: 1", "settings:", "  scoring: {auto_weight: 0.5, floor: 0.001}",
             "  polling: {interval: 30m}", "feeds:"]
    lines += [f'  - {{id: {fid}, url: "{url}"}}' for fid, url in feeds.items()]
    path.write_text("\n".join(lines) + "\n" + QUESTIONS, encoding="utf-8")
    return path


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as s:
        yield s


def setup_tracker(db_url: str, tmp_path: Path, feeds: dict[str, str]) -> Tracker:
    """`tracker init` on a fresh database with these feeds."""
    t = Tracker(db_url, write_scenarios(tmp_path / "scenarios.yaml", feeds))
    t.ok("init")
    return t


def rows(db_url: str, query: Any) -> list[Any]:
    engine = create_engine(db_url)
    try:
        with Session(engine) as session:
            return list(session.scalars(query))
    finally:
        engine.dispose()


def feed_row(db_url: str, feed_id: str) -> Feed:
    return rows(db_url, select(Feed).where(Feed.id == feed_id))[0]


def entries(db_url: str, feed_id: str) -> list[Entry]:
    return rows(db_url, select(Entry).where(Entry.feed_id == feed_id).order_by(Entry.id))


def evidence_json(t: Tracker, *args: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads(t.ok("evidence", *args, "--json").output)["evidence"]
    return items


FORMATS = ["rss091.xml", "rss092.xml", "rss10.rdf", "rss20.xml", "atom10.xml", "cyrillic.xml",
           "latin1.xml", "no_dates.xml", "future.xml"]


def test_formats_are_stored_and_matched(db_url: str, tmp_path: Path, server: FeedServer) -> None:
    feeds = {}
    for name in FORMATS:
        server.set_file(f"/{name}", name)
        feeds[name.split(".")[0].replace("_", "-")] = server.url(f"/{name}")
    t = setup_tracker(db_url, tmp_path, feeds)
    before = datetime.now(UTC)
    out = t.ok("poll").output
    after = datetime.now(UTC)

    assert "rss20: 3 new entries, 1 hit" in out
    assert "9 feeds polled, 0 failed: 18 new entries" in out
    assert [e.title for e in entries(db_url, "cyrillic")] == [
        "ОДКБ направит миротворцев в Казахстан", "Ташкент не рассматривает возвращение в ОДКБ"]
    latin1 = entries(db_url, "latin1")[0]
    assert latin1.title == "L'OTSC renforce sa présence à la frontière tadjike"
    rss10 = entries(db_url, "rss10")
    assert rss10[0].published == datetime(2023, 11, 22, 10, 5, tzinfo=UTC)
    assert rss10[0].observed_at == rss10[0].published
    # No date, or a date in the future: the entry counts from when it was fetched.
    for e in entries(db_url, "no-dates") + entries(db_url, "future")[:1]:
        assert before <= e.observed_at == e.fetched_at <= after
    future = entries(db_url, "future")
    assert future[0].published == datetime(2095, 1, 1, tzinfo=UTC)
    assert future[1].observed_at == datetime(2021, 10, 20, 10, tzinfo=UTC)

    items = {(e["indicator"], e["hits"][0]["feed"]): e for e in evidence_json(t)}
    talks = items[("uz-csto-talks", "rss20")]
    # CDATA HTML: the hit is found through the tags, and keeps the terms it matched.
    assert talks["observed_at"] == "2021-07-12T06:30:00Z"
    assert talks["hits"][0]["title"] == "Uzbekistan weighs rejoining the CSTO"
    assert talks["factor"] == pytest.approx({"rejoins": 0.95, "stays-out": 0.6})  # 0.5·L + 0.5
    # "Tashkent is not considering a return to the CSTO": seen, kept, and blocked by its cue.
    assert ("uz-csto-talks", "cyrillic") not in items
    (blocked,) = rows(db_url, select(BlockedMatch))
    assert (blocked.indicator_id, blocked.cue, blocked.kind) == ("uz-csto-talks", "не", "negation")
    assert blocked.sentence == "Ташкент не рассматривает возвращение в ОДКБ"
    assert ("csto-border-drills", "latin1") in items
    assert ("csto-afghan", "atom10") in items
    hit_terms = {tuple(h.terms) for h in rows(db_url, select(Hit))}
    # Terms of the sentence that reports it (the title), not of the whole entry.
    assert ("Uzbekistan", "CSTO", "rejoin*") in hit_terms
    assert "1 blocked" in out


def test_second_poll_is_conditional_and_adds_nothing(
    db_url: str, tmp_path: Path, server: FeedServer
) -> None:
    server.set_file("/a.xml", "rss20.xml")
    t = setup_tracker(db_url, tmp_path, {"a": server.url("/a.xml")})
    t.ok("poll")
    evidence = evidence_json(t)
    assert "a: not modified" in t.ok("poll", "--all").output
    assert server.hits("/a.xml") == 2
    assert server.requests("/a.xml")[1]["if-none-match"] == feed_row(db_url, "a").etag
    assert len(entries(db_url, "a")) == 3
    assert evidence_json(t) == evidence

    # The same body without validators is recognized by its hash and not parsed again.
    server.set_fault("/a.xml", etag=None, last_modified=None)
    assert "a: unchanged" in t.ok("poll", "a").output
    # A changed body: only the entry not seen before is new, and only it can be a hit.
    extra = (b"<item><title>Tashkent may return to the CSTO</title><guid>new-1</guid>"
             b"<pubDate>Mon, 02 Aug 2021 09:00:00 GMT</pubDate></item></channel>")
    server.set("/a.xml", fixture("rss20.xml").replace(b"</channel>", extra))
    assert "a: 1 new entry, 1 hit" in t.ok("poll", "a").output
    assert len(entries(db_url, "a")) == 4
    assert len(rows(db_url, select(Hit))) == 2


def test_duplicate_guids_are_one_entry(db_url: str, tmp_path: Path, server: FeedServer) -> None:
    server.set_file("/d.xml", "duplicate_guids.xml")
    t = setup_tracker(db_url, tmp_path, {"d": server.url("/d.xml")})
    assert "d: 2 new entries, 1 hit" in t.ok("poll").output
    first = entries(db_url, "d")[0]
    assert first.guid == "echo-42"
    assert first.published == datetime(2021, 10, 18, 7, tzinfo=UTC)


def test_same_story_in_two_feeds_is_one_evidence_item(
    db_url: str, tmp_path: Path, server: FeedServer
) -> None:
    server.set_file("/a.xml", "same_story_a.xml")
    server.set_file("/b.xml", "same_story_b.xml")
    t = setup_tracker(db_url, tmp_path, {"syn-a": server.url("/a.xml"),
                                         "syn-b": server.url("/b.xml")})
    t.ok("poll")
    assert len(entries(db_url, "syn-a")) == len(entries(db_url, "syn-b")) == 1
    [item] = evidence_json(t)
    assert item["indicator"] == "csto-afghan"
    assert item["observed_at"] == "2021-08-20T15:00:00Z"
    assert sorted(h["feed"] for h in item["hits"]) == ["syn-a", "syn-b"]


def quick_fetcher(settings: Settings) -> Fetcher:
    """A Fetcher with short deadlines and a small cap, so faults show up fast."""
    return Fetcher(concurrency=16, per_host=16, total_timeout=2.0, max_bytes=200_000,
                   public_hosts={"localhost"})


def test_every_fault_leaves_the_poll_finishing(
    db_url: str, tmp_path: Path, server: FeedServer
) -> None:
    server.set_file("/good.xml", "rss20.xml")
    server.set_file("/good-too.xml", "atom10.xml")
    server.set_fault("/trickle.xml", trickle=True, trickle_interval=0.2)
    server.set_fault("/gone.xml", status=410)
    server.set_fault("/broken.xml", status=500)
    server.set_fault("/loop.xml", redirect="/loop.xml")
    server.set_fault("/public.xml", redirect=server.url("/good.xml"))
    for name in ("malformed.xml", "page.html", "empty.xml", "invalid_bytes.bin",
                 "billion_laughs.xml", "xxe.xml"):
        server.set_file(f"/{name}", name)
    server.set("/big.xml", b"<rss>" + b" " * 300_000 + b"</rss>")
    server.set_fault("/bomb.xml", encoded=gzip_bomb(50))
    faults = {
        "refused": (f"http://127.0.0.1:{closed_port()}/feed.xml", "connection refused"),
        "trickle": (server.url("/trickle.xml"), "timed out"),
        "missing": (server.url("/missing.xml"), "HTTP 404"),
        "broken": (server.url("/broken.xml"), "HTTP 500"),
        "loop": (server.url("/loop.xml"), "too many redirects"),
        "public": (server.url("/public.xml", host="localhost"), "private address"),
        "malformed": (server.url("/malformed.xml"), "malformed XML"),
        "page": (server.url("/page.html"), "HTML page"),
        "empty": (server.url("/empty.xml"), "empty body"),
        "invalid": (server.url("/invalid_bytes.bin"), "malformed XML"),
        "big": (server.url("/big.xml"), "cap"),
        "bomb": (server.url("/bomb.xml"), "cap"),
    }
    feeds = {fid: url for fid, (url, _) in faults.items()}
    feeds |= {"good": server.url("/good.xml"), "good-too": server.url("/good-too.xml"),
              "gone": server.url("/gone.xml"), "laughs": server.url("/billion_laughs.xml"),
              "xxe": server.url("/xxe.xml")}
    setup_tracker(db_url, tmp_path, feeds)
    engine = make_engine(db_url)
    tracemalloc.start()
    try:
        summary = poll(make_sessionmaker(engine), fetcher_factory=quick_fetcher)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        engine.dispose()

    assert peak < 64 * 1024 * 1024  # the 50 MB bomb never inflates in memory
    assert summary.ok and not summary.offline
    outcomes = {o.feed: o.outcome for o in summary.feeds}
    assert outcomes["good"] == outcomes["good-too"] == "ok"
    assert len(entries(db_url, "good")) == 3 and len(entries(db_url, "good-too")) == 2
    for fid, (_, reason) in faults.items():
        row = feed_row(db_url, fid)
        assert outcomes[fid] == "error", fid
        assert reason in (row.last_error or ""), (fid, row.last_error)
        assert row.failures == 1 and row.last_error_at is not None, fid
        assert row.lease_owner is None, fid
    gone = feed_row(db_url, "gone")
    assert gone.gone and gone.retired and "410" in (gone.last_error or "")
    # Entities are never expanded: what a feed declares stays literal text, with a warning.
    for fid in ("laughs", "xxe"):
        assert outcomes[fid] == "ok"
        assert "entity" in (feed_row(db_url, fid).warning or "")
        assert all("lol" * 10 not in e.title + e.summary and "root:" not in e.summary
                   for e in entries(db_url, fid))


def test_retry_after_holds_the_feed(db_url: str, tmp_path: Path, server: FeedServer) -> None:
    server.set_fault("/limited.xml", status=429, retry_after="7200")
    server.set_file("/ok.xml", "rss20.xml")
    setup_tracker(db_url, tmp_path, {"limited": server.url("/limited.xml"),
                                     "fine": server.url("/ok.xml", host="localhost")})
    engine = make_engine(db_url)
    start = datetime.now(UTC)
    try:
        poll(make_sessionmaker(engine), fetcher_factory=quick_fetcher)
    finally:
        engine.dispose()
    limited = feed_row(db_url, "limited")
    assert limited.last_error == "HTTP 429" and limited.failures == 1
    assert limited.next_poll is not None and limited.next_poll >= start + timedelta(hours=2)
    assert len(entries(db_url, "fine")) == 3


def test_retry_after_holds_the_whole_host_across_polls(
    db_url: str, tmp_path: Path, server: FeedServer
) -> None:
    server.set_fault("/limited.xml", status=429, retry_after="7200")
    server.set_file("/neighbour.xml", "rss20.xml")
    server.set_file("/elsewhere.xml", "atom10.xml")
    t = setup_tracker(db_url, tmp_path, {
        "limited": server.url("/limited.xml"),
        "neighbour": server.url("/neighbour.xml"),
        "elsewhere": server.url("/elsewhere.xml", host="localhost"),
    })
    start = datetime.now(UTC)
    t("poll", "limited")
    # Every feed is due; the neighbour shares the limited feed's host, so it waits too.
    t("poll")
    assert server.hits("/neighbour.xml") == 0
    assert server.hits("/elsewhere.xml") == 1
    neighbour = feed_row(db_url, "neighbour")
    assert neighbour.failures == 0
    assert neighbour.next_poll is not None and neighbour.next_poll >= start + timedelta(hours=2)


def test_a_fetch_in_flight_when_its_host_asks_to_wait_keeps_the_hold(
    db_url: str, tmp_path: Path, server: FeedServer
) -> None:
    """A Retry-After holds the whole host: a feed of that host whose fetch was already under
    way succeeds, but its next poll still waits for the hold (it used to get its interval)."""
    server.set_fault("/limited.xml", status=429, retry_after="7200")
    server.set_file("/slow.xml", "rss20.xml")
    server.set_fault("/slow.xml", delay=1.5)
    setup_tracker(db_url, tmp_path, {"limited": server.url("/limited.xml"),
                                     "slow": server.url("/slow.xml")})
    engine = make_engine(db_url)
    start = datetime.now(UTC)
    try:
        summary = poll(make_sessionmaker(engine), fetcher_factory=quick_fetcher)
    finally:
        engine.dispose()
    assert server.hits("/slow.xml") == 1 and len(entries(db_url, "slow")) == 3
    limited, slow = feed_row(db_url, "limited"), feed_row(db_url, "slow")
    assert limited.held_until is not None and limited.held_until >= start + timedelta(hours=2)
    assert slow.failures == 0 and slow.last_success is not None
    assert slow.held_until == limited.held_until
    assert slow.next_poll is not None and slow.next_poll >= limited.held_until
    [outcome] = [o for o in summary.feeds if o.feed == "slow"]
    assert outcome.outcome == "ok" and outcome.held_until == limited.held_until


def test_failures_back_off_up_to_a_day(db_url: str, tmp_path: Path, server: FeedServer) -> None:
    server.set_fault("/broken.xml", status=500)
    server.set_file("/ok.xml", "rss20.xml")
    t = setup_tracker(db_url, tmp_path, {"broken": server.url("/broken.xml"),
                                         "fine": server.url("/ok.xml")})
    for failures in (1, 2, 3):
        out = t("poll", "broken", "fine").output
        assert f"broken: failed: HTTP 500 ({failures} failure" in out
        row = feed_row(db_url, "broken")
        assert row.failures == failures and row.last_error_at and row.next_poll
        delay = row.next_poll - row.last_error_at
        expected = timedelta(minutes=30) * 2 ** failures
        assert 0.9 * expected <= delay <= expected  # up to 10 % jitter, never later
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(update(Feed).where(Feed.id == "broken").values(failures=12))
    engine.dispose()
    t("poll", "broken")
    row = feed_row(db_url, "broken")
    assert row.failures == 13 and row.next_poll and row.last_error_at
    assert timedelta(hours=21.6) <= row.next_poll - row.last_error_at <= timedelta(hours=24)
    server.set_file("/broken.xml", "rss20.xml")
    server.set_fault("/broken.xml", status=200)
    t.ok("poll", "broken")
    assert feed_row(db_url, "broken").failures == 0


def test_offline_counts_no_failures(db_url: str, tmp_path: Path) -> None:
    t = setup_tracker(db_url, tmp_path, {
        "a": f"http://127.0.0.1:{closed_port()}/a.xml",
        "b": f"http://127.0.0.1:{closed_port()}/b.xml",
    })
    result = t("poll", "--json")
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["offline"] is True
    for fid in ("a", "b"):
        row = feed_row(db_url, fid)
        assert row.failures == 0 and row.last_error == "connection refused"
        assert row.next_poll is not None and row.last_error_at is not None
        assert row.next_poll - row.last_error_at <= timedelta(minutes=30)


def test_one_refused_feed_among_working_ones_counts(
    db_url: str, tmp_path: Path, server: FeedServer
) -> None:
    server.set_file("/ok.xml", "rss20.xml")
    t = setup_tracker(db_url, tmp_path, {"down": f"http://127.0.0.1:{closed_port()}/a.xml",
                                         "fine": server.url("/ok.xml")})
    assert t("poll").exit_code == 0
    assert feed_row(db_url, "down").failures == 1


def test_exit_statuses_and_feed_selection(db_url: str, tmp_path: Path, server: FeedServer) -> None:
    server.set_file("/ok.xml", "rss20.xml")
    server.set_fault("/gone.xml", status=410)
    t = setup_tracker(db_url, tmp_path, {"fine": server.url("/ok.xml"),
                                         "gone": server.url("/gone.xml")})
    first = t("poll", "gone")
    assert first.exit_code == 1 and "gone: gone: HTTP 410" in first.output
    again = t("poll", "gone")  # named but retired now: skipped, nothing tried
    assert again.exit_code == 0 and "gone: skipped (retired)" in again.output
    assert t("poll", "nope").exit_code == 2
    assert "valid feeds: fine" in t("poll", "nope").output
    assert t.ok("poll").output.count("fine: 3 new entries") == 1
    assert "no feed is due" in t.ok("poll").output  # fine is not due again yet; gone retired
    assert server.hits("/gone.xml") == 1
    # still in the file: sync says why nothing will poll it (it said nothing)
    assert ("note: feed gone answered 410 Gone and stays retired: give it another URL, or "
            "remove it from the file") in t.ok("sync").output


def test_a_feed_leased_elsewhere_is_left_alone(
    db_url: str, tmp_path: Path, server: FeedServer
) -> None:
    server.set_file("/ok.xml", "rss20.xml")
    t = setup_tracker(db_url, tmp_path, {"fine": server.url("/ok.xml")})
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(update(Feed).values(lease_owner="other:1",
                                         lease_until=datetime.now(UTC) + timedelta(minutes=5)))
    assert "skipped (being polled by another process)" in t.ok("poll", "fine").output
    assert "no feed is due" in t.ok("poll", "--all").output
    with engine.begin() as conn:  # an expired lease is free again
        conn.execute(update(Feed).values(lease_until=datetime.now(UTC) - timedelta(seconds=1)))
    engine.dispose()
    assert "fine: 3 new entries" in t.ok("poll").output
    assert server.hits("/ok.xml") == 1


def test_stop_abandons_fetches_in_flight(db_url: str, tmp_path: Path, server: FeedServer) -> None:
    server.set_file("/ok.xml", "rss20.xml")
    server.set_fault("/slow.xml", trickle=True, trickle_interval=0.1)
    setup_tracker(db_url, tmp_path, {"fine": server.url("/ok.xml"),
                                     "slow": server.url("/slow.xml", host="localhost")})
    stop = threading.Event()

    def on_feed(outcome: FeedOutcome) -> None:
        stop.set()  # as SIGTERM would, once the first feed is stored

    engine = make_engine(db_url)
    try:
        summary = poll(make_sessionmaker(engine), stop=stop, on_feed=on_feed)
    finally:
        engine.dispose()
    assert [o.feed for o in summary.feeds] == ["fine"]
    assert len(entries(db_url, "fine")) == 3
    slow = feed_row(db_url, "slow")
    assert slow.last_polled is None and slow.failures == 0 and slow.lease_owner is None


def test_poll_prints_json(db_url: str, tmp_path: Path, server: FeedServer) -> None:
    server.set_file("/ok.xml", "rss20.xml")
    t = setup_tracker(db_url, tmp_path, {"fine": server.url("/ok.xml")})
    data = json.loads(t.ok("poll", "--json").output)
    assert data["new_entries"] == 3 and data["new_evidence"] == 1 and data["hits"] == 1
    assert data["feeds"][0]["id"] == "fine" and data["feeds"][0]["outcome"] == "ok"
    assert data["questions_rescored"] == ["uzbekistan-rejoins"]
    assert rows(db_url, select(Evidence))[0].state == "auto"


def test_a_large_poll_parses_in_worker_processes(
    db_url: str, tmp_path: Path, server: FeedServer
) -> None:
    count = PARALLEL_PARSE_MIN + 4
    feeds = {}
    for i in range(count):
        title = "Tashkent may return to the CSTO" if i % 2 else "Almaty reviews water quotas"
        body = (f'<?xml version="1.0"?><rss version="2.0"><channel><title>f{i}</title><item>'
                f"<title>{title}</title><guid>f{i}-1</guid>"
                "<pubDate>Mon, 02 Aug 2021 09:00:00 GMT</pubDate></item></channel></rss>")
        server.set(f"/f{i}.xml", body.encode())
        feeds[f"f{i}"] = server.url(f"/f{i}.xml")
    t = setup_tracker(db_url, tmp_path, feeds)
    data = json.loads(t.ok("poll", "--json").output)
    assert sum(1 for f in data["feeds"] if f["outcome"] == "ok") == count
    assert data["new_entries"] == count and data["hits"] == count // 2
    [item] = evidence_json(t)  # the same day in every feed: one sighting, many sources
    assert len(item["hits"]) == count // 2
    assert item["hits"][0]["title"] == "Tashkent may return to the CSTO"


def test_a_pipeline_renews_its_fetcher_without_losing_a_fetch(
    db_url: str, tmp_path: Path, server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A Fetcher resolves each host once; a standing pipeline makes a new one every
    # FETCHER_LIFE. At 0 s every fetch gets a new one, and the old ones close when their
    # fetches are done: every feed is still fetched and stored as it should be.
    import tracker.pipeline

    monkeypatch.setattr(tracker.pipeline, "FETCHER_LIFE", timedelta(0))
    made: list[Fetcher] = []

    def counting(settings: Settings) -> Fetcher:
        made.append(quick_fetcher(settings))
        return made[-1]

    server.set_file("/ok.xml", "rss20.xml")
    for i in range(6):
        server.set(f"/f{i}.xml", (fixture("rss20.xml").replace(b"<guid", f"<!--{i}--><guid"
                                                               .encode(), 1)))
    server.set_fault("/limited.xml", status=429, retry_after="7200")
    feeds = {f"f{i}": server.url(f"/f{i}.xml") for i in range(6)}
    feeds["limited"] = server.url("/limited.xml")
    setup_tracker(db_url, tmp_path, feeds)
    engine = make_engine(db_url)
    try:
        summary = poll(make_sessionmaker(engine), fetcher_factory=counting)
    finally:
        engine.dispose()
    outcomes = {o.feed: o.outcome for o in summary.feeds}
    assert outcomes == {**{f"f{i}": "ok" for i in range(6)}, "limited": "error"}
    assert len(made) > 1  # renewed while polling
    assert all(len(entries(db_url, f"f{i}")) == 3 for i in range(6))


def _rss(*items: tuple[str, str, str]) -> bytes:
    """An RSS 2.0 body of (guid, title, RFC 822 date) items."""
    body = "".join(f"<item><guid>{g}</guid><title>{t}</title><pubDate>{d}</pubDate></item>"
                   for g, t, d in items)
    return f'<rss version="2.0"><channel><title>x</title>{body}</channel></rss>'.encode()


BATCH_FEEDS = {
    # the earliest sighting of csto-afghan, and one a negation blocks
    "a": _rss(("s1", "CSTO ministers discuss the Taliban advance", "Fri, 20 Aug 2021 09:00:00 GMT"),
              ("s2", "CSTO did not discuss Afghanistan at the summit",
               "Fri, 20 Aug 2021 10:00:00 GMT"),
              ("s3", "Wheat prices rise in Almaty", "Fri, 20 Aug 2021 11:00:00 GMT")),
    # the same guid as a's first entry (another feed's entry: stored again, not a duplicate)
    # and a later sighting of the same indicator, inside its cooldown
    "b": _rss(("s1", "CSTO ministers discuss the Taliban advance", "Fri, 20 Aug 2021 09:30:00 GMT"),
              ("s4", "CSTO meets again on Afghanistan", "Sat, 21 Aug 2021 12:00:00 GMT")),
    # another indicator of another question, and a guid repeated inside the feed
    "c": _rss(("d1", "Uzbekistan may return to the CSTO, Tashkent says",
               "Mon, 23 Aug 2021 08:00:00 GMT"),
              ("d1", "Uzbekistan may return to the CSTO, Tashkent says",
               "Mon, 23 Aug 2021 08:00:00 GMT")),
}


def fetched(sessions: Any, bodies: dict[str, bytes]) -> list[Fetched]:
    """What the fetch workers hand the writer for these feeds (id -> body): parsed and
    matched with the database's rules, as a parse worker does."""
    with sessions() as session:
        matcher = Matcher(_rules(session), Cues.from_settings(load_settings(session).matching))
    items = []
    for f, body in bodies.items():
        job = Job(f, f"http://127.0.0.1:9/{f}.xml", None, None, None, timedelta(minutes=30))
        parsed = parse_feed(body, url=job.url)
        items.append(Fetched(job, FetchResult(job.url, "ok", 200),
                             hashlib.sha256(body).hexdigest(), parsed,
                             {e.key: matcher.find(e.title, e.summary) for e in parsed.entries}))
    return items


def test_a_batch_of_feeds_is_stored_as_each_feed_alone(
    db_url: str, tmp_path: Path
) -> None:
    """The writer stores the feeds waiting for it in one transaction, each step one statement
    for them all; what each feed stored, and the evidence, are what storing it alone gives (the
    feeds here arrive in the order of their first hits, so even new_evidence agrees: in a batch
    an item is credited to the feed whose hit starts it, next test)."""
    backend = "sqlite" if db_url.startswith("sqlite") else "postgresql"

    def store(folder: Path, batches: list[list[str]]) -> tuple[list[FeedOutcome], Any]:
        folder.mkdir()
        with empty_database(backend, folder, folder.name) as url:
            return store_in(url, folder, batches)

    def store_in(url: str, folder: Path,
                 batches: list[list[str]]) -> tuple[list[FeedOutcome], Any]:
        t = setup_tracker(url, folder, {f: f"http://127.0.0.1:9/{f}.xml" for f in BATCH_FEEDS})
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        now = datetime(2021, 8, 24, tzinfo=UTC)
        feed_store = FeedStore(sessions, lambda: now)
        outcomes: list[FeedOutcome] = []
        for batch in batches:
            outcomes += feed_store.changed(fetched(sessions, {f: BATCH_FEEDS[f] for f in batch}))
        evidence = [(e["indicator"], e["observed_at"], sorted(h["feed"] for h in e["hits"]))
                    for e in evidence_json(t)]
        stored = {f: [(e.key, e.title) for e in entries(url, f)] for f in BATCH_FEEDS}
        blocked = sorted((b.indicator_id, b.cue) for b in rows(url, select(BlockedMatch)))
        polled = {f: feed_row(url, f).body_hash for f in BATCH_FEEDS}
        engine.dispose()
        return outcomes, (evidence, stored, blocked, polled, feed_store.touched)

    together, what_together = store(tmp_path / "batch", [["a", "b", "c"]])
    alone, what_alone = store(tmp_path / "alone", [["a"], ["b"], ["c"]])
    assert what_together == what_alone
    evidence, stored, blocked, polled, touched = what_together
    assert sorted(evidence) == [
        ("csto-afghan", "2021-08-20T09:00:00Z", ["a", "b", "b"]),
        ("uz-csto-talks", "2021-08-23T08:00:00Z", ["c"])]
    assert stored["b"][0] == stored["a"][0]  # the same guid, stored for each feed
    assert len(stored["a"]) == 3 and len(stored["b"]) == 2 and len(stored["c"]) == 1
    assert blocked and all(i == "csto-afghan" for i, _ in blocked)
    assert all(polled.values()) and touched == {"csto-response", "uzbekistan-rejoins"}

    def counts(o: FeedOutcome) -> tuple[Any, ...]:
        return (o.feed, o.outcome, o.new_entries, o.hits, o.new_evidence, o.blocked)

    assert [counts(o) for o in together] == [counts(o) for o in alone] == [
        ("a", "ok", 3, 1, 1, 1), ("b", "ok", 2, 2, 0, 0), ("c", "ok", 1, 1, 1, 0)]


def test_a_new_item_is_credited_to_the_feed_whose_hit_starts_it(
    db_url: str, tmp_path: Path
) -> None:
    """In a batch, `new_evidence` counts the items a feed's hits started (the item's earliest
    new hit), whatever order the feeds arrived in; a regroup credits each item it makes the
    same way. The totals are what the evidence holds."""
    story = "CSTO ministers discuss the Taliban advance"
    bodies = {"x": _rss(("z1", story, "Fri, 20 Aug 2021 08:50:00 GMT")),
              "a": _rss(("x1", story, "Fri, 20 Aug 2021 09:30:00 GMT")),
              "b": _rss(("y1", story, "Fri, 20 Aug 2021 09:00:00 GMT")),
              "late": _rss(("w1", story, "Tue, 28 Sep 2021 09:00:00 GMT"))}
    t = setup_tracker(db_url, tmp_path, {f: f"http://127.0.0.1:9/{f}.xml" for f in bodies})
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    store = FeedStore(sessions, lambda: datetime(2021, 9, 30, tzinfo=UTC))
    try:
        first = store.changed(fetched(sessions, {f: bodies[f] for f in ("a", "b")}))
        # x's hit comes just before a's and b's item, which regroups it (the item now starts
        # with x's hit, and is no new item); late's starts an item of its own.
        second = store.changed(fetched(sessions, {f: bodies[f] for f in ("x", "late")}))
    finally:
        engine.dispose()
    assert [(o.feed, o.new_evidence) for o in first] == [("a", 0), ("b", 1)]
    assert [(o.feed, o.new_evidence) for o in second] == [("x", 0), ("late", 1)]
    items = [e for e in evidence_json(t) if e["indicator"] == "csto-afghan"]
    assert sorted((e["observed_at"], len(e["hits"])) for e in items) == [
        ("2021-08-20T08:50:00Z", 3), ("2021-09-28T09:00:00Z", 1)]


def test_a_hold_another_poller_stores_while_a_batch_is_written_is_kept(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two pollers: while this one writes a batch, the other stores a Retry-After for a feed of
    the same host (its hold covers the batch's feeds). The batch's rows are locked from the
    moment it reads their holds, so the other poller's hold is applied after it, not
    overwritten by it (PostgreSQL: row locks; SQLite: the other waits for the writer)."""
    import tracker.feedpoll as feedpoll

    urls = {f: f"http://127.0.0.1:9/{f}.xml" for f in ("a", "b", "other")}
    setup_tracker(db_url, tmp_path, urls)
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    now = datetime.now(UTC)
    until = now + timedelta(hours=2)
    other_poller: list[threading.Thread] = []
    read_holds = feedpoll._holds

    def holds_then_the_other_poller_writes(session: Session, jobs: list[Job],
                                           at: datetime) -> dict[str, datetime]:
        found = read_holds(session, jobs, at)
        job = Job("other", urls["other"], None, None, None, timedelta(minutes=30))
        thread = threading.Thread(target=lambda: FeedStore(sessions, lambda: now).failure(
            job, "HTTP 429", until, counted=False))
        thread.start()
        other_poller.append(thread)
        # Give it time to commit before this batch's UPDATE, as it could if nothing stopped
        # it: the batch's locks do, so it is still waiting when this returns.
        thread.join(1.5)
        return found

    monkeypatch.setattr(feedpoll, "_holds", holds_then_the_other_poller_writes)
    try:
        FeedStore(sessions, lambda: now).changed(
            fetched(sessions, {"a": BATCH_FEEDS["a"], "b": BATCH_FEEDS["b"]}))
        [thread] = other_poller
        thread.join(30)
        assert not thread.is_alive()
    finally:
        engine.dispose()
    assert feed_row(db_url, "other").held_until == until
    for f in ("a", "b"):
        row = feed_row(db_url, f)
        assert row.last_success is not None and len(entries(db_url, f)) > 0
        assert row.held_until == until and row.next_poll == until


POISON_SQLITE = """CREATE TRIGGER poison BEFORE INSERT ON entries
WHEN instr(NEW.title, 'poison') > 0 BEGIN SELECT RAISE(ABORT, 'poisoned title'); END"""
POISON_PG = ["""CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN
  IF position('poison' in NEW.title) > 0 THEN RAISE EXCEPTION 'poisoned title'; END IF;
  RETURN NEW; END $$ LANGUAGE plpgsql""",
             """CREATE TRIGGER poison BEFORE INSERT ON entries FOR EACH ROW
  EXECUTE FUNCTION poison()"""]


def test_a_feed_that_cannot_be_stored_does_not_sink_its_batch(
    db_url: str, tmp_path: Path
) -> None:
    """The writer stores a batch in one transaction; when the database refuses one feed's
    rows, the batch is stored feed by feed: the others land, the refused one is that feed's
    failure (backed off, its entries absent), not the batch's."""
    bodies = {"a": BATCH_FEEDS["a"], "c": BATCH_FEEDS["c"],
              "b": _rss(("p1", "A poison headline the database refuses",
                         "Sat, 21 Aug 2021 12:00:00 GMT"))}
    setup_tracker(db_url, tmp_path, {f: f"http://127.0.0.1:9/{f}.xml" for f in bodies})
    engine = make_engine(db_url)
    with engine.begin() as conn:  # a real refusal, from the database itself
        for statement in ([POISON_SQLITE] if db_url.startswith("sqlite") else POISON_PG):
            conn.exec_driver_sql(statement)
    sessions = make_sessionmaker(engine)
    now = datetime(2021, 8, 24, tzinfo=UTC)
    pipeline = Pipeline(sessions, owner="test", clock=lambda: now,
                        settings=Settings())
    try:
        outcomes = {o.feed: o for o in pipeline._store_changed(fetched(sessions, bodies))}
    finally:
        pipeline.writer.shutdown()
        engine.dispose()
    assert outcomes["a"].outcome == "ok" and outcomes["a"].new_entries == 3
    assert outcomes["c"].outcome == "ok" and outcomes["c"].new_entries == 1
    assert outcomes["b"].outcome == "error" and "poisoned title" in (outcomes["b"].error or "")
    assert len(entries(db_url, "a")) == 3 and len(entries(db_url, "c")) == 1
    assert entries(db_url, "b") == []
    b = feed_row(db_url, "b")
    assert b.failures == 1 and b.last_success is None and "could not store" in (b.last_error or "")
    assert feed_row(db_url, "a").last_success is not None


def test_the_poll_line_counts_what_was_polled(db_url: str, tmp_path: Path,
                                              server: FeedServer) -> None:
    """A retired feed named on the command line is skipped, not counted as polled; --all with
    no active feed says there is none, not that none is due."""
    server.set_file("/a.xml", "rss20.xml")
    t = setup_tracker(db_url, tmp_path, {"a": server.url("/a.xml"), "b": server.url("/b.xml")})
    write_scenarios(t.scenarios, {"a": server.url("/a.xml")})
    t.ok("sync")  # b leaves the file: retired
    out = t.ok("poll", "a", "b").output
    assert "b: skipped (retired)" in out
    assert out.splitlines()[-1].startswith("1 feed polled, 0 failed, 1 skipped: 3 new entries")
    write_scenarios(t.scenarios, {})
    t.ok("sync")
    assert t.ok("poll", "--all").output.startswith("no active feed: add one under feeds:")
