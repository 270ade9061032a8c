"""daemon and status: running the scheduler, and what it has been doing."""

from __future__ import annotations

import sys

import click

from ..status import status as core_status
from ..text import when
from . import App, emit_json, json_option, pass_app, wrapped


@click.command()
@pass_app
def daemon(app: App) -> None:
    """Run the scheduler in the foreground until SIGTERM or SIGINT: poll the due feeds every
    tick, make and send the report on its schedule, retry the outbox. SIGHUP re-syncs
    scenarios.yaml."""
    from ..daemon import run_daemon  # the scheduler and the poller: only this command needs them

    if run_daemon(app.engine, app.sessions, app.scenarios_path):
        sys.exit(1)


@click.command()
@json_option
@pass_app
def status(app: App, as_json: bool) -> None:
    """Feeds' health (last success, last error, next poll), the last run of each daemon job
    and the next, and the outbox."""
    with app.session() as session:
        data = core_status(session, app.db_arg, app.scenarios_arg)
    if as_json:
        emit_json(data.to_json())
        return
    if data.running:
        click.echo(f"daemon: running (last job started {when(data.last_seen)})")
    else:
        seen = (f"stopped {when(data.stopped_at)}" if data.stopped_at else
                f"last seen {when(data.last_seen)}" if data.last_seen else "never run")
        if data.gone:  # killed, crashed or the power lost: it could not record its stop
            pids = ", ".join(owner.rpartition(":")[2] for owner in data.gone)
            seen = (f"process {pids} is gone; its stop was not recorded; {seen}"
                    if len(data.gone) == 1 else
                    f"processes {pids} are gone; their stops were not recorded; {seen}")
        click.echo(f"daemon: not running ({seen}; start it with `tracker daemon`)")
    click.echo("feeds:" if data.feeds else "feeds: none")
    pad = max((len(f.id) for f in data.feeds), default=0)
    for f in data.feeds:
        line = (f"  {f.id:<{pad}}  {f.state.state:<8} {f.entries:>6} "
                f"{'entry  ' if f.entries == 1 else 'entries'}  "
                f"last success {when(f.last_success, 'never')}")
        if f.state.state == "held":
            line += f"  held until {when(f.state.held_until)}"
        elif f.state.state != "retired":
            line += f"  next poll {when(f.next_poll, 'now')}"
        click.echo(wrapped(line, "", " " * (pad + 4)))
        if f.state.state in ("failing", "held"):
            why = ((f"host asked to wait: {f.last_error}" if f.last_error else
                    "held with its host: another feed of the host got a Retry-After")
                   if f.state.state == "held" else
                   f"failing x{f.failures}: {f.last_error}" if f.failures else
                   f"last fetch failed (offline?): {f.last_error}")
            click.echo(wrapped(why, " " * (pad + 4)))
    click.echo("jobs:")
    for j in data.jobs:
        last = f"last {when(j.started)} -> {j.outcome}" if j.started else "never run"
        # The schedule means something only while a daemon keeps it.
        upcoming = f"; next {when(j.next)}" if data.running and j.next else ""
        click.echo(wrapped(f"  {j.job:<8} {last}{upcoming}", "", " " * 11))
        if j.detail:
            click.echo(wrapped(j.detail, " " * 11))
    size = data.size_bytes
    click.echo(f"database: {size / 2**20:.1f} MB" if size is not None else "database: in memory")
    click.echo("outbox:" if data.outbox else "outbox: empty")
    for r in data.outbox:
        line = f"  {r.period}  {r.state:<8} attempts {r.attempts}"
        if r.sent_at:
            line += f"  sent {when(r.sent_at)}"
        if r.state == "failed":  # a resend (--force) of a sent one may fail too
            line += f"; next attempt {when(r.next_attempt)}"
        click.echo(wrapped(line, "", " " * 11))
        if r.state == "failed" and r.last_error:
            click.echo(wrapped(f"last error: {r.last_error}", " " * 11))
