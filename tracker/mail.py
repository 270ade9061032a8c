"""The mail of a report: building the message, SMTP, files delivery and the outbox (DESIGN §7)."""

from __future__ import annotations

import glob
import io
import ipaddress
import logging
import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.generator import BytesGenerator
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, selectinload, sessionmaker

from .config import (
    SmtpSettings,
    is_dead_here,
    load_settings,
    mail_recipients,
    process_owner,
    reports_folder,
    smtp_settings,
)
from .db import transaction
from .errors import TrackerError, UnavailableError, UsageError
from .models import Report
from .reports import html_for_files, make_report
from .text import count, oneline
from .timeutil import as_utc, utcnow

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=10)
FIRST_RETRY = timedelta(minutes=5)
MAX_RETRY = timedelta(hours=6)


@dataclass
class Delivery:
    """What became of one report: sent (to where) or not (why)."""

    period: str
    ok: bool
    where: str
    error: str | None = None
    already_sent: bool = False


def build_message(report: Report, sender: str, recipients: list[str],
                  now: datetime | None = None) -> EmailMessage:
    """multipart/alternative: the text, then multipart/related with the HTML and its charts."""
    msg = EmailMessage()
    msg["Subject"] = oneline(report.subject, 200)
    msg["From"] = oneline(sender, 200)
    msg["To"] = ", ".join(oneline(r, 200) for r in recipients)
    msg["Date"] = format_datetime(as_utc(now or utcnow()))
    msg["Message-ID"] = oneline(report.message_id, 200)
    msg.set_content(report.text)
    msg.add_alternative(report.html, subtype="html")
    html_part = next(p for p in msg.iter_parts() if p.get_content_type() == "text/html")
    for image in report.images:
        html_part.add_related(image.content, maintype="image", subtype="png",
                              cid=f"<{image.cid}>", filename=image.filename,
                              disposition="inline")
    return msg


def message_bytes(msg: EmailMessage) -> bytes:
    """The message as sent: CRLF lines and no `>From` mangling (smtplib's send_message
    mangles, so a text line starting with "From " would arrive as ">From ")."""
    out = io.BytesIO()
    BytesGenerator(out, mangle_from_=False, policy=msg.policy).flatten(msg, linesep="\r\n")
    return out.getvalue()


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_login(settings: SmtpSettings) -> None:
    """Refuse to send the password in the clear to another machine, unless told to."""
    if (settings.user and settings.security == "none" and not _is_loopback(settings.host)
            and not settings.allow_plaintext_auth):
        raise UsageError(f"refusing to send the SMTP password in the clear to {settings.name}",
                         hint="use TRACKER_SMTP_SECURITY=starttls or ssl, or set "
                              "TRACKER_SMTP_ALLOW_PLAINTEXT_AUTH=1")


def smtp_send(settings: SmtpSettings, msg: EmailMessage, recipients: list[str]) -> str:
    """Hand the message to the server; returns where it went. Raises OSError/SMTPException."""
    check_login(settings)
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if settings.security == "ssl":
        smtp = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout,
                                context=context)
    else:
        smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
    try:
        smtp.ehlo()
        if settings.security == "starttls":
            smtp.starttls(context=context)
            smtp.ehlo()
        if settings.user:
            if settings.security == "none" and not _is_loopback(settings.host):
                log.warning("sending the SMTP password in the clear to %s "
                            "(TRACKER_SMTP_ALLOW_PLAINTEXT_AUTH=1)", settings.name)
            smtp.login(settings.user, settings.password or "")
        refused = smtp.sendmail(settings.sender, recipients, message_bytes(msg))
    except BaseException:
        smtp.close()
        raise
    # The server took the message with its answer to DATA: it is sent. A failed goodbye is
    # only worth a warning; counting it as a failure would send the report again.
    try:
        code, answer = smtp.docmd("QUIT")
        if code != 221:
            log.warning("%s took the report but answered QUIT with %s %s", settings.name,
                        code, _text(answer))
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("%s took the report but QUIT failed: %s", settings.name,
                    _reason(exc, settings.timeout))
    finally:
        smtp.close()
    accepted = len(recipients) - len(refused)
    where = f"{settings.host}: {count(accepted, 'recipient')}"
    if refused:
        where += f" ({', '.join(sorted(refused))} refused)"
    return where


def _reason(exc: BaseException, timeout: float) -> str:
    """One line on what the server or the network said."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "every recipient refused: " + "; ".join(
            f"{addr} ({code} {_text(msg)})" for addr, (code, msg) in exc.recipients.items())
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_text(exc.smtp_error)}"
    # smtplib reports a timeout during the greeting as a disconnection "…: timed out".
    if isinstance(exc, TimeoutError) or str(exc).endswith("timed out"):
        return f"no answer within {timeout:g} s (timed out)"
    return oneline(str(exc) or exc.__class__.__name__, 200)


def _text(raw: Any) -> str:
    return oneline(raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw), 200)


def write_html(report: Report, path: Path) -> None:
    """The report's HTML at `path`, its chart images beside it. They are named after the
    file ("again-2026-W48-q.png" beside again.html), so two renderings written to one folder
    never share a chart; the files delivery's <period>.html keeps "<period>-q.png"."""
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = "" if path.stem == report.period else f"{path.stem}-"
    names = {image.cid: prefix + image.filename for image in report.images}
    for old in path.parent.glob(f"{glob.escape(prefix + report.period)}-*.png"):
        if old.name not in names.values():
            # A chart of an earlier rendering (a question since retired) would only mislead.
            old.unlink()
    for image in report.images:
        (path.parent / names[image.cid]).write_bytes(image.content)
    path.write_text(html_for_files(report, names), encoding="utf-8")


def write_files(report: Report, folder: Path) -> str:
    """Files delivery: <period>.html with its images beside it, and <period>.txt."""
    path = folder / f"{report.period}.html"
    write_html(report, path)
    (folder / f"{report.period}.txt").write_text(report.text, encoding="utf-8")
    return str(path)


def _lease(now: datetime) -> datetime:
    """Until when a claim holds: the SMTP conversation happens with no transaction open, so
    the lease alone keeps a second sender away; it outlasts a conversation of slow answers."""
    try:
        smtp = smtp_settings()
    except TrackerError:
        smtp = None
    return now + max(LEASE, timedelta(seconds=20 * smtp.timeout) if smtp else LEASE)


def free_dead_claims(session: Session) -> int:
    """Free the claims held by processes of this host that no longer run (a daemon killed, or
    forced out mid-send): at once, not when their leases expire. Returns how many."""
    freed = 0
    for report_id, claimed_by in session.execute(
            select(Report.id, Report.claimed_by).where(Report.claimed_by.is_not(None))):
        if is_dead_here(claimed_by):
            log.info("report claim of %s, which no longer runs, freed", claimed_by)
            session.execute(update(Report).where(Report.id == report_id,
                                                 Report.claimed_by == claimed_by)
                            .values(claimed_by=None, claimed_until=None))
            freed += 1
    return freed


def _claim(session: Session, report_id: int | None, now: datetime, owner: str,
           due_only: bool) -> Report | None:
    """Lease one outbox row to `owner`: the given one, or the next due one.

    A row claimed by anyone, `owner` included, is left alone until its lease expires or its
    holder is found dead: the daemon's report and outbox jobs share an owner and run in
    threads of their own, and neither may send what the other is sending."""
    free_dead_claims(session)
    query = select(Report).where(
        or_(Report.claimed_until.is_(None), Report.claimed_until < now))
    if report_id is not None:
        query = query.where(Report.id == report_id)
    if due_only:
        query = query.where(Report.state.in_(("pending", "failed")),
                            or_(Report.next_attempt.is_(None), Report.next_attempt <= now))
    query = query.order_by(Report.period_end).limit(1)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    report = session.scalars(query).first()
    if report is not None:
        report.claimed_by, report.claimed_until = owner, _lease(now)
    return report


def _send_claimed(sessions: sessionmaker[Session], report_id: int, now: datetime,
                  owner: str) -> Delivery:
    """Send a claimed report; mark it sent only after the server (or the disk) took it.

    Three steps, and no transaction (nor connection) is open during the middle one: read what
    to send, talk to the server or write the files, record the outcome. The claim, not a
    database lock, keeps other senders away meanwhile, so every other command goes on."""
    smtp: SmtpSettings | None = None
    recipients: list[str] = []
    error: str | None = None
    with sessions() as session:
        report = session.scalars(select(Report).where(Report.id == report_id)
                                 .options(selectinload(Report.images))).one()
        period = report.period
        try:
            smtp = smtp_settings()
            if smtp is not None:
                recipients = mail_to(session)
        except TrackerError as exc:
            error = str(exc)
        session.expunge(report)  # read: usable below with the session and its transaction gone
    where = smtp.name if smtp is not None else str(reports_folder())
    if error is None:
        try:
            if smtp is None:
                where = write_files(report, reports_folder())
            else:
                where = smtp_send(smtp, build_message(report, smtp.sender, recipients, now),
                                  recipients)
        except (OSError, smtplib.SMTPException, TrackerError) as exc:
            error = str(exc) if isinstance(exc, TrackerError) else _reason(
                exc, smtp.timeout if smtp is not None else 0)
    _record(sessions, report_id, now, owner, where, error)
    return Delivery(period, error is None, where, error)


def _record(sessions: sessionmaker[Session], report_id: int, now: datetime, owner: str,
            where: str, error: str | None) -> None:
    """What became of a send, in a short transaction of its own. A report sent is recorded
    sent whoever holds the row now; a failure is recorded only while the claim is still ours
    (or nobody's), never over a sender that took the row over."""
    with transaction(sessions) as session:
        report = session.get_one(Report, report_id)
        mine = report.claimed_by == owner
        if mine:
            report.claimed_by, report.claimed_until = None, None
        if error is None:
            report.attempts += 1
            report.state, report.sent_at, report.delivered_to = "sent", now, where
            report.last_error, report.next_attempt = None, None
        elif mine or (report.claimed_by is None and report.state != "sent"):
            report.attempts += 1
            report.state, report.last_error = "failed", error
            report.next_attempt = now + min(FIRST_RETRY * 2 ** (report.attempts - 1), MAX_RETRY)


def release_claims(sessions: sessionmaker[Session], owner: str) -> int:
    """Give back the outbox claims of `owner` (a daemon forced out mid-send): its reports
    stay queued, and the next sender takes them at once."""
    with transaction(sessions) as session:
        result = session.execute(update(Report).where(Report.claimed_by == owner)
                                 .values(claimed_by=None, claimed_until=None))
        return int(getattr(result, "rowcount", 0) or 0)


def mail_to(session: Session) -> list[str]:
    """Who gets the mail; UsageError (a configuration to fix, not an outage) when nobody."""
    found = mail_recipients(load_settings(session))
    if not found:
        raise UsageError("no recipients", hint="set TRACKER_MAIL_TO or "
                         "settings.report.recipients in scenarios.yaml")
    return found


def deliver_due(sessions: sessionmaker[Session], *, now: datetime | None = None,
                owner: str | None = None) -> list[Delivery]:
    """Claim and send every pending or failed report that is due, each in its own transaction;
    SMTP trouble is recorded on the row, never raised."""
    now = as_utc(now) if now else utcnow()
    owner = owner or process_owner()
    done: list[Delivery] = []
    tried: set[int] = set()
    while True:
        with transaction(sessions) as session:
            report = _claim(session, None, now, owner, due_only=True)
            if report is None or report.id in tried:
                if report is not None:
                    report.claimed_by, report.claimed_until = None, None
                return done
            report_id = report.id
        tried.add(report_id)
        done.append(_send_claimed(sessions, report_id, now, owner))


def send_report(sessions: sessionmaker[Session], period: str, *, force: bool = False,
                now: datetime | None = None, owner: str | None = None) -> Delivery:
    """Make the period's report if it does not exist and send it now (`tracker report --send`).

    A report already sent is sent again only with `force`; a failure raises
    UnavailableError and leaves the report in the outbox for a retry."""
    now = as_utc(now) if now else utcnow()
    owner = owner or process_owner()
    with transaction(sessions) as session:
        report = make_report(session, period, now=now)
        if report.state == "sent" and not force:
            return Delivery(period, True, report.delivered_to or "", None, already_sent=True)
        claimed = _claim(session, report.id, now, owner, due_only=False)
        if claimed is None:
            raise UnavailableError(f"report {period} is being sent by "
                                   f"{report.claimed_by or 'another process'}",
                                   hint="try again in a few minutes")
        report_id = claimed.id
    delivery = _send_claimed(sessions, report_id, now, owner)
    if not delivery.ok:
        raise UnavailableError(
            f"could not send report {period} via {delivery.where}: {delivery.error}",
            hint="it stays in the outbox and is retried by `tracker daemon` or "
                 "`tracker report --send`")
    return delivery
