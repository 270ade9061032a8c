"""tracker report: render a period's report to a file or the terminal, or send it."""

from __future__ import annotations

from pathlib import Path

import click

from ..config import load_settings
from ..errors import TrackerError, UsageError
from ..mail import mail_to, send_report, smtp_settings, write_html
from ..models import Report
from ..queries import report_state, stored_report
from ..reports import (
    latest_due_period,
    make_report,
    period_bounds,
    preview_report,
    unstored_report,
)
from ..text import when
from ..timeutil import utcnow
from . import App, pass_app


@click.command()
@click.option("--period", metavar="YYYY-Www",
              help="The ISO week of the report, e.g. 2026-W48 [default: the latest period "
                   "whose scheduled time has passed]; `current` previews the period under "
                   "way (labelled partial, never stored or sent).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Write the HTML report to FILE, its chart images (PNG) beside it.")
@click.option("--send", is_flag=True,
              help="Send it through the outbox (SMTP from TRACKER_SMTP_*, else files in "
                   "reports/).")
@click.option("--force", is_flag=True,
              help="Render a report that was sent again (to look at: the sent copy is kept), "
                   "and with --send, send it again.")
@pass_app
def report(app: App, period: str | None, out: Path | None, send: bool, force: bool) -> None:
    """Render a period's report; print its text, write it to --out, or --send it. The latest
    period's report is kept in the outbox (the daemon sends it on schedule), rendered afresh
    each time until it is sent; an earlier period's is only rendered, unless it is in the
    outbox already or --send sends it. A period already sent is kept as sent, and not sent
    again, without --force."""
    now = utcnow()
    if period == "current":
        _preview(app, out, send)
        return
    with app.session() as session:
        settings = load_settings(session)
        latest = latest_due_period(now, settings)
        period = period or latest
        _, end = period_bounds(period, settings)
        if end > now:
            raise UsageError(f"period {period} is not over: it ends {when(end)}",
                             hint="pick an earlier period, or leave out --period")
        if send and smtp_settings() is not None:
            # Refused before anything is stored: a retry would never help, so none is queued.
            mail_to(session)
        state = report_state(session, period)
        if not send and state is None and period != latest:
            # An earlier period looked at again: queued, it would be mailed by the daemon's
            # outbox job, weeks or years late.
            _show(unstored_report(session, period, now=now), out,
                  f"; not queued for sending (only the latest period's report is; "
                  f"`--period {period} --send` sends it)")
            return
        if state == "sent" and force and not send:
            # Rendered again to look at; the stored copy stays the one that was sent (the
            # changes of later reports are measured against it).
            copy = stored_report(session, period)
            assert copy is not None  # its state was read above
            _show(unstored_report(session, period, now=now), out,
                  f"; rendered again, not stored: the copy sent {when(copy.sent_at)} stays as "
                  "sent (`--send --force` sends this one)")
            return
        # What is sent is kept as sent; anything else shows what the database says now.
        make_report(session, period, now=now, force=force or state != "sent")
    if send:
        delivery = send_report(app.sessions, period, force=force, now=now)
        if delivery.already_sent:
            click.echo(f"report {period} was already sent ({delivery.where}); "
                       "--force sends it again")
        else:
            click.echo(f"report {period} sent: {delivery.where}")
    with app.session() as session:
        stored = stored_report(session, period)
        assert stored is not None  # made above
        if out is not None:
            _write(stored, out)
            sent = (f"; the copy sent {when(stored.sent_at)} (--force renders it again)"
                    if stored.state == "sent" and not force else "")
            click.echo(f"wrote {out} ({out.stat().st_size} bytes of HTML) and "
                       f"{len(stored.images)} chart images beside it{sent}")
        elif not send:
            click.echo(stored.text, nl=False)


def _preview(app: App, out: Path | None, send: bool) -> None:
    if send:
        raise UsageError("the current period is not over: its report cannot be sent",
                         hint="leave out --send to preview it, or --period to send another")
    with app.session() as session:
        preview = preview_report(session)
    _show(preview, out, "", "a partial report of " + preview.period + " to ")


def _show(report: Report, out: Path | None, note: str, what: str = "") -> None:
    """Print an unstored report's text, or write it to `out` and say so."""
    if out is None:
        click.echo(report.text, nl=False)
        return
    _write(report, out)
    click.echo(f"wrote {what}{out} ({out.stat().st_size} bytes of HTML) and "
               f"{len(report.images)} chart images beside it{note}")


def _write(report: Report, out: Path) -> None:
    try:
        write_html(report, out)
    except OSError as exc:
        raise TrackerError(f"cannot write {out}: {exc.strerror or exc}") from None

