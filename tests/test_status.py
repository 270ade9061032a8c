"""`tracker status`: feeds' health, the last and next run of each job, the outbox."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import Tracker, empty_database, feeds_yaml
from tests.feedserver import FeedServer
from tests.test_daemon import (  # noqa: F401 - fixtures
    DB,
    Daemon,
    daemons,
    env,
    setup,
    smtp,
    wait_until,
)
from tracker.db import make_engine, make_sessionmaker
from tracker.jobs import record_job
from tracker.models import JobRun


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as feeds:
        feeds.set_file("/good.xml", "rss20.xml")
        feeds.set_fault("/broken.xml", status=404)
        yield feeds


@pytest.fixture
def two_feeds(db_url: str, tmp_path: Path, server: FeedServer,
              monkeypatch: pytest.MonkeyPatch) -> Tracker:
    """An initialized database with a working feed and a broken one; reports go to files."""
    monkeypatch.delenv("TRACKER_SMTP_HOST", raising=False)
    monkeypatch.setenv("TRACKER_REPORTS_DIR", str(tmp_path / "reports"))
    path = tmp_path / "scenarios.yaml"
    path.write_text(feeds_yaml({"good": server.url("/good.xml"),
                                "broken": server.url("/broken.xml")},
                               settings="polling: {tick: 30s}"), encoding="utf-8")
    tracker = Tracker(db_url, path)
    tracker.ok("init")
    return tracker


def status(tracker: Tracker) -> dict:
    return json.loads(tracker.ok("status", "--json").output)


def test_a_fresh_database_has_healthy_feeds_and_no_runs(initialized: Tracker) -> None:
    data = status(initialized)
    assert set(data) == {"daemon", "feeds", "jobs", "outbox", "database", "settings"}
    feed = data["feeds"][0]
    assert {"id", "url", "state", "last_success", "last_error", "failures", "next_poll",
            "entries"} <= set(feed)
    assert (feed["id"], feed["state"], feed["entries"], feed["failures"]) == ("local", "ok", 0, 0)
    assert feed["last_success"] is None and feed["last_error"] is None
    jobs = {j["job"]: j for j in data["jobs"]}
    assert set(jobs) == {"poll", "report", "outbox", "prune"}
    for job in jobs.values():
        assert {"job", "started", "finished", "outcome"} <= set(job)
        assert job["started"] is None and job["outcome"] is None
    # The default schedule: the next report goes out on a Monday at 07:00 UTC.
    report_at = datetime.fromisoformat(jobs["report"]["next"])
    assert (report_at.weekday(), report_at.hour, report_at.minute) == (0, 7, 0)
    assert report_at > datetime.now(UTC)
    assert data["outbox"] == []


def test_shows_failing_feeds_job_runs_and_the_outbox(two_feeds: Tracker) -> None:
    two_feeds("poll")
    sessions = make_sessionmaker(make_engine(two_feeds.db_url))
    with record_job(sessions, "poll", owner="host-a:1") as note:
        note.detail = "2 feeds, 1 failed"
    with pytest.raises(RuntimeError), record_job(sessions, "report", owner="host-a:1"):
        raise RuntimeError("renderer broke")
    two_feeds.ok("report", "--send")

    data = status(two_feeds)
    feeds = {f["id"]: f for f in data["feeds"]}
    assert feeds["good"]["state"] == "ok" and feeds["good"]["entries"] > 0
    assert feeds["good"]["last_success"] is not None
    broken = feeds["broken"]
    assert (broken["state"], broken["failures"], broken["entries"]) == ("failing", 1, 0)
    assert "404" in broken["last_error"]
    assert datetime.fromisoformat(broken["next_poll"]) > datetime.now(UTC)

    jobs = {j["job"]: j for j in data["jobs"]}
    poll = jobs["poll"]
    assert poll["outcome"] == "ok" and poll["detail"] == "2 feeds, 1 failed"
    started = datetime.fromisoformat(poll["started"])
    assert datetime.fromisoformat(poll["finished"]) >= started
    assert datetime.fromisoformat(poll["next"]) >= started + timedelta(seconds=30)
    assert jobs["report"]["outcome"] == "error"
    assert "renderer broke" in jobs["report"]["detail"]

    [report] = data["outbox"]
    assert (report["state"], report["attempts"]) == ("sent", 1)
    assert report["sent_at"] is not None and report["period"].count("-W") == 1

    text = two_feeds.ok("status").output
    assert "broken" in text and "failing" in text and "404" in text
    assert "renderer broke" in text and report["period"] in text


def test_a_retired_feed_is_shown_as_retired(two_feeds: Tracker) -> None:
    path = two_feeds.scenarios
    path.write_text(path.read_text().replace("  - {id: broken", "  # - {id: broken"))
    two_feeds.ok("sync")
    feeds = {f["id"]: f for f in status(two_feeds)["feeds"]}
    assert feeds["broken"]["state"] == "retired" and feeds["good"]["state"] == "ok"


def test_a_feed_held_for_its_host_says_why(initialized: Tracker) -> None:
    """Held because another feed of its host got a Retry-After, a feed has no error of its
    own: status said "host asked to wait: None"."""
    from sqlalchemy import update

    from tracker.db import transaction
    from tracker.models import Feed

    engine = make_engine(initialized.db_url)
    with transaction(make_sessionmaker(engine)) as session:
        session.execute(update(Feed).values(held_until=datetime.now(UTC) + timedelta(hours=1),
                                            last_error=None))
    engine.dispose()
    text = initialized.ok("status").output
    assert "held with its host: another feed of the host got a Retry-After" in text, text
    assert "None" not in text


def test_refuses_a_database_without_schema(tracker: Tracker) -> None:
    result = tracker("status")
    assert result.exit_code == 1
    assert "tracker init" in result.output


@pytest.mark.parametrize("command", ["daemon", "status"])
def test_commands_have_help(tracker: Tracker, command: str) -> None:
    result = tracker(command, "--help")
    assert result.exit_code == 0 and len(result.output.splitlines()) > 3


def test_a_daemon_killed_with_kill_9_is_not_running_at_once(
    server: FeedServer, setup: Callable[..., tuple[Path, DB]],  # noqa: F811
    daemons: Callable[..., Daemon], db_url: str,  # noqa: F811
) -> None:
    """A daemon of this host whose process is gone could not record its stop (kill -9, a
    crash, a power loss): status said "running" until its last job run was 3 minutes old."""
    path, db = setup({"good": (server.url("/good.xml"), "1h")})
    daemon = daemons(path)
    mark = datetime.now(UTC) - timedelta(seconds=1)
    wait_until(lambda: db.runs_done_since("poll", mark, daemon.owner_suffix),
               "the daemon's first poll", [daemon])
    t = Tracker(db_url, path)
    assert status(t)["daemon"]["running"] is True
    pid = daemon.proc.pid
    daemon.kill()  # SIGKILL, and reaped: the pid no longer exists

    data = status(t)["daemon"]
    assert data["running"] is False, data
    assert data["gone"] == [f"{socket.gethostname()}:{pid}"]
    assert data["stopped_at"] is None and data["last_seen"] is not None
    text = t.ok("status").output
    assert f"daemon: not running (process {pid} is gone; its stop was not recorded; " \
           "last seen " in text, text
    assert "; next " not in text  # no schedule shown for a daemon that is not there


def a_dead_pid() -> int:
    """The pid of a process that has ended and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(10)
    return child.pid


@pytest.mark.parametrize(("where", "running"), [
    ("this host, process gone", False),
    ("another host, process gone here", True),  # its pid means nothing on this host
    ("this host, process alive", True),
])
def test_the_heartbeat_decides_unless_the_daemon_of_this_host_is_gone(
    sessions: sessionmaker[Session], initialized: Tracker, where: str, running: bool,
) -> None:
    host = socket.gethostname()
    owner = {"this host, process gone": f"{host}:{a_dead_pid()}",
             "another host, process gone here": f"not-{host}:{a_dead_pid()}",
             "this host, process alive": f"{host}:1"}[where]
    with record_job(sessions, "outbox", owner=owner):
        pass
    data = status(initialized)["daemon"]
    assert data["running"] is running, data
    assert data["gone"] == ([] if running else [owner])
    line = initialized.ok("status").output.splitlines()[0]
    assert ("is gone" in line) is (not running), line


@pytest.mark.parametrize("after", ["a clean stop", "a daemon running"])
def test_a_dead_daemon_another_took_over_from_is_not_named(
    sessions: sessionmaker[Session], initialized: Tracker, after: str,
) -> None:
    """A daemon killed, then one started after it (a restart) that stopped cleanly or runs:
    status named the killed one as gone ("process N is gone; its stop was not recorded"), which
    after `systemctl restart` then `stop` reads as a crash, and listed it in JSON `gone` beside
    a healthy daemon (an alert on a non-empty `gone` fired falsely)."""
    from tracker.jobs import record_stop

    host = socket.gethostname()
    dead = f"{host}:{a_dead_pid()}"
    with record_job(sessions, "outbox", owner=dead):
        pass
    later = f"{host}:{os.getpid()}"  # alive: this process
    with record_job(sessions, "poll", owner=later):
        pass
    if after == "a clean stop":
        record_stop(sessions, later, "stopped cleanly")
    data = status(initialized)["daemon"]
    assert data["gone"] == [], data
    assert data["running"] is (after == "a daemon running"), data
    line = initialized.ok("status").output.splitlines()[0]
    assert "is gone" not in line, line
    if after == "a clean stop":
        assert line.startswith("daemon: not running (stopped "), line


def test_a_killed_process_not_yet_reaped_is_gone() -> None:
    """A daemon killed under a parent that has not reaped it (a container's PID 1, a shell)
    stays a zombie: kill(pid, 0) succeeds, and status said "running" for minutes."""
    from tracker.config import is_dead_here

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = datetime.now(UTC) + timedelta(seconds=10)
        state = b""
        while datetime.now(UTC) < deadline:  # it ends; nobody waits for it yet
            stat = Path(f"/proc/{child.pid}/stat").read_bytes()
            state = stat[stat.rfind(b")") + 1:].split()[0]
            if state == b"Z":
                break
        assert state == b"Z"
        assert is_dead_here(f"{socket.gethostname()}:{child.pid}")
    finally:
        child.wait(10)
    assert not is_dead_here(f"{socket.gethostname()}:{os.getpid()}")


def test_a_new_daemon_ends_the_job_runs_a_killed_one_left_running(
    sessions: sessionmaker[Session], initialized: Tracker,
) -> None:
    """kill -9 mid-job left the run "running" in status (for hours, for the 6-hourly prune
    job), though the new daemon freed that process's leases and claims."""
    from tracker.daemon import release_dead_claims

    host = socket.gethostname()
    dead, alive = f"{host}:{a_dead_pid()}", f"not-{host}:{a_dead_pid()}"
    for owner in (dead, alive):
        with record_job(sessions, "prune", owner=owner):
            pass
    with sessions.begin() as session:  # as a kill -9 mid-run leaves them
        session.execute(update(JobRun).values(outcome="running", finished=None))
    release_dead_claims(sessions)
    with sessions() as session:
        rows = {r.owner: (r.outcome, r.detail, r.finished is not None)
                for r in session.scalars(select(JobRun))}
    assert rows[dead] == ("error", "abandoned: its daemon's process ended (kill -9 or a crash)",
                          True)
    assert rows[alive] == ("running", None, False)  # another host's: never second-guessed


def test_the_sqlite_size_counts_the_write_ahead_log(
    tmp_path: Path, scenarios_file: Path,
) -> None:
    """While a daemon holds the database open, the -wal file holds what was written since the
    last checkpoint, and can be larger than the database file itself."""
    with empty_database("sqlite", tmp_path) as url:
        t = Tracker(url, scenarios_file)
        t.ok("init")
        main = url.removeprefix("sqlite:///")
        writer = sqlite3.connect(main, isolation_level=None)
        try:
            assert writer.execute("PRAGMA journal_mode").fetchone() == ("wal",)
            writer.execute("PRAGMA wal_autocheckpoint=0")  # the writes stay in the log
            writer.execute("CREATE TABLE ballast (b BLOB)")
            writer.executemany("INSERT INTO ballast VALUES (randomblob(?))",
                               [(16384,)] * 200)
            size = status(t)["database"]["size_bytes"]
            text = t.ok("status").output
            wal = os.path.getsize(f"{main}-wal")
            assert wal > os.path.getsize(main)  # most of it is in the log
            assert size == os.path.getsize(main) + wal
            assert f"database: {size / 2**20:.1f} MB" in text, text
        finally:
            writer.close()
