"""Mail against awkward servers and settings: a server that botches QUIT, a login in the clear,
and the message's own bytes (no `>From`, images inline)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from tracker.mail import deliver_due
from tracker.timeutil import utcnow

from .conftest import Tracker
from .feedserver import closed_port
from .smtpserver import SmtpServer, outward_address
from .test_mail import PERIOD, outbox, smtp_env  # noqa: F401 - the fixture


def test_a_server_that_botches_quit_gets_the_report_once(
        initialized: Tracker, smtp_env: pytest.MonkeyPatch,  # noqa: F811
        sessions: sessionmaker[Session]) -> None:
    with SmtpServer(quit_reply="451 4.3.0 cannot say goodbye") as server:
        smtp_env.setenv("TRACKER_SMTP_PORT", str(server.port))
        result = initialized.ok("report", "--send")
        assert f"report {PERIOD} sent" in result.output
        [row] = outbox(sessions)
        assert (row.state, row.last_error) == ("sent", None)
        # the daemon's retries, a day later, find nothing left to send
        assert deliver_due(sessions, now=utcnow() + timedelta(days=1)) == []
        initialized.ok("report", "--send")
    assert len(server.messages) == 1


def test_the_plain_text_keeps_lines_starting_with_from_and_images_are_inline(
        initialized: Tracker, smtp_env: pytest.MonkeyPatch) -> None:  # noqa: F811
    with SmtpServer() as server:
        smtp_env.setenv("TRACKER_SMTP_PORT", str(server.port))
        initialized.ok("report", "--send")
    [received] = server.messages
    assert b"\r\n>From " not in received.data
    text = received.message.get_body(("plain",))
    assert text is not None
    assert "\nFrom " in text.get_content()  # "From <start> to <end>." in every report
    images = [p for p in received.message.walk() if p.get_content_type() == "image/png"]
    assert images and all(p.get_content_disposition() == "inline" for p in images)


@pytest.fixture
def remote_login(smtp_env: pytest.MonkeyPatch) -> pytest.MonkeyPatch:  # noqa: F811
    """A login over plain SMTP (no TLS) to this machine's outward address, not loopback."""
    address = outward_address()
    if address is None:
        pytest.skip("this machine has no address but loopback")
    smtp_env.setenv("TRACKER_SMTP_HOST", address)
    smtp_env.setenv("TRACKER_SMTP_USER", "tracker")
    smtp_env.setenv("TRACKER_SMTP_PASSWORD", "s3cret")
    return smtp_env


def test_a_password_is_never_sent_in_the_clear_to_another_machine(
        initialized: Tracker, remote_login: pytest.MonkeyPatch) -> None:
    address = outward_address()
    assert address is not None
    with SmtpServer(login=("tracker", "s3cret"), host=address) as server:
        remote_login.setenv("TRACKER_SMTP_PORT", str(server.port))
        refused = initialized("report", "--send")
        assert refused.exit_code == 1, refused.output
        assert "refusing to send the SMTP password in the clear" in refused.output
        assert "TRACKER_SMTP_ALLOW_PLAINTEXT_AUTH=1" in refused.output
        assert server.messages == []
        remote_login.setenv("TRACKER_SMTP_ALLOW_PLAINTEXT_AUTH", "1")
        initialized.ok("report", "--send")
        assert len(server.messages) == 1


def test_a_password_in_the_clear_to_loopback_is_fine(
        initialized: Tracker, smtp_env: pytest.MonkeyPatch) -> None:  # noqa: F811
    smtp_env.setenv("TRACKER_SMTP_USER", "tracker")
    smtp_env.setenv("TRACKER_SMTP_PASSWORD", "s3cret")
    with SmtpServer(login=("tracker", "s3cret")) as server:
        smtp_env.setenv("TRACKER_SMTP_PORT", str(server.port))
        initialized.ok("report", "--send")
    assert len(server.messages) == 1


def test_a_failed_resend_of_a_sent_report_says_why_and_when_next(
        initialized: Tracker, smtp_env: pytest.MonkeyPatch) -> None:  # noqa: F811
    """`report --send --force` to a server that is gone: the report, sent before, is queued
    again (the outbox retries the resend); `status` said "failed … sent …" and nothing
    of the error or the next attempt."""
    with SmtpServer() as server:
        smtp_env.setenv("TRACKER_SMTP_PORT", str(server.port))
        initialized.ok("report", "--send")
    smtp_env.setenv("TRACKER_SMTP_PORT", str(closed_port()))
    failed = initialized("report", "--send", "--force")
    assert failed.exit_code == 1, failed.output
    status = initialized.ok("status").output
    (line,) = [x for x in status.splitlines() if x.strip().startswith(PERIOD)]
    assert "failed" in line and " sent " in line and "next attempt 20" in line, status
    assert "last error:" in status and "refused" in status, status
