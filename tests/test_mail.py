"""Sending reports: the message as a real SMTP server receives it, the outbox, SMTP trouble."""

from __future__ import annotations

import re
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tracker.config import Settings
from tracker.db import make_engine, make_sessionmaker, transaction
from tracker.ledger import get_question, record_manual
from tracker.mail import deliver_due
from tracker.models import Report
from tracker.reports import latest_due_period, period_bounds
from tracker.timeutil import utcnow

from .conftest import SMALL_YAML, Tracker, snapshot
from .smtpserver import SmtpServer, closed_port
from .test_report import add_evidence, assert_inert

PERIOD = latest_due_period(utcnow(), Settings())
START, END = period_bounds(PERIOD, Settings())


@pytest.fixture
def smtp_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """Plain SMTP on loopback, one recipient; files delivery would land in tmp_path."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRACKER_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("TRACKER_SMTP_SECURITY", "none")
    monkeypatch.setenv("TRACKER_SMTP_TIMEOUT", "5")
    monkeypatch.setenv("TRACKER_MAIL_FROM", "tracker@example.org")
    monkeypatch.setenv("TRACKER_MAIL_TO", "analyst@example.org")
    for name in ("TRACKER_SMTP_USER", "TRACKER_SMTP_PASSWORD", "TRACKER_SMTP_PASSWORD_FILE"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch



def outbox(sessions: sessionmaker[Session]) -> list[Report]:
    with sessions() as session:
        return list(session.scalars(select(Report).order_by(Report.period)))


def parts(msg: EmailMessage) -> list[str]:
    return [p.get_content_type() for p in msg.walk()]


def check_message(msg: EmailMessage) -> str:
    """The structure DESIGN §7 asks for; returns the HTML."""
    kinds = parts(msg)
    assert kinds[:4] == ["multipart/alternative", "text/plain", "multipart/related", "text/html"]
    assert set(kinds[4:]) == {"image/png"} and len(kinds) > 4
    html_part = msg.get_body(("html",))
    assert html_part is not None
    html = html_part.get_content()
    assert len(html.encode("utf-8")) < 102_400
    images = {p["Content-ID"].strip("<>"): p.get_content() for p in msg.walk()
              if p.get_content_type() == "image/png"}
    cids = re.findall(r'src="cid:([^"]+)"', html)
    assert cids and set(cids) == set(images)
    assert all(png.startswith(b"\x89PNG") for png in images.values())
    assert_inert(html)
    return str(html)


def test_the_report_as_the_server_receives_it(initialized: Tracker,
                                              smtp_env: pytest.MonkeyPatch) -> None:
    with SmtpServer() as server:
        smtp_env.setenv("TRACKER_SMTP_PORT", str(server.port))
        result = initialized.ok("report", "--send")
        assert f"report {PERIOD} sent: 127.0.0.1: 1 recipient" in result.output
        again = initialized.ok("report", "--send")
        assert "already sent" in again.output
        assert len(server.messages) == 1
        initialized.ok("report", "--send", "--force")
        assert len(server.messages) == 2
    first, second = (m.message for m in server.messages)
    assert server.messages[0].rcpt_tos == ["analyst@example.org"]
    assert first["From"] == "tracker@example.org" and first["To"] == "analyst@example.org"
    assert first["Subject"].startswith(f"tracker report {PERIOD}: ")
    assert re.fullmatch(rf"<report-{PERIOD}\.[0-9a-f]{{12}}@tracker>", first["Message-ID"])
    assert second["Message-ID"] == first["Message-ID"] and first["Date"]
    html = check_message(first)
    text = first.get_body(("plain",))
    assert text is not None and f"Tracker report {PERIOD}" in text.get_content()
    assert "Will Uzbekistan rejoin the CSTO before 2028?" in html
    status = initialized.ok("report", "--send")
    assert "already sent (127.0.0.1: 1 recipient)" in status.output


HOSTILE_TITLE = 'Evil <script>alert(1)</script>\r\nBcc: victim@example.org\x1b[31m'


def test_hostile_text_is_inert_in_both_parts_and_headers(
        tracker: Tracker, smtp_env: pytest.MonkeyPatch) -> None:
    yaml = SMALL_YAML.replace(
        "title: Will Uzbekistan rejoin the CSTO before 2028?",
        'title: "Will <b onmouseover=alert(1)>Uzbekistan</b> rejoin?\\r\\nBcc: x@example.org"',
    ).replace("label: Uzbekistan rejoins,", 'label: "<img src=https://evil.example/x.png>",')
    tracker.scenarios.write_text(yaml, encoding="utf-8")
    tracker.ok("init")
    engine = make_engine(tracker.db_url)
    with transaction(make_sessionmaker(engine)) as session:
        add_evidence(session, "uzbekistan-rejoins", "uz-csto-talks", state="confirmed",
                     title=HOSTILE_TITLE + '<img src=x onerror="alert(2)">',
                     link="javascript:alert(3)", at=START + timedelta(hours=1))
        add_evidence(session, "uzbekistan-rejoins", "uz-csto-talks", state="confirmed",
                     title="<a href='https://evil.example'>x</a>", link=" data:text/html,x",
                     at=START + timedelta(days=3))
        record_manual(session, get_question(session, "uzbekistan-rejoins"), {"rejoins": 0.5},
                      note="<style>body{display:none}</style><link rel=stylesheet href=x>",
                      by="<svg onload=alert(4)>", at=START + timedelta(days=4))
    engine.dispose()
    with SmtpServer() as server:
        smtp_env.setenv("TRACKER_SMTP_PORT", str(server.port))
        tracker.ok("report", "--send")
    raw = server.messages[0].data
    msg = server.messages[0].message
    subject = msg["Subject"]
    assert "\r" not in subject and "\n" not in subject and "\x1b" not in subject
    assert "Will <b onmouseover=alert(1)>Uzbekistan</b> rejoin? Bcc: x@example.org" in subject
    assert msg["Bcc"] is None and b"\nBcc:" not in raw
    html = check_message(msg)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;svg onload=alert(4)&gt;" in html and "&lt;style&gt;" in html
    assert "javascript:alert(3)" not in html and "evil.example/x.png" in html
    text_part = msg.get_body(("plain",))
    assert text_part is not None
    text = text_part.get_content()
    assert "\x1b" not in text and "javascript:alert(3)" not in text
    assert "Evil <script>alert(1)</script> Bcc: victim@example.org" in text


def test_server_down_then_back_sends_once(initialized: Tracker, smtp_env: pytest.MonkeyPatch,
                                          sessions: sessionmaker[Session]) -> None:
    smtp_env.setenv("TRACKER_SMTP_PORT", str(closed_port()))
    down = initialized("report", "--send")
    assert down.exit_code == 1
    assert f"error: could not send report {PERIOD} via 127.0.0.1:" in down.output
    assert "it stays in the outbox" in down.output
    [row] = outbox(sessions)
    assert (row.state, row.attempts) == ("failed", 1) and row.last_error
    assert row.next_attempt is not None and row.next_attempt > utcnow()
    with SmtpServer() as server:
        smtp_env.setenv("TRACKER_SMTP_PORT", str(server.port))
        assert deliver_due(sessions) == []  # not yet due: back-off
        later = row.next_attempt + timedelta(seconds=1)
        [delivery] = deliver_due(sessions, now=later, owner="daemon-a")
        assert delivery.ok and delivery.period == PERIOD and delivery.error is None
        assert deliver_due(sessions, now=later + timedelta(days=1)) == []
        assert len(server.messages) == 1
    [row] = outbox(sessions)
    assert (row.state, row.attempts, row.claimed_by) == ("sent", 2, None)


def test_a_claimed_report_is_left_to_its_owner(initialized: Tracker, sessions: sessionmaker[
        Session], smtp_env: pytest.MonkeyPatch) -> None:
    initialized.ok("report")
    now = utcnow()
    with transaction(sessions) as session:
        row = session.scalars(select(Report)).one()
        row.claimed_by, row.claimed_until = "daemon-b", now + timedelta(minutes=5)
    with SmtpServer() as server:
        smtp_env.setenv("TRACKER_SMTP_PORT", str(server.port))
        assert deliver_due(sessions, now=now, owner="daemon-a") == []
        busy = initialized("report", "--send")
        assert busy.exit_code == 1 and "being sent by daemon-b" in busy.output
        [d] = deliver_due(sessions, now=now + timedelta(minutes=6), owner="daemon-a")
        assert d.ok and len(server.messages) == 1


def test_refused_recipients(initialized: Tracker, smtp_env: pytest.MonkeyPatch,
                            sessions: sessionmaker[Session]) -> None:
    with SmtpServer(refuse=("gone@example.org",)) as server:
        smtp_env.setenv("TRACKER_SMTP_PORT", str(server.port))
        smtp_env.setenv("TRACKER_MAIL_TO", "gone@example.org")
        refused = initialized("report", "--send")
        assert refused.exit_code == 1
        assert "every recipient refused: gone@example.org (550 5.1.1 no such mailbox here)" \
            in refused.output
        assert outbox(sessions)[0].state == "failed" and server.messages == []
        smtp_env.setenv("TRACKER_MAIL_TO", "gone@example.org, analyst@example.org")
        partly = initialized.ok("report", "--send")
        assert "1 recipient (gone@example.org refused)" in partly.output
        assert [m.rcpt_tos for m in server.messages] == [["analyst@example.org"]]


def test_a_hanging_server_times_out(initialized: Tracker, smtp_env: pytest.MonkeyPatch,
                                    sessions: sessionmaker[Session]) -> None:
    smtp_env.setenv("TRACKER_SMTP_TIMEOUT", "1")
    with SmtpServer(hang=True) as server:
        smtp_env.setenv("TRACKER_SMTP_PORT", str(server.port))
        result = initialized("report", "--send")
    assert result.exit_code == 1 and "timed out" in result.output
    assert outbox(sessions)[0].last_error == "no answer within 1 s (timed out)"


def test_password_from_a_file_is_used_and_never_kept(
        initialized: Tracker, smtp_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret = "s3cret-Pa55word"
    (tmp_path / "pw").write_text(secret + "\n", encoding="utf-8")
    smtp_env.setenv("TRACKER_SMTP_USER", "tracker")
    smtp_env.setenv("TRACKER_SMTP_PASSWORD", "wrong-password")
    with SmtpServer(login=("tracker", secret)) as server:
        smtp_env.setenv("TRACKER_SMTP_PORT", str(server.port))
        wrong = initialized("report", "--send")
        assert wrong.exit_code == 1 and "535" in wrong.output
        assert "wrong-password" not in wrong.output
        smtp_env.delenv("TRACKER_SMTP_PASSWORD")
        smtp_env.setenv("TRACKER_SMTP_PASSWORD_FILE", str(tmp_path / "pw"))
        ok = initialized.ok("report", "--send")
        assert len(server.messages) == 1 and secret not in ok.output
    assert secret not in repr(snapshot(initialized.db_url))
    assert "wrong-password" not in repr(snapshot(initialized.db_url))


def test_without_smtp_host_reports_go_to_files(initialized: Tracker, tmp_path: Path,
                                               smtp_env: pytest.MonkeyPatch,
                                               sessions: sessionmaker[Session]) -> None:
    smtp_env.delenv("TRACKER_SMTP_HOST")
    result = initialized.ok("report", "--send")
    assert f"report {PERIOD} sent: reports/{PERIOD}.html" in result.output
    html = (tmp_path / "reports" / f"{PERIOD}.html").read_text(encoding="utf-8")
    assert (tmp_path / "reports" / f"{PERIOD}.txt").read_text(encoding="utf-8").startswith(
        f"Tracker report {PERIOD}")
    for src in re.findall(r'src="([^"]+)"', html):
        assert (tmp_path / "reports" / src).read_bytes().startswith(b"\x89PNG")
    assert_inert(html, images=f"{PERIOD}-")
    assert outbox(sessions)[0].delivered_to == f"reports/{PERIOD}.html"


@pytest.mark.parametrize(("name", "value", "said"), [
    ("TRACKER_SMTP_TIMEOUT", "-1", "bad TRACKER_SMTP_TIMEOUT -1"),
    ("TRACKER_SMTP_TIMEOUT", "nan", "bad TRACKER_SMTP_TIMEOUT nan"),
    ("TRACKER_SMTP_PORT", "99999", "bad TRACKER_SMTP_PORT 99999"),
    ("TRACKER_SMTP_PORT", "0", "bad TRACKER_SMTP_PORT 0"),
    ("TRACKER_SMTP_PORT", "abc", "bad TRACKER_SMTP_PORT 'abc'"),  # it named both settings
    ("TRACKER_SMTP_TIMEOUT", "soon", "bad TRACKER_SMTP_TIMEOUT 'soon'"),
    ("TRACKER_MAIL_FROM", "bad", "bad TRACKER_MAIL_FROM 'bad'"),
    ("TRACKER_MAIL_TO", "ana@example.org, notanaddress", "bad mail address 'notanaddress'"),
])
def test_a_bad_mail_setting_is_refused_before_anything_is_queued(
    initialized: Tracker, smtp_env: pytest.MonkeyPatch, name: str, value: str, said: str
) -> None:
    """The README promises exit 2 and a hint for a bad setting: these were an unexpected
    error (a negative or nan timeout), a send that failed and stayed queued (port 99999), or
    mail sent with a bad address (the same address in scenarios.yaml is refused)."""
    smtp_env.setenv(name, value)
    initialized.refused("report", "--send", message=said)
