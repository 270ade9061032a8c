"""After a crash and as the database grows: `kill -9` of `tracker poll` mid-poll, a flood of
entries from one feed, old entries pruned by the daemon, the database size in status."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PG_URL, Tracker, empty_database
from tests.feedserver import FeedServer, closed_port
from tests.test_daemon import (  # noqa: F401 - fixtures
    DB,
    Daemon,
    daemons,
    env,
    feeds,
    one_feed_daemon,
    rss,
    scenarios_yaml,
    setup,
    smtp,
    wait_until,
)


def probabilities(t: Tracker) -> dict[str, Any]:
    shown = json.loads(t.ok("show", "--json").output)["questions"]
    return {q["id"]: q["probabilities"] for q in shown}


def test_kill_9_of_tracker_poll_leaves_nothing_stale_or_leased(
    db_url: str, feeds: FeedServer, setup: Callable[..., tuple[Path, DB]],  # noqa: F811
    env: dict[str, str], tmp_path: Path,  # noqa: F811
) -> None:
    feeds.set("/fast.xml", rss("fast", 20, matching=4))
    feeds.set("/slow.xml", rss("slow", 20))
    feeds.set_fault("/slow.xml", delay=60)
    path, db = setup({"fast": (feeds.url("/fast.xml"), "1h"),
                      "slow": (feeds.url("/slow.xml"), "1h")})
    t = Tracker(db_url, path)
    prior = probabilities(t)
    poller = subprocess.Popen(
        [sys.executable, "-m", "tracker", "--db", db_url, "--scenarios", str(path), "poll"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        # fast is stored with its evidence; the poll waits for slow before it rescores
        wait_until(lambda: feeds.hits("/slow.xml") == 1
                   and db.value("SELECT count(*) FROM evidence") == 2, "a poll in flight")
    finally:
        poller.kill()
        poller.wait(10)
    assert probabilities(t) == prior  # stale: the rescore never ran

    feeds.set_fault("/slow.xml", delay=0)
    # slow's lease belongs to a dead process of this host: free at once
    again = t.ok("poll", "slow").output
    assert "slow: 20 new entries" in again and "another process" not in again
    after = probabilities(t)
    assert after != prior
    t.ok("score")
    assert probabilities(t) == after  # the poll left what `tracker score` computes


def test_no_feed_due_says_when_feeds_are_leased(
    db_url: str, feeds: FeedServer, setup: Callable[..., tuple[Path, DB]],  # noqa: F811
) -> None:
    feeds.set("/a.xml", rss("a", 3))
    path, db = setup({"a": (feeds.url("/a.xml"), "1h"), "b": (feeds.url("/a.xml"), "1h")})
    db.run("UPDATE feeds SET lease_owner = 'elsewhere:1', lease_until = :t",
           t="2999-01-01 00:00:00")
    out = Tracker(db_url, path).ok("poll").output
    assert "no feed is due (2 feeds being polled by another process)" in out


def test_a_flood_of_entries_is_capped_newest_first(
    db_url: str, feeds: FeedServer, setup: Callable[..., tuple[Path, DB]],  # noqa: F811
) -> None:
    feeds.set("/flood.xml", rss("flood", 1200))
    path, db = setup({"flood": (feeds.url("/flood.xml"), "1h")})
    out = Tracker(db_url, path).ok("poll").output
    assert "flood: 500 new entries" in out
    assert "700 older new entries left out (at most 500 a poll)" in out
    assert db.entries("flood") == 500
    # rss() dates item i at base + i minutes: the newest are the last 500
    assert db.value("SELECT min(guid) FROM entries") == "flood-1000"
    assert "700 older new entries left out" in db.value("SELECT warning FROM feeds")


def test_the_daemon_prunes_old_entries_no_evidence_refers_to(
    db_url: str, feeds: FeedServer, setup: Callable[..., tuple[Path, DB]],  # noqa: F811
    daemons: Callable[..., Daemon],  # noqa: F811
) -> None:
    feeds.set("/a.xml", rss("a", 10, matching=2))
    path, db = setup({"a": (feeds.url("/a.xml"), "1h")})
    t = Tracker(db_url, path)
    t.ok("poll")
    assert db.entries("a") == 10 and db.value("SELECT count(*) FROM hits") == 2
    # three of them first fetched three years ago, one of which evidence refers to
    db.run("UPDATE entries SET fetched_at = :t WHERE guid IN ('a-0', 'a-5', 'a-6')",
           t="2023-01-01 00:00:00")
    d = daemons(path)
    wait_until(lambda: db.entries("a") == 8, "the old entries pruned", [d])
    assert d.terminate() == 0
    kept = {g for (g,) in db.rows("SELECT guid FROM entries")}
    assert "a-0" in kept and not {"a-5", "a-6"} & kept
    assert db.value("SELECT count(*) FROM hits") == 2
    assert "2 old entries pruned" in t.ok("status").output


def test_a_shorter_retention_is_a_setting(
    db_url: str, feeds: FeedServer, setup: Callable[..., tuple[Path, DB]],  # noqa: F811
) -> None:
    from tracker.config import load_settings
    from tracker.db import make_engine, make_sessionmaker, transaction
    from tracker.retention import prune_entries
    from tracker.timeutil import utcnow

    feeds.set("/a.xml", rss("a", 4))
    path, db = setup({"a": (feeds.url("/a.xml"), "1h")})
    path.write_text(path.read_text().replace("  polling: {tick: 1s}",
                                             "  polling: {tick: 1s, retention: 1d}"))
    t = Tracker(db_url, path)
    t.ok("sync")
    t.ok("poll")
    db.run("UPDATE entries SET fetched_at = :t WHERE guid = 'a-1'", t="2026-01-01 00:00:00")
    engine = make_engine(db_url)
    with transaction(make_sessionmaker(engine)) as session:
        assert prune_entries(session, utcnow() - load_settings(session).retention) == 1
    engine.dispose()
    assert db.entries("a") == 3


def test_an_old_entry_with_a_blocked_match_is_pruned_with_it(
    db_url: str, feeds: FeedServer, setup: Callable[..., tuple[Path, DB]],  # noqa: F811
) -> None:
    """A match a cue blocked names its entry; it must not keep the entry, nor make every
    prune fail from then on (a foreign key)."""
    from tracker.db import make_engine, make_sessionmaker, transaction
    from tracker.retention import prune_entries
    from tracker.timeutil import utcnow

    body = rss("a", 2).replace(b"</channel>", b"<item><title>Uzbekistan does not plan to "
                               b"return to the CSTO</title><guid>a-no</guid></item></channel>")
    feeds.set("/a.xml", body)
    path, db = setup({"a": (feeds.url("/a.xml"), "1h")})
    t = Tracker(db_url, path)
    t.ok("poll")
    assert db.value("SELECT count(*) FROM blocked_matches") == 1
    db.run("UPDATE entries SET fetched_at = :t WHERE guid IN ('a-no', 'a-1')",
           t="2023-01-01 00:00:00")
    engine = make_engine(db_url)
    with transaction(make_sessionmaker(engine)) as session:
        assert prune_entries(session, utcnow() - timedelta(days=365)) == 2
    engine.dispose()
    assert db.entries("a") == 1
    assert db.value("SELECT count(*) FROM blocked_matches") == 0


def test_status_shows_the_database_size(
    db_url: str, feeds: FeedServer, setup: Callable[..., tuple[Path, DB]],  # noqa: F811
) -> None:
    feeds.set("/a.xml", rss("a", 300))
    path, _db = setup({"a": (feeds.url("/a.xml"), "1h")})
    t = Tracker(db_url, path)
    before = json.loads(t.ok("status", "--json").output)["database"]["size_bytes"]
    t.ok("poll")
    after = json.loads(t.ok("status", "--json").output)["database"]["size_bytes"]
    assert 0 < before < after
    assert "database: " in t.ok("status").output and " MB" in t.ok("status").output


def long_to_parse(items: int = 30_000) -> bytes:
    """A 4.4 MB feed of 30,000 short entries that all look like CSTO news: the slowest body
    the 5 MB cap lets through (3 s to parse, then as long to match), by entry count alone."""
    body = "".join(f"<item><title>CSTO story {i} from Uzbekistan</title><guid>l-{i}</guid>"
                   f"<description>Tashkent weighs a return to the CSTO. Talk {i}.</description>"
                   "</item>" for i in range(items))
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>long</title>{body}'
            "</channel></rss>").encode()


def slow_to_parse(items: int = 200, size: int = 20_000) -> bytes:
    """A feed whose every summary holds '<a' and a long word with no '>': quadratic for a
    backtracking markup stripper (a 20 KB summary once cost 0.5 s of CPU)."""
    summary = "&lt;a" + "b" * size
    body = "".join(f"<item><title>Story {i}</title><guid>s-{i}</guid>"
                   f"<description>{summary}</description></item>" for i in range(items))
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>slow</title>{body}'
            "</channel></rss>").encode()


def test_sigterm_during_an_entity_bomb_stops_the_daemon_within_10_s(
    feeds: FeedServer, setup: Callable[..., tuple[Path, DB]],  # noqa: F811
    daemons: Callable[..., Daemon],  # noqa: F811
) -> None:
    from tests.test_hostile_feeds import entity_bomb

    # 120 KB that the old parser expanded for 70 s in one call, deaf to signals meanwhile
    feeds.set("/bomb.xml", entity_bomb("after a doctype without a subset", 60_000, 20_000),
              content_type="application/xml")
    feeds.set("/slow.xml", slow_to_parse())
    path, db = setup({"bomb": (feeds.url("/bomb.xml"), "1h"),
                      "slow": (feeds.url("/slow.xml"), "1h")})
    d = daemons(path)
    wait_until(lambda: feeds.hits("/bomb.xml") == 1 and feeds.hits("/slow.xml") == 1,
               "both feeds fetched", [d])
    time.sleep(1)  # into the parses
    assert d.terminate() == 0  # within 10 s, or terminate() raises


def test_ctrl_c_during_the_worst_parse_stops_tracker_poll_within_10_s(
    db_url: str, feeds: FeedServer, setup: Callable[..., tuple[Path, DB]],  # noqa: F811
    env: dict[str, str],  # noqa: F811
) -> None:
    feeds.set("/slow.xml", long_to_parse())
    path, db = setup({"slow": (feeds.url("/slow.xml"), "1h")})
    poller = subprocess.Popen(
        [sys.executable, "-m", "tracker", "--db", db_url, "--scenarios", str(path), "poll"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        wait_until(lambda: feeds.hits("/slow.xml") == 1, "the slow feed fetched")
        # Into the parse and match in the worker (several seconds on this body); the
        # markup-heavy feed that used to take minutes (slow_to_parse) takes 0.3 s now.
        time.sleep(1.5)
        poller.send_signal(signal.SIGINT)
        assert poller.wait(10) == 130  # or TimeoutExpired
    finally:
        poller.kill()
        poller.wait(10)
    assert db.value("SELECT lease_owner FROM feeds") is None


def group_left(group: int) -> list[int]:
    """The processes of process group `group` still running (zombies have exited)."""
    left = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            left.append(int(stat.parent.name))
    return left


@contextlib.contextmanager
def daemon_in_its_own_group(
    feed_map: dict[str, tuple[str, str]], environ: dict[str, str], tmp_path: Path,
) -> Iterator[tuple[subprocess.Popen[bytes], DB, Path]]:
    """A daemon polling these feeds into a SQLite database, in a process group of its own (a
    terminal's job, a unit's control group): the process, the database and its log. What is
    left of the group afterwards is killed."""
    db_url = f"sqlite:///{tmp_path / 'group.sqlite3'}"
    path = tmp_path / "scenarios.yaml"
    path.write_text(scenarios_yaml(feed_map, "1s"), encoding="utf-8")
    Tracker(db_url, path).ok("init")
    db = DB(db_url)
    log = tmp_path / "daemon.log"
    try:
        with log.open("wb") as err:
            daemon = subprocess.Popen(
                [sys.executable, "-m", "tracker", "--db", db_url, "--scenarios", str(path),
                 "daemon"], stdout=subprocess.DEVNULL, stderr=err, env=environ, cwd=path.parent,
                start_new_session=True)
            try:
                yield daemon, db, log
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(daemon.pid, signal.SIGKILL)
                daemon.wait(10)
    finally:
        db.engine.dispose()


def test_ctrl_c_at_a_terminal_stops_the_daemon_and_its_workers_cleanly(
    feeds: FeedServer, env: dict[str, str], tmp_path: Path,  # noqa: F811
) -> None:
    """Ctrl-C reaches every process of the terminal's group, parse workers included: the
    daemon stops within 10 s with exit 0, no worker prints a traceback, and none is left.
    (Processes and signals, not the database: SQLite only.)"""
    feeds.set("/a.xml", rss("a", 40, matching=2))
    feeds.set("/b.xml", rss("b", 40))
    feed_map = {"a": (feeds.url("/a.xml"), "1h"), "b": (feeds.url("/b.xml"), "1h")}
    with daemon_in_its_own_group(feed_map, env, tmp_path) as (daemon, db, log):
        wait_until(lambda: db.entries("a") == 40 and db.entries("b") == 40, "both feeds stored")
        os.killpg(daemon.pid, signal.SIGINT)
        assert daemon.wait(10) == 0
        wait_until(lambda: not group_left(daemon.pid), "every process of the daemon's group "
                   "gone", timeout=10)
    text = log.read_text(errors="replace")
    assert "Traceback" not in text and "KeyboardInterrupt" not in text, text


@pytest.mark.parametrize("to", ["the daemon", "every process"])
def test_a_stop_ends_the_daemon_and_its_parse_workers_cleanly(
    to: str, feeds: FeedServer, env: dict[str, str], tmp_path: Path,  # noqa: F811
) -> None:
    """A stop sends SIGTERM to the daemon alone (the shipped unit's KillMode=mixed, `docker
    stop`, `kill PID`) or to every process at once (systemd's default KillMode=control-group,
    a supervisor's stop-as-group, `kill -TERM -- -PGID`); whatever is left once the daemon has
    exited gets SIGKILL. SIGTERM in each parse worker killed the one waiting for a task with
    the pool's queue lock held, and in the fork server made the pool take its workers for dead
    and start more: the pool could not be ended, the stop was forced after 6 s and recorded as
    abandoned, and three processes were left. Either way the daemon must stop cleanly within
    10 s and end its workers itself, leaving nothing for the SIGKILL. (Processes and signals,
    not the database: SQLite only.)"""
    from tests.test_deploy import UNIT

    modes = [line.partition("=")[2].strip() for line in UNIT.read_text().splitlines()
             if line.startswith("KillMode=")]
    assert (modes[-1] if modes else "control-group") in ("mixed", "control-group"), modes
    feeds.set("/a.xml", rss("a", 40, matching=2))
    feed_map = {"a": (feeds.url("/a.xml"), "1h")}
    with daemon_in_its_own_group(feed_map, env, tmp_path) as (daemon, db, log):
        wait_until(lambda: db.entries("a") == 40, "the feed parsed and stored")
        # the daemon, the resource tracker, the fork server and a parse worker
        assert len(group_left(daemon.pid)) >= 4, group_left(daemon.pid)
        if to == "the daemon":
            daemon.send_signal(signal.SIGTERM)
        else:
            os.killpg(daemon.pid, signal.SIGTERM)
        assert daemon.wait(10) == 0
        wait_until(lambda: not group_left(daemon.pid), "nothing left for the SIGKILL",
                   timeout=10)
        text = log.read_text(errors="replace")
        assert "Traceback" not in text and "exiting without it" not in text, text
        assert db.value("SELECT detail FROM job_runs WHERE job = 'stop'") == "stopped cleanly"


_PROXY = """
import asyncio, sys
listen, target = int(sys.argv[1]), int(sys.argv[2])
async def pipe(r, w):
    try:
        while data := await r.read(65536):
            w.write(data)
            await w.drain()
    except Exception:
        pass
    finally:
        w.close()
async def handle(cr, cw):
    try:
        sr, sw = await asyncio.open_connection(sys.argv[3], target)
    except OSError:
        cw.close()
        return
    await asyncio.gather(pipe(cr, sw), pipe(sr, cw))
async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", listen, reuse_address=True)
    print("up", flush=True)
    await server.serve_forever()
asyncio.run(main())
"""


class TcpProxy:
    """A TCP forwarder from 127.0.0.1:`listen` to the database server, as a process: `cut`
    kills it, and with it every connection (the database gone); `start` brings it back."""

    def __init__(self, listen: int, host: str, port: int) -> None:
        self.args = [sys.executable, "-c", _PROXY, str(listen), str(port), host]
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "up"

    def cut(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None


@pytest.mark.skipif(not PG_URL, reason="needs TRACKER_TEST_DATABASE_URL")
@contextlib.contextmanager
def proxied_postgresql(tmp_path: Path) -> Iterator[tuple[str, str, TcpProxy]]:
    """An empty PostgreSQL schema: its direct URL, a URL through a TcpProxy (started), and
    the proxy, to cut and start again; cut at the end."""
    from sqlalchemy.engine import make_url

    with empty_database("postgresql", tmp_path) as direct:
        real = make_url(direct)
        listen = closed_port()
        proxy = TcpProxy(listen, real.host or "127.0.0.1", real.port or 5432)
        proxy.start()
        try:
            yield direct, real.set(host="127.0.0.1", port=listen).render_as_string(
                hide_password=False), proxy
        finally:
            proxy.cut()


def test_the_database_gone_while_a_feed_is_stored_does_not_stop_polling(
    feeds: FeedServer, env: dict[str, str], tmp_path: Path,  # noqa: F811
) -> None:
    """The database went away while a fetched feed waited to be stored: the writer died,
    "polling has stopped", and the daemon ran on without polling, `status` saying all was
    well, until someone restarted it. Now the feed is reported not stored (no failure charged
    to it: its lease lapses and a later poll takes it) and polling goes on when the database
    comes back."""

    feeds.set("/fast.xml", rss("fast", 3))
    feeds.set("/slow.xml", rss("slow", 3))
    feeds.set_fault("/slow.xml", delay=4)
    path = tmp_path / "scenarios.yaml"
    path.write_text(scenarios_yaml({"fast": (feeds.url("/fast.xml"), "1s"),
                                    "slow": (feeds.url("/slow.xml"), "1h")}), encoding="utf-8")
    with proxied_postgresql(tmp_path) as (direct, proxied, proxy):
        Tracker(proxied, path).ok("init")
        db = DB(direct)
        daemon = Daemon(proxied, path, env, tmp_path / "daemon.log")
        try:
            wait_until(lambda: feeds.hits("/slow.xml") == 1, "the slow feed fetching",
                       [daemon])
            proxy.cut()  # while the slow fetch finishes
            wait_until(lambda: "could not store 1 feed" in daemon.text(),
                       "the store refused for want of a database", [daemon])
            proxy.start()
            before = feeds.hits("/fast.xml")
            wait_until(lambda: feeds.hits("/fast.xml") >= before + 3,
                       "polling going on once the database is back", [daemon])
            assert daemon.proc.poll() is None, daemon.text()
            assert "polling has stopped" not in daemon.text()
            assert db.value("SELECT failures FROM feeds WHERE id = 'slow'") == 0
            assert daemon.terminate() == 0
        finally:
            daemon.close()
            db.engine.dispose()


def test_a_sighup_while_the_daemon_starts_is_kept_not_fatal(
    feeds: FeedServer, env: dict[str, str], tmp_path: Path,  # noqa: F811
) -> None:
    """`systemctl restart` then `reload`: a SIGHUP before the handlers were installed ended
    the daemon with the signal's default action (exit 129, nothing logged), and systemd does
    not restart a unit that a signal ended cleanly. It is now kept and acted on."""
    _, daemon = one_feed_daemon(feeds, env, tmp_path, items=3)
    try:
        time.sleep(0.1)  # the interpreter is up; the daemon is still starting
        daemon.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "SIGHUP: syncing" in daemon.text(), "the early SIGHUP acted on",
                   [daemon])
        assert daemon.proc.poll() is None, daemon.text()
        assert daemon.terminate() == 0
    finally:
        daemon.close()


def test_a_stop_as_the_scheduler_hands_over_a_one_off_job_is_a_clean_stop() -> None:
    """APScheduler 3 marks itself stopped before it takes the lock under which its loop hands
    due jobs to the pool; a one-off job (a SIGHUP's sync) handed over at that moment was then
    not found to be removed, and the loop raised JobLookupError: the daemon exited 1, not 0,
    on a stop right after a reload (the early-SIGHUP test above failed so, now and then, under
    load). Here the race is made to happen every time, with APScheduler's own scheduler."""
    import threading

    from apscheduler.jobstores.memory import MemoryJobStore
    from apscheduler.schedulers.base import STATE_STOPPED
    from apscheduler.schedulers.blocking import BlockingScheduler

    from tracker.config import Settings
    from tracker.daemon import Context, run_scheduler

    ctx = Context(None, "scenarios.yaml", "host:1", Settings())  # type: ignore[arg-type]
    ran = threading.Event()

    class StoppedWhileDue(MemoryJobStore):
        def get_due_jobs(self, now: datetime) -> list[Any]:
            due = super().get_due_jobs(now)
            if due and not ctx.stop.is_set():  # a SIGTERM now, as the daemon's handler does
                ctx.stop.set()
                threading.Thread(target=scheduler.shutdown, kwargs={"wait": False},
                                 daemon=True).start()
                deadline = time.monotonic() + 5
                while scheduler.state != STATE_STOPPED and time.monotonic() < deadline:
                    time.sleep(0.001)
            return list(due)

    scheduler = BlockingScheduler(jobstores={"default": StoppedWhileDue()}, timezone=UTC)
    scheduler.add_job(ran.set, id="sync", name="sync")  # one-off, due at once
    run_scheduler(ctx, scheduler)  # raised JobLookupError
    assert scheduler.state == STATE_STOPPED
    assert ran.wait(5), "the one-off job was handed over and ran"


@pytest.mark.skipif(not PG_URL, reason="needs TRACKER_TEST_DATABASE_URL")
def test_a_report_job_that_failed_for_want_of_the_database_is_made_by_the_outbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The database unreachable when the report's time came: the job failed, nothing tried
    again, and the week's report waited for a restart (or was never made, once the next
    period began). The outbox job, every minute, now makes it."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import OperationalError

    from tracker.daemon import Context, outbox_job, report_job
    from tracker.db import make_engine, make_sessionmaker
    from tracker.reports import latest_due_period
    from tracker.scenarios import load_scenarios
    from tracker.timeutil import utcnow

    monkeypatch.delenv("TRACKER_SMTP_HOST", raising=False)
    monkeypatch.setenv("TRACKER_REPORTS_DIR", str(tmp_path / "reports"))
    path = tmp_path / "scenarios.yaml"
    path.write_text(scenarios_yaml({}), encoding="utf-8")
    with empty_database("postgresql", tmp_path) as direct:
        Tracker(direct, path).ok("init")
        real = make_url(direct)
        listen = closed_port()
        proxy = TcpProxy(listen, real.host or "127.0.0.1", real.port or 5432)
        engine = make_engine(real.set(host="127.0.0.1", port=listen).render_as_string(
            hide_password=False))
        db = DB(direct)
        try:
            spec = load_scenarios(path)
            ctx = Context(make_sessionmaker(engine), str(path), "test:1", spec.settings)
            with pytest.raises(OperationalError):  # the database cannot be reached
                report_job(ctx)
            assert db.value("SELECT count(*) FROM reports") == 0
            proxy.start()
            outbox_job(ctx)
            period = latest_due_period(utcnow(), spec.settings)
            assert db.rows("SELECT period, state FROM reports") == [(period, "sent")]
            assert (tmp_path / "reports" / f"{period}.html").is_file()
            outbox_job(ctx)  # once made, not again
            assert db.value("SELECT count(*) FROM reports") == 1
        finally:
            proxy.cut()
            engine.dispose()
            db.engine.dispose()


def log_records(text: str) -> list[str]:
    """The log's records, each its first line (a traceback's lines are indented or start
    with 'Traceback', an exception's name or 'The above exception')."""
    from tests.test_daemon import LOG_LINE

    return [line for line in text.splitlines() if LOG_LINE.match(line)]


def tracebacks(text: str) -> int:
    """Tracebacks printed, an exception with its causes counting once."""
    return (text.count("Traceback (most recent call last)")
            - text.count("The above exception was the direct cause")
            - text.count("During handling of the above exception"))


@pytest.mark.skipif(not PG_URL, reason="needs TRACKER_TEST_DATABASE_URL")
def test_a_database_outage_is_logged_once_not_at_every_tick(
    feeds: FeedServer, env: dict[str, str], tmp_path: Path,  # noqa: F811
) -> None:
    """The database unreachable: every tick logged two ERROR lines, one with a full
    traceback (APScheduler's "Job ... raised an exception", then "job poll failed"), and so
    did the outbox job every minute. Now the outage's first failure is logged, with one
    traceback; then nothing for a few minutes (the reminder: test_a_long_outage_...); and a
    line when the database answers again. The jobs go on as before."""
    feeds.set("/a.xml", rss("a", 3))
    path = tmp_path / "scenarios.yaml"
    path.write_text(scenarios_yaml({"a": (feeds.url("/a.xml"), "1h")}), encoding="utf-8")
    with proxied_postgresql(tmp_path) as (direct, proxied, proxy):
        Tracker(proxied, path).ok("init")
        db = DB(direct)
        daemon = Daemon(proxied, path, env, tmp_path / "daemon.log")
        try:
            # polled, the catch-up report sent: nothing in flight when it is cut
            wait_until(lambda: db.entries("a") == 3 and db.value(
                "SELECT count(*) FROM job_runs WHERE job = 'report' AND finished IS NOT "
                "NULL"), "the first poll and report", [daemon])
            proxy.cut()
            before = len(daemon.text())
            wait_until(lambda: "database unreachable" in daemon.text(), "the outage "
                       "logged", [daemon])
            time.sleep(2.5)  # more ticks, each failing
            proxy.start()
            wait_until(lambda: "database reachable again" in daemon.text(),
                       "the database back", [daemon])
            assert daemon.terminate() == 0
        finally:
            daemon.close()
            db.engine.dispose()
    outage = daemon.text()[before:]
    records = log_records(outage)
    errors = [r for r in records if " ERROR " in r]
    assert len(errors) == 1 and "ERROR tracker.daemon: database unreachable (job " in errors[0]
    assert "Connection refused" in errors[0], errors[0]
    assert tracebacks(outage) == 1, outage
    assert "raised an exception" not in outage and "failed: OperationalError" not in outage
    back = [r for r in records if "database reachable again after " in r]
    assert len(back) == 1 and " WARNING " in back[0], records
    # nothing else but what the daemon did once it was back, and its stop
    assert not [r for r in records if " WARNING " in r and r not in back], records


def test_a_long_outage_is_summed_up_every_few_minutes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    """While the database stays unreachable, a one-line WARNING at most every
    OUTAGE_REMINDER, with the outage's start, its count of failed attempts and the reason;
    errors of a statement, not of the database's reach, are no outage."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    from tracker.daemon import OUTAGE_REMINDER, DatabaseOutage, is_database_outage

    # a SQLite file in a folder that is not there: the error of a file out of reach
    engine = create_engine(f"sqlite:///{tmp_path / 'gone' / 'x.sqlite3'}")
    with pytest.raises(OperationalError) as unreachable:
        engine.connect()
    engine.dispose()
    assert is_database_outage(unreachable.value)
    here = create_engine("sqlite://")
    with pytest.raises(OperationalError) as bad_statement, here.connect() as conn:
        conn.execute(text("SELECT * FROM nowhere"))
    here.dispose()
    assert not is_database_outage(bad_statement.value)
    assert not is_database_outage(ValueError("no database here"))

    start = datetime(2026, 11, 29, 21, 40, 2, tzinfo=UTC)
    minute = OUTAGE_REMINDER / 5
    outage = DatabaseOutage()
    caplog.set_level("INFO", logger="tracker.daemon")
    for i in range(12):  # a failed attempt a minute, two jobs failing at the last one
        outage.failed("poll", unreachable.value, now=start + i * minute)
    outage.failed("outbox", unreachable.value, now=start + 11 * minute)
    outage.reached(now=start + 11 * minute + minute / 2)
    outage.reached(now=start + 12 * minute)  # and again: said once
    said = [(r.levelname, r.getMessage(), r.exc_info is not None) for r in caplog.records]
    reason = "OperationalError: unable to open database file"
    assert said == [
        ("ERROR", f"database unreachable (job poll failed): {reason}", True),
        ("WARNING", "database still unreachable since 2026-11-29T21:40:02Z "
                    f"(6 failed attempts): {reason}", False),
        ("WARNING", "database still unreachable since 2026-11-29T21:40:02Z "
                    f"(11 failed attempts): {reason}", False),
        ("WARNING", "database reachable again after 11m30s", False),
    ]
    caplog.clear()
    outage.failed("poll", unreachable.value, now=start + 20 * minute)  # a new outage
    assert [r.levelname for r in caplog.records] == ["ERROR"]


def test_a_sqlite_file_out_of_reach_is_an_outage_logged_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    """The same on SQLite, whose daemon keeps its connections open: a file whose folder is
    gone (an unmounted volume) is out of reach for the next connection only. The daemon's
    scheduler, jobs and pipeline run here in-process, so that its connections can be closed
    as the folder goes; each tick then fails on the file it cannot open."""
    import threading

    from tracker.daemon import Context, build_scheduler
    from tracker.db import make_engine, make_sessionmaker
    from tracker.scenarios import load_scenarios

    monkeypatch.delenv("TRACKER_SMTP_HOST", raising=False)
    monkeypatch.setenv("TRACKER_REPORTS_DIR", str(tmp_path / "reports"))
    caplog.set_level("INFO", logger="tracker")
    path = tmp_path / "scenarios.yaml"
    path.write_text(scenarios_yaml({}, "1s"), encoding="utf-8")
    folder = tmp_path / "volume"
    folder.mkdir()
    url = f"sqlite:///{folder / 'tracker.sqlite3'}"
    Tracker(url, path).ok("init")
    engine = make_engine(url, create=False)
    ctx = Context(make_sessionmaker(engine), str(path), "test:1", load_scenarios(path).settings)
    scheduler = build_scheduler(ctx)
    runner = threading.Thread(target=scheduler.start, daemon=True)
    runner.start()

    def said(text: str) -> list[logging.LogRecord]:
        return [r for r in caplog.records if text in r.getMessage()]

    try:
        wait_until(lambda: said(" sent: "), "the catch-up report")
        folder.rename(tmp_path / "away")
        engine.dispose()  # what a restart would do: the next connection opens the file
        wait_until(lambda: said("database unreachable"), "the outage logged")
        time.sleep(2.5)  # more ticks, each failing
        (tmp_path / "away").rename(folder)
        wait_until(lambda: said("database reachable again after"), "the database back")
    finally:
        ctx.stop.set()
        scheduler.shutdown(wait=True)
        runner.join(10)
        if ctx.pipeline is not None:
            ctx.pipeline.join(10)
        engine.dispose()
    (error,) = [r for r in caplog.records if r.levelname == "ERROR"]
    message = error.getMessage()
    assert message.startswith("database unreachable (job ") and message.endswith(
        "failed): OperationalError: unable to open database file"), message
    assert error.exc_info is not None
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and warnings[0].startswith("database reachable again after "), \
        warnings
