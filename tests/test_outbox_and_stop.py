"""The outbox without a database lock held over SMTP, the daemon's catch-up report after its
first round, and a daemon forced out mid-send: each against real processes and servers."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import Tracker
from tests.feedserver import FeedServer
from tests.smtpserver import SmtpServer
from tests.test_daemon import DB, Daemon, rss, scenarios_yaml, wait_until
from tracker.db import transaction
from tracker.mail import deliver_due
from tracker.models import Report
from tracker.timeutil import utcnow

# Longer than any wait below: a command still waiting when it fires was blocked by the send.
SMTP_TIMEOUT = 60


class HangingListener:
    """A TCP server on loopback that accepts connections and never says a word (an SMTP
    server that hangs before its greeting); `drop()` closes them, as a crashing server would."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = int(self.sock.getsockname()[1])
        self.accepted: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self._lock:
                self.accepted.append(conn)

    @property
    def connections(self) -> int:
        with self._lock:
            return len(self.accepted)

    def drop(self) -> None:
        with self._lock:
            for conn in self.accepted:
                conn.close()

    def close(self) -> None:
        self.drop()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() (close alone does not)
        self.sock.close()
        self._thread.join(5)


@pytest.fixture
def hanging() -> Iterator[HangingListener]:
    listener = HangingListener()
    yield listener
    listener.close()


def mail_env(port: int) -> dict[str, str]:
    """The environment of a `tracker` subprocess sending plain SMTP to loopback `port`."""
    out = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    out.update(TRACKER_SMTP_HOST="127.0.0.1", TRACKER_SMTP_PORT=str(port),
               TRACKER_SMTP_SECURITY="none", TRACKER_SMTP_TIMEOUT=str(SMTP_TIMEOUT),
               TRACKER_MAIL_FROM="tracker@example.org", TRACKER_MAIL_TO="analyst@example.org")
    return out


def tracker_process(tracker: Tracker, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tracker", "--db", tracker.db_url, "--scenarios",
         str(tracker.scenarios), *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        cwd=tracker.scenarios.parent)


def run_tracker(tracker: Tracker, env: dict[str, str], *args: str) -> tuple[int, str]:
    """Run a command to its end; one that is still blocked when the send's SMTP timeout
    would fire is a failure (TimeoutExpired), whatever the database's own busy timeout."""
    proc = tracker_process(tracker, env, *args)
    try:
        out, _ = proc.communicate(timeout=SMTP_TIMEOUT - 10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"`tracker {' '.join(args)}` was blocked by the send in flight")
    return proc.returncode, out


def the_report(sessions: sessionmaker[Session]) -> Report:
    with sessions() as session:
        return session.scalars(select(Report)).one()


def dead_owner() -> str:
    """The owner name of a process of this host that has exited."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    return f"{socket.gethostname()}:{gone.pid}"


# --- 1. no database lock over the SMTP conversation --------------------------------------


def test_commands_go_on_while_a_send_hangs_and_a_second_sender_is_refused(
        initialized: Tracker, hanging: HangingListener,
        sessions: sessionmaker[Session]) -> None:
    """`report --send` to a server that never answers held SQLite's write lock for the whole
    SMTP conversation: `show` waited 30 s and failed with "database is locked"."""
    env = mail_env(hanging.port)
    send = tracker_process(initialized, env, "report", "--send")
    try:
        wait_until(lambda: hanging.connections or send.poll() is not None, "the send's SMTP "
                   "connection")
        assert send.poll() is None, send.communicate()[0]

        code, out = run_tracker(initialized, env, "show")
        assert code == 0, out
        assert "Will Uzbekistan rejoin the CSTO before 2028?" in out
        code, out = run_tracker(initialized, env, "status")
        assert code == 0, out
        # The claim, not a lock, keeps a second sender away: refused at once, nothing sent.
        code, out = run_tracker(initialized, env, "report", "--send")
        assert code == 1 and "is being sent by" in out and "try again" in out, out
        assert send.poll() is None and hanging.connections == 1

        hanging.drop()  # the server goes away: the send fails, the report stays queued
        out, _ = send.communicate(timeout=30)
        assert send.returncode == 1 and "could not send report" in out, out
    finally:
        if send.poll() is None:
            send.kill()
            send.communicate()
    row = the_report(sessions)
    assert (row.state, row.attempts, row.claimed_by, row.claimed_until) == (
        "failed", 1, None, None)
    assert row.last_error and row.next_attempt is not None


def test_a_sender_never_takes_a_report_it_is_already_sending(
        initialized: Tracker, sessions: sessionmaker[Session],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The daemon's report and outbox jobs share an owner and run in threads of their own:
    with no lock held over SMTP, only the claim stops the second from sending the same
    report while the first is at it."""
    initialized.ok("report")
    with transaction(sessions) as session:
        row = session.scalars(select(Report)).one()
        row.claimed_by, row.claimed_until = "daemon-a", utcnow() + timedelta(minutes=5)
    with SmtpServer() as server:
        for name, value in mail_env(server.port).items():
            if name.startswith("TRACKER_"):
                monkeypatch.setenv(name, value)
        assert deliver_due(sessions, owner="daemon-a") == []
        assert server.messages == []


# --- 2. the catch-up report after the first round ----------------------------------------


def test_the_catch_up_report_waits_for_a_slow_first_round_under_a_short_tick(
        db_url: str, tmp_path: Path) -> None:
    """With a tick shorter than a slow fetch, the second tick claimed nothing and ended its
    empty round at once, which fired the catch-up report while the first round still fetched
    the slow feed."""
    with FeedServer() as feeds, SmtpServer() as smtp:
        feeds.set("/fast.xml", rss("fast", 3))
        feeds.set("/slow.xml", rss("slow", 3, matching=1))
        feeds.set_fault("/slow.xml", delay=4)
        path = tmp_path / "scenarios.yaml"
        path.write_text(scenarios_yaml({"fast": (feeds.url("/fast.xml"), "1h"),
                                        "slow": (feeds.url("/slow.xml"), "1h")}, tick="1s"),
                        encoding="utf-8")
        Tracker(db_url, path).ok("init")
        db = DB(db_url)
        env = mail_env(smtp.port)
        d = Daemon(db_url, path, env, tmp_path / "daemon.log")
        try:
            wait_until(lambda: len(smtp.messages) == 1, "the catch-up report", [d], timeout=60)
            assert d.terminate() == 0
            text = smtp.messages[0].message.get_body(("plain",)).get_content()
            assert "never polled" not in text, text
            assert db.entries("slow") == 3
            made = db.value("SELECT created_at FROM reports")
            polled = db.value("SELECT last_polled FROM feeds WHERE id = 'slow'")
            assert polled is not None and made >= polled, (made, polled, d.text())
        finally:
            d.close()
            db.engine.dispose()


def test_the_catch_up_report_waits_for_a_round_the_daemon_polled_itself(
        db_url: str, tmp_path: Path) -> None:
    """A daemon started while another process polled every due feed counted its first claim,
    which found them all leased and polled nothing, as its first round: the catch-up report
    was made at once, with the feed never polled."""
    with FeedServer() as feeds, SmtpServer() as smtp:
        feeds.set("/a.xml", rss("a", 3, matching=1))
        feeds.set_fault("/a.xml", delay=60)
        path = tmp_path / "scenarios.yaml"
        path.write_text(scenarios_yaml({"a": (feeds.url("/a.xml"), "1h")}, tick="1s"),
                        encoding="utf-8")
        tracker = Tracker(db_url, path)
        tracker.ok("init")
        db = DB(db_url)
        env = mail_env(smtp.port)
        other = tracker_process(tracker, env, "poll")
        d: Daemon | None = None
        try:
            wait_until(lambda: feeds.hits("/a.xml") == 1, "the other poller fetching the feed")
            held_by = db.value("SELECT lease_owner FROM feeds")
            assert held_by == f"{socket.gethostname()}:{other.pid}", held_by
            mark = utcnow()
            d = Daemon(db_url, path, env, tmp_path / "daemon.log")
            wait_until(lambda: db.runs_done_since("poll", mark, d.owner_suffix) >= 2,
                       "two ticks of the daemon with the feed leased", [d])
            assert db.value("SELECT count(*) FROM reports") == 0, d.text()
            # The other poller is stopped mid-fetch: it gives the lease back, the feed still due.
            feeds.set_fault("/a.xml", delay=0)
            other.send_signal(signal.SIGINT)
            assert other.wait(10) == 130
            wait_until(lambda: len(smtp.messages) == 1, "the catch-up report", [d])
            assert d.terminate() == 0
            assert feeds.hits("/a.xml") == 2 and db.entries("a") == 3
            text = smtp.messages[0].message.get_body(("plain",)).get_content()
            assert "never polled" not in text, text
            made = db.value("SELECT created_at FROM reports")
            polled = db.value("SELECT last_polled FROM feeds")
            assert polled is not None and made >= polled, (made, polled, d.text())
        finally:
            if other.poll() is None:
                other.kill()
            other.communicate()
            if d is not None:
                d.close()
            db.engine.dispose()


# --- 3. a daemon forced out mid-send ------------------------------------------------------


def test_sigterm_mid_send_records_the_stop_and_gives_back_the_claim(
        db_url: str, tmp_path: Path, hanging: HangingListener,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The daemon left via os._exit after its grace period with no stop recorded and its
    outbox claim held: status said "running" and `report --send` named a sender long gone."""
    path = tmp_path / "scenarios.yaml"
    path.write_text(scenarios_yaml({}), encoding="utf-8")
    tracker = Tracker(db_url, path)
    tracker.ok("init")
    d = Daemon(db_url, path, mail_env(hanging.port), tmp_path / "daemon.log")
    try:
        wait_until(lambda: hanging.connections, "the catch-up report's SMTP connection", [d])
        assert d.terminate() == 0  # within 10 s, the send still hanging
    finally:
        d.close()
    assert "exiting without it" in d.text()

    data = json.loads(tracker.ok("status", "--json").output)
    assert data["daemon"]["running"] is False and data["daemon"]["stopped_at"] is not None
    assert tracker.ok("status").output.startswith("daemon: not running (stopped "), d.text()
    [queued] = data["outbox"]
    assert queued["state"] == "pending"  # abandoned mid-send: still queued, never lost
    jobs = {j["job"]: j for j in data["jobs"]}
    assert jobs["report"]["outcome"] == "error" and jobs["report"]["finished"] is not None
    assert "abandoned" in jobs["report"]["detail"]

    with SmtpServer() as smtp:
        for name, value in mail_env(smtp.port).items():
            if name.startswith("TRACKER_"):
                monkeypatch.setenv(name, value)
        sent = tracker("report", "--send")
        assert sent.exit_code == 0, sent.output
        assert "being sent by" not in sent.output and " sent: 127.0.0.1" in sent.output
        assert len(smtp.messages) == 1


def test_a_claim_held_by_a_dead_process_of_this_host_is_taken_over_at_once(
        initialized: Tracker, sessions: sessionmaker[Session],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A sender killed (kill -9, or forced out) left its claim for the whole lease, and
    `report --send` refused to send for ten minutes in the name of a process gone."""
    initialized.ok("report")

    def claim(owner: str) -> None:
        with transaction(sessions) as session:
            row = session.scalars(select(Report)).one()
            row.claimed_by, row.claimed_until = owner, utcnow() + timedelta(minutes=10)

    with SmtpServer() as smtp:
        for name, value in mail_env(smtp.port).items():
            if name.startswith("TRACKER_"):
                monkeypatch.setenv(name, value)
        alive = f"{socket.gethostname()}:1"  # init: alive, whoever we are
        claim(alive)
        busy = initialized("report", "--send")
        assert busy.exit_code == 1 and f"being sent by {alive}" in busy.output, busy.output

        claim(dead_owner())
        sent = initialized("report", "--send")
        assert sent.exit_code == 0, sent.output
        assert len(smtp.messages) == 1

        # The daemon's path too: a dead owner's claim on a due report.
        initialized.ok("report", "--send", "--force")
        with transaction(sessions) as session:
            row = session.scalars(select(Report)).one()
            row.state, row.next_attempt = "failed", None
        claim(dead_owner())
        [delivery] = deliver_due(sessions, owner="daemon-b")
        assert delivery.ok and len(smtp.messages) == 3
    row = the_report(sessions)
    assert (row.state, row.claimed_by) == ("sent", None)

