"""`tracker daemon` as a real process, with a real HTTP feed server and a real SMTP server on
loopback: polling on schedule, catching up a missed report once, stopping cleanly, surviving
`kill -9`, and two daemons sharing one database."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import Tracker
from tests.feedserver import FeedServer
from tests.smtpserver import SmtpServer

QUESTION = """\
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
          all: [[Uzbekistan, Tashkent], [CSTO]]
          any: [rejoin*, return*]
        likelihood: {rejoins: 0.9, stays-out: 0.2}
      - id: uz-csto-drills
        description: Uzbek troops in CSTO drills
        match:
          all: [[Uzbekistan, Uzbek], [CSTO], [drill*, exercise*]]
        likelihood: {rejoins: 0.7, stays-out: 0.3}
"""


def scenarios_yaml(feeds: dict[str, tuple[str, str]], tick: str = "1s") -> str:
    """A scenarios file with a short tick and the given feeds: id -> (url, interval)."""
    lines = ["version: 1", "settings:", f"  polling: {{tick: {tick}}}", "feeds:"]
    lines += [f"  - {{id: {fid}, url: \"{url}\", interval: {interval}}}"
              for fid, (url, interval) in feeds.items()]
    return "\n".join(lines) + "\n" + QUESTION


def rss(name: str, items: int, *, matching: int = 0, edition: int = 0) -> bytes:
    """An RSS 2.0 feed of `items` entries, the first `matching` of which sight the indicators;
    `edition` changes the body (lastBuildDate) without changing a single entry."""
    base = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    out = [f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
           f"<title>{name}</title><link>http://example.org/{name}</link>"
           f"<lastBuildDate>{format_datetime(base + timedelta(days=edition))}</lastBuildDate>"]
    for i in range(items):
        if i < matching:
            title = (f"Uzbekistan weighs a return to the CSTO ({name} {i})" if i % 2 == 0 else
                     f"Uzbek troops join CSTO drills ({name} {i})")
        else:
            title = f"Weather in the Ferghana valley ({name} {i})"
        published = format_datetime(base + timedelta(minutes=i))
        out.append(f"<item><title>{title}</title><link>http://example.org/{name}/{i}</link>"
                   f"<guid>{name}-{i}</guid><pubDate>{published}</pubDate>"
                   f"<description>Story {i} of {name}.</description></item>")
    out.append("</channel></rss>")
    return "".join(out).encode()


class Daemon:
    """One `tracker daemon` subprocess, its stderr kept in a log file."""

    def __init__(self, db_url: str, scenarios: Path, env: dict[str, str], log: Path) -> None:
        self.log = log
        self.handle = log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tracker", "--db", db_url, "--scenarios", str(scenarios),
             "daemon"],
            stdout=subprocess.DEVNULL, stderr=self.handle, env=env, cwd=scenarios.parent,
        )

    @property
    def owner_suffix(self) -> str:
        return f":{self.proc.pid}"

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """kill -9: no clean-up of any kind."""
        self.proc.kill()
        self.proc.wait(10)
        self.handle.close()

    def terminate(self) -> int:
        """SIGTERM, then the exit status; must come within 10 s."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(10)
        finally:
            self.handle.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.handle.close()


def wait_until(check: Callable[[], Any], what: str, daemons: list[Daemon] | None = None,
               timeout: float = 40.0) -> Any:
    """Poll `check` until it is truthy; fail naming `what`, with the daemons' logs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        for d in daemons or []:
            assert d.proc.poll() is None, f"daemon exited early:\n{d.text()}"
        time.sleep(0.1)
    logs = "\n".join(d.text() for d in daemons or [])
    pytest.fail(f"timed out waiting for {what}\n{logs}")


class DB:
    """Plain SQL on the database under test, as an operator would look at it."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)

    def value(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def rows(self, sql: str, **params: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(text(sql), params).all())

    def run(self, sql: str, **params: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(text(sql), params)

    def make_due(self, *feed_ids: str) -> None:
        """As if each feed's interval had passed."""
        past = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=1)
        for fid in feed_ids:
            self.run("UPDATE feeds SET next_poll = :t WHERE id = :f", t=past, f=fid)

    def stored_since(self, since: datetime, feed_id: str = "%") -> int:
        """Feeds whose poll after `since` is stored and whose lease is given back."""
        return int(self.value(
            "SELECT count(*) FROM feeds WHERE last_polled > :s AND lease_owner IS NULL "
            "AND id LIKE :f", s=since.replace(tzinfo=None), f=feed_id))

    def all_sent(self) -> bool:
        """Every report in the outbox is marked sent."""
        return self.value("SELECT count(*) FROM reports WHERE state <> 'sent'") == 0

    def entries(self, feed_id: str) -> int:
        return int(self.value("SELECT count(*) FROM entries WHERE feed_id = :f", f=feed_id))

    def runs_done_since(self, job: str, since: datetime, owner_suffix: str = "") -> int:
        """Finished runs of `job` that started after `since` (naive UTC in the database)."""
        return int(self.value(
            "SELECT count(*) FROM job_runs WHERE job = :j AND started > :s "
            "AND finished IS NOT NULL AND owner LIKE :o",
            j=job, s=since.replace(tzinfo=None), o=f"%{owner_suffix}"))


@pytest.fixture
def feeds() -> Iterator[FeedServer]:
    server = FeedServer().start()
    yield server
    server.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def env(smtp: SmtpServer, tmp_path: Path) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    out.update(TRACKER_SMTP_HOST="127.0.0.1", TRACKER_SMTP_PORT=str(smtp.port),
               TRACKER_SMTP_SECURITY="none", TRACKER_MAIL_FROM="tracker@example.org",
               TRACKER_MAIL_TO="analyst@example.org")
    return out


@pytest.fixture
def setup(db_url: str, tmp_path: Path) -> Iterator[Callable[..., tuple[Path, DB]]]:
    """Write scenarios.yaml for the given feeds and `tracker init` the database."""
    engines: list[DB] = []

    def make(feed_map: dict[str, tuple[str, str]], tick: str = "1s") -> tuple[Path, DB]:
        path = tmp_path / "scenarios.yaml"
        path.write_text(scenarios_yaml(feed_map, tick), encoding="utf-8")
        Tracker(db_url, path).ok("init")
        engines.append(DB(db_url))
        return path, engines[-1]

    yield make
    for db in engines:
        db.engine.dispose()


@pytest.fixture
def daemons(db_url: str, env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., Daemon]]:
    """Start daemons on the database under test; whatever is left running is killed."""
    started: list[Daemon] = []

    def start(scenarios: Path, name: str = "daemon") -> Daemon:
        d = Daemon(db_url, scenarios, env, tmp_path / f"{name}.log")
        started.append(d)
        return d

    yield start
    for d in started:
        d.close()


def test_a_refused_sighup_sync_keeps_the_daemon_and_says_refused(
    feeds: FeedServer, setup: Callable[..., tuple[Path, DB]], daemons: Callable[..., Daemon],
    db_url: str,
) -> None:
    """A bad edit and SIGHUP: the daemon keeps the last good file and polls on, and `status`
    says the sync was refused (it said `ok`, the refusal only in the detail)."""
    feeds.set("/often.xml", rss("often", 3))
    path, db = setup({"often": (feeds.url("/often.xml"), "2s")})
    d = daemons(path)
    wait_until(lambda: feeds.hits("/often.xml") >= 1, "the first poll", [d])
    path.write_text(path.read_text(encoding="utf-8").replace("prior: 0.04", "prior: 4"),
                    encoding="utf-8")
    d.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "refused, keeping the last good one" in d.text(), "the refusal", [d])
    before = feeds.hits("/often.xml")
    wait_until(lambda: feeds.hits("/often.xml") >= before + 2, "polling going on", [d])
    data = json.loads(Tracker(db_url, path).ok("status", "--json")
                      .output)
    (sync,) = [j for j in data["jobs"] if j["job"] == "sync"]
    assert sync["outcome"] == "refused" and "outside [0, 1]" in sync["detail"], sync
    text = Tracker(db_url, path).ok("status").output
    assert "-> refused" in text, text
    assert d.terminate() == 0


def test_refuses_a_database_without_schema(db_url: str, scenarios_file: Path) -> None:
    result = Tracker(db_url, scenarios_file)("daemon")
    assert result.exit_code == 1
    assert "tracker init" in result.output


def test_refuses_an_invalid_scenarios_file(initialized: Tracker) -> None:
    initialized.scenarios.write_text("version: 1\nfeeds: [{id: Bad Id}]\n", encoding="utf-8")
    result = initialized("daemon")
    assert result.exit_code == 2
    assert "feeds[0]" in result.output


def test_polls_due_feeds_on_schedule_and_resyncs_on_sighup(
    feeds: FeedServer, setup: Callable[..., tuple[Path, DB]], daemons: Callable[..., Daemon],
    smtp: SmtpServer, db_url: str,
) -> None:
    feeds.set("/steady.xml", rss("steady", 5, matching=1))
    feeds.set("/often.xml", rss("often", 3))
    feeds.set("/late.xml", rss("late", 2))
    feed_map = {"steady": (feeds.url("/steady.xml"), "1h"),
                "often": (feeds.url("/often.xml"), "2s")}
    path, db = setup(feed_map)
    d = daemons(path)

    wait_until(lambda: feeds.hits("/steady.xml") == 1 and db.entries("steady") == 5,
               "the first poll", [d])
    wait_until(lambda: feeds.hits("/often.xml") >= 3, "a feed polled every 2 s", [d])

    db.make_due("steady")
    mark = datetime.now(UTC)
    wait_until(lambda: feeds.hits("/steady.xml") == 2 and db.stored_since(mark, "steady"),
               "the due feed polled again", [d])
    wait_until(lambda: db.runs_done_since("poll", mark) >= 2, "two more polls", [d])
    assert feeds.hits("/steady.xml") == 2, "a feed that is not due was polled"
    assert feeds.requests("/steady.xml")[-1].get("if-none-match"), "no conditional GET"

    feed_map["late"] = (feeds.url("/late.xml"), "1h")
    path.write_text(scenarios_yaml(feed_map, tick="2s"), encoding="utf-8")
    d.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: db.entries("late") == 2, "the feed added on SIGHUP polled", [d])
    wait_until(lambda: len(smtp.messages) == 1, "the catch-up report", [d])

    assert d.terminate() == 0
    log = d.text()
    assert "SIGHUP" in log and "synced" in log and "SIGTERM" in log
    assert "poll tick is now 2s" in log
    assert "Traceback" not in log and " ERROR " not in log

    status = Tracker(db_url, path).ok("status", "--json")
    data = json.loads(status.output)
    by_feed = {f["id"]: f for f in data["feeds"]}
    assert by_feed["steady"]["entries"] == 5 and by_feed["steady"]["state"] == "ok"
    assert by_feed["late"]["entries"] == 2
    jobs = {j["job"]: j for j in data["jobs"]}
    assert jobs["poll"]["outcome"] == "ok" and jobs["sync"]["outcome"] == "ok"
    assert jobs["report"]["outcome"] == "ok"
    assert [(r["state"], r["attempts"]) for r in data["outbox"]] == [("sent", 1)]
    # Stopped cleanly a moment ago: not "running" for the next 3 minutes, as it used to say.
    assert data["daemon"]["running"] is False and data["daemon"]["stopped_at"] is not None
    assert "stop" not in jobs
    text = Tracker(db_url, path).ok("status").output
    assert text.startswith("daemon: not running (stopped "), text


def test_catches_up_a_missed_report_once_across_restarts_and_kill_9(
    setup: Callable[..., tuple[Path, DB]], daemons: Callable[..., Daemon], smtp: SmtpServer,
) -> None:
    # The default schedule (Mondays 07:00 UTC) last fired before the daemon ever ran.
    path, db = setup({})
    first = daemons(path, "first")
    wait_until(lambda: len(smtp.messages) == 1, "the missed report", [first])
    # Between the server's acceptance and the row marked sent, a kill would mean a resend:
    # delivery is at least once. Kill once the outbox says sent.
    wait_until(db.all_sent, "the report marked sent", [first])
    first.kill()

    mark = datetime.now(UTC)
    second = daemons(path, "second")
    wait_until(lambda: db.runs_done_since("report", mark, second.owner_suffix),
               "the second daemon's report run", [second])
    assert second.terminate() == 0
    assert len(smtp.messages) == 1
    [(period, state)] = db.rows("SELECT period, state FROM reports")
    assert state == "sent" and period in smtp.messages[0].message["Subject"]
    assert "already made" in db.value(
        "SELECT detail FROM job_runs WHERE job = 'report' ORDER BY id DESC LIMIT 1")


def test_stops_within_10_s_on_sigterm_with_a_fetch_in_flight(
    feeds: FeedServer, setup: Callable[..., tuple[Path, DB]], daemons: Callable[..., Daemon],
) -> None:
    feeds.set("/fast.xml", rss("fast", 20, matching=4))
    feeds.set("/slow.xml", rss("slow", 20))
    feeds.set_fault("/slow.xml", delay=60)
    path, db = setup({"fast": (feeds.url("/fast.xml"), "1h"),
                      "slow": (feeds.url("/slow.xml"), "1h")})
    d = daemons(path)
    wait_until(lambda: feeds.hits("/slow.xml") == 1 and db.entries("fast") == 20,
               "a fetch in flight", [d])

    assert d.terminate() == 0  # within 10 s, or terminate() raises
    assert db.entries("fast") == 20 and db.entries("slow") == 0
    assert "stopped" in d.text()


def test_kill_9_mid_poll_leaves_no_duplicate_entries_or_evidence(
    feeds: FeedServer, setup: Callable[..., tuple[Path, DB]], daemons: Callable[..., Daemon],
) -> None:
    names = [f"f{i}" for i in range(6)]
    for name in names:
        feeds.set(f"/{name}.xml", rss(name, 40, matching=6))
    feeds.set("/slow.xml", rss("slow", 40, matching=6))
    feeds.set_fault("/slow.xml", delay=60)
    feed_map = {n: (feeds.url(f"/{n}.xml"), "1h") for n in [*names, "slow"]}
    path, db = setup(feed_map)

    first = daemons(path, "first")
    wait_until(lambda: feeds.hits("/slow.xml") == 1 and db.entries("f0") > 0,
               "a poll in flight", [first])
    first.kill()

    # The same entries come back in new bodies, so nothing is skipped by hash or 304.
    for name in [*names, "slow"]:
        feeds.set(f"/{name}.xml", rss(name, 40, matching=6, edition=1))
    db.make_due(*names, "slow")
    second = daemons(path, "second")
    wait_until(lambda: all(db.entries(n) == 40 for n in [*names, "slow"])
               and all(feeds.hits(f"/{n}.xml") >= 2 for n in names),
               "every feed polled after the restart", [second])
    assert second.terminate() == 0

    assert db.value("SELECT count(DISTINCT feed_id || '/' || key) FROM entries") == 7 * 40
    assert db.value("SELECT count(*) FROM entries") == 7 * 40
    assert db.value("SELECT count(*) FROM hits") == 7 * 6
    # Every sighting falls within one cooldown: one evidence item per indicator, no more.
    assert db.rows("SELECT indicator_id, count(*) FROM evidence GROUP BY indicator_id "
                   "ORDER BY indicator_id") == [("uz-csto-drills", 1), ("uz-csto-talks", 1)]


def test_two_daemons_on_one_database_poll_each_due_feed_once(
    feeds: FeedServer, setup: Callable[..., tuple[Path, DB]], daemons: Callable[..., Daemon],
    smtp: SmtpServer,
) -> None:
    names = [f"f{i}" for i in range(8)]
    for name in names:
        feeds.set(f"/{name}.xml", rss(name, 10, matching=2))
    path, db = setup({n: (feeds.url(f"/{n}.xml"), "1h") for n in names})
    a, b = daemons(path, "a"), daemons(path, "b")

    def hits() -> list[int]:
        return [feeds.hits(f"/{n}.xml") for n in names]

    def polled(round_: int, since: datetime) -> bool:
        return hits() == [round_] * 8 and db.stored_since(since) == 8

    def both_polled_since(since: datetime) -> bool:
        return bool(db.runs_done_since("poll", since, a.owner_suffix)
                    and db.runs_done_since("poll", since, b.owner_suffix))

    mark = datetime.now(UTC) - timedelta(minutes=1)
    for round_ in (1, 2, 3):
        if round_ > 1:
            db.make_due(*names)
        wait_until(partial(polled, round_, mark), f"poll round {round_}", [a, b])
        # Give both daemons a full poll after the round: a second fetch would show here.
        mark = datetime.now(UTC)
        wait_until(partial(both_polled_since, mark), "both daemons polling again", [a, b])
        assert hits() == [round_] * 8

    wait_until(lambda: len(smtp.messages) == 1, "the catch-up report", [a, b])
    wait_until(db.all_sent, "the report marked sent", [a, b])
    a.kill()
    db.make_due(*names)
    wait_until(lambda: hits() == [4] * 8, "the survivor polling every feed", [b])
    assert b.terminate() == 0
    assert len(smtp.messages) == 1
    assert db.value("SELECT count(*) FROM reports") == 1
    assert db.value("SELECT count(*) FROM entries") == 8 * 10


def test_the_catch_up_report_is_made_after_the_first_poll(
    feeds: FeedServer, setup: Callable[..., tuple[Path, DB]], daemons: Callable[..., Daemon],
    smtp: SmtpServer,
) -> None:
    # A slow feed: a report made alongside the first poll would find it never polled.
    feeds.set("/slow.xml", rss("slow", 3, matching=1))
    feeds.set_fault("/slow.xml", delay=1.0)
    path, db = setup({"slow": (feeds.url("/slow.xml"), "1h")}, tick="1h")
    d = daemons(path)
    wait_until(lambda: len(smtp.messages) == 1, "the catch-up report", [d])
    assert d.terminate() == 0
    text_part = smtp.messages[0].message.get_body(("plain",)).get_content()
    assert "never polled" not in text_part
    assert db.entries("slow") == 3


def test_skipped_ticks_of_a_long_poll_stay_out_of_the_log(
    feeds: FeedServer, setup: Callable[..., tuple[Path, DB]], daemons: Callable[..., Daemon],
) -> None:
    # A poll of 2.5 s under a 1 s tick: APScheduler skips the ticks that come meanwhile.
    feeds.set("/slow.xml", rss("slow", 2))
    feeds.set_fault("/slow.xml", delay=2.5)
    path, db = setup({"slow": (feeds.url("/slow.xml"), "1s")})
    d = daemons(path)
    mark = datetime.now(UTC)
    wait_until(lambda: db.runs_done_since("poll", mark) >= 2, "two slow polls", [d])
    assert d.terminate() == 0
    log = d.text()
    assert "maximum number of running instances" not in log
    assert "poll:" in log


def test_a_trickling_feed_holds_one_worker_and_never_the_other_feeds(
    feeds: FeedServer, setup: Callable[..., tuple[Path, DB]], daemons: Callable[..., Daemon],
) -> None:
    # 64 B/s for the whole test (the 60 s fetch limit is not reached): it holds one worker and
    # one of its host's two slots; the feed beside it on the same host has the other slot.
    feeds.set_fault("/slow.xml", trickle=True, trickle_interval=1 / 64)
    feeds.set("/fast.xml", rss("fast", 3))
    with FeedServer("127.0.0.2") as other:
        other.set("/fast.xml", rss("other", 3))
        path, db = setup({"slow": (feeds.url("/slow.xml"), "1h"),
                          "fast": (feeds.url("/fast.xml"), "3s"),
                          "other": (other.url("/fast.xml"), "3s")})
        d = daemons(path)  # 40 s from its start: at least 10 requests for each fast feed
        wait_until(lambda: feeds.hits("/fast.xml") >= 10 and other.hits("/fast.xml") >= 10,
                   "each fast feed polled 10 times", [d], timeout=40)
        assert feeds.hits("/slow.xml") == 1
        assert db.value("SELECT last_polled FROM feeds WHERE id = 'slow'") is None  # still in
        assert db.entries("fast") == 3 and db.entries("other") == 3
        assert d.terminate() == 0  # within 10 s, the trickle still in flight
    assert db.value("SELECT lease_owner FROM feeds WHERE id = 'slow'") is None
    assert "Traceback" not in d.text()


# A password in the clear to another machine was refused only at the first send, a week on.
_PLAINTEXT = {"TRACKER_SMTP_HOST": "mail.example.org", "TRACKER_SMTP_SECURITY": "none",
              "TRACKER_SMTP_USER": "u", "TRACKER_SMTP_PASSWORD": "p"}


@pytest.mark.parametrize(("changes", "message"), [
    ({"TRACKER_SMTP_SECURITY": "tls"}, "bad TRACKER_SMTP_SECURITY 'tls'"),
    ({"TRACKER_SMTP_PASSWORD_FILE": "/nonexistent/smtp-password"},
     "cannot read TRACKER_SMTP_PASSWORD_FILE"),
    ({"TRACKER_MAIL_TO": "not an address"}, "bad mail address"),
    (_PLAINTEXT, "refusing to send the SMTP password in the clear to mail.example.org"),
])
def test_bad_mail_settings_stop_the_daemon_at_start(
    env: dict[str, str], tmp_path: Path, changes: dict[str, str], message: str,
) -> None:
    """Bad options (exit 2, which the unit does not restart), found at start rather than as a
    failed send at the first weekly report. (The check reads no database: SQLite only.)"""
    db_url = f"sqlite:///{tmp_path / 'mail.sqlite3'}"
    path = tmp_path / "scenarios.yaml"
    path.write_text(scenarios_yaml({}, "1s"), encoding="utf-8")
    Tracker(db_url, path).ok("init")
    bad = {**env, **changes}
    done = subprocess.run(
        [sys.executable, "-m", "tracker", "--db", db_url, "--scenarios", str(path), "daemon"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=bad, cwd=path.parent,
        timeout=60, text=True)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    db = DB(db_url)
    try:
        assert db.value("SELECT count(*) FROM job_runs") == 0
    finally:
        db.engine.dispose()


def test_a_report_another_daemon_stored_first_is_logged_as_theirs(
    db_url: str, setup: Callable[..., tuple[Path, DB]], daemons: Callable[..., Daemon],
    smtp: SmtpServer,
) -> None:
    """Two daemons make the same period at once: the one whose insert lost to the other's
    took their report for its own, logged "report P: made" and recorded "made". (PostgreSQL
    only: a SQLite writer takes the write lock at BEGIN, so no daemon can store the period
    between another's look and its insert.)"""
    if db_url.startswith("sqlite"):
        pytest.skip("SQLite's writers never race between the look and the insert")
    from tracker.config import load_settings
    from tracker.db import make_engine, make_sessionmaker
    from tracker.reports import latest_due_period, make_report
    from tracker.timeutil import utcnow

    path, db = setup({})
    engine = make_engine(db_url)
    try:
        # The other daemon, mid-transaction: it has inserted the period's report, not committed.
        with make_sessionmaker(engine)() as other, other.begin():
            period = latest_due_period(utcnow(), load_settings(other))
            theirs = make_report(other, period).created_at.replace(tzinfo=None)
            holder = other.execute(text("SELECT pg_backend_pid()")).scalar()
            d = daemons(path)
            # The daemon found no report, rendered its own, and its insert waits on theirs.
            wait_until(lambda: db.value(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'INSERT INTO reports%' "
                "AND :h = ANY(pg_blocking_pids(pid))", h=holder),
                "the daemon's insert waiting on the other daemon's", [d])
        wait_until(lambda: len(smtp.messages) == 1, "their report sent", [d])
        assert d.terminate() == 0
    finally:
        engine.dispose()
    log = d.text()
    assert f"report {period}: made by another daemon" in log, log
    assert f"report {period}: made\n" not in log, log
    assert db.rows("SELECT period, created_at FROM reports") == [(period, theirs)]
    assert db.value("SELECT detail FROM job_runs WHERE job = 'report'").startswith(
        f"{period}: already made")


# A log line's start: an ISO 8601 time with its zone, the level, the logger.
LOG_LINE = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) "
                      r"(DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+: ")


def one_feed_daemon(feeds: FeedServer, env: dict[str, str], tmp_path: Path, items: int = 2
                    ) -> tuple[Path, Daemon]:
    """Feed "a" (`items` entries, polled hourly) in a SQLite database made by `tracker init`,
    and a daemon started on it: the scenarios file and the daemon. For tests of signals and
    the log, not of the database."""
    feeds.set("/a.xml", rss("a", items))
    path = tmp_path / "scenarios.yaml"
    path.write_text(scenarios_yaml({"a": (feeds.url("/a.xml"), "1h")}), encoding="utf-8")
    db_url = f"sqlite:///{tmp_path / 'daemon.sqlite3'}"
    Tracker(db_url, path).ok("init")
    return path, Daemon(db_url, path, env, tmp_path / "daemon.log")


def test_log_times_are_utc_and_say_so(
    feeds: FeedServer, env: dict[str, str], tmp_path: Path,
) -> None:
    """The log's times were local without a zone ("2026-11-29 21:40:02,123"): ambiguous in a
    journal read from another zone, and at a change of summer time. Now ISO 8601 with the
    zone, whatever the local zone is. (The log, not the database: SQLite only.)"""
    _, d = one_feed_daemon(feeds, {**env, "TZ": "Asia/Tashkent"}, tmp_path)  # +05:00
    try:
        wait_until(lambda: "poll: 1 feeds queued" in d.text(), "the first poll", [d])
        assert d.terminate() == 0
    finally:
        d.close()
    lines = [line for line in d.text().splitlines() if line and not line[0].isspace()]
    assert lines and all(LOG_LINE.match(line) for line in lines), d.text()
    match = LOG_LINE.match(lines[0])
    assert match is not None
    logged = datetime.fromisoformat(match.group(1).replace("Z", "+00:00"))
    assert logged.tzinfo is not None
    # the same moment as now, not five hours off
    assert abs(logged - datetime.now(UTC)) < timedelta(minutes=30), lines[0]


def with_concurrency(path: Path, concurrency: int | None, tick: str = "1s") -> None:
    """Set settings.polling of the scenarios file the tests write."""
    polling = f"{{tick: {tick}" + (f", concurrency: {concurrency}}}" if concurrency else "}")
    text = re.sub(r"  polling: \{.*\}", f"  polling: {polling}", path.read_text("utf-8"))
    path.write_text(text, encoding="utf-8")


def test_a_setting_read_at_start_only_changed_on_sighup_is_named_in_the_log(
    feeds: FeedServer, env: dict[str, str], tmp_path: Path,
) -> None:
    """The poll pipeline's workers are made once, as the daemon starts polling: a concurrency
    changed by a SIGHUP sync was stored, shown by `status`, and silently not used until a
    restart. The log says so now, and says nothing of a setting that does take effect (the
    tick). (Signals and the log, not the database: SQLite only.)"""
    path, d = one_feed_daemon(feeds, env, tmp_path)
    try:
        wait_until(lambda: "poll: 1 feeds queued" in d.text(), "the first poll", [d])
        with_concurrency(path, 3, tick="2s")
        d.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "poll tick is now 2s" in d.text(), "the sync", [d])
        assert d.terminate() == 0
    finally:
        d.close()
    assert "settings changed: concurrency (8 -> 3), tick (1s -> 2s)" in d.text(), d.text()
    (line,) = [x for x in d.text().splitlines() if "takes effect" in x]
    assert (" WARNING tracker.daemon: concurrency changed: takes effect at the next start "
            "(the daemon runs with 8, the file says 3)") in line, line


def test_sync_says_which_changed_settings_take_effect_at_the_daemons_next_start(
    db_url: str, setup: Callable[..., tuple[Path, DB]],
) -> None:
    path, _db = setup({})
    t = Tracker(db_url, path)
    with_concurrency(path, 3)
    out = t.ok("sync").output
    assert "settings changed: concurrency (8 -> 3)" in out
    assert "note: concurrency changed: takes effect at the next start of the daemon" in out
    with_concurrency(path, 3, tick="5s")
    out = t.ok("sync").output
    assert "settings changed: tick (1s -> 5s)" in out and "takes effect" not in out, out
    # a daemon reschedules its jobs when it syncs the file (SIGHUP), not when this does
    assert ("note: a running daemon schedules by the new tick once it syncs the file itself: "
            "`systemctl reload tracker` (SIGHUP)") in out, out
    out = t.ok("sync").output
    assert "note:" not in out, out  # nothing changed
