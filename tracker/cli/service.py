"""daemon and status: running the scheduler, and what it has been doing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..config import load_settings
from ..daemon import DAEMON_SEEN, next_runs, run_daemon
from ..jobs import JOBS, last_runs
from ..models import Entry, Feed
from ..retention import database_size
from ..text import when
from ..timeutil import as_utc, iso, utcnow
from . import App, emit_json, json_option, pass_app, wrapped


@click.command()
@pass_app
def daemon(app: App) -> None:
    """Run the scheduler in the foreground until SIGTERM or SIGINT: poll the due feeds every
    tick, make and send the report on its schedule, retry the outbox. SIGHUP re-syncs
    scenarios.yaml."""
    run_daemon(app.engine, app.sessions, app.scenarios_path)


def feed_state(feed: Feed) -> str:
    """ok, failing or retired (a feed gone with 410 is retired). A feed whose last fetch failed
    is failing even when the offline rule kept its failure count from growing."""
    if feed.retired or feed.gone:
        return "retired"
    last_failed = feed.last_error_at is not None and (
        feed.last_success is None or feed.last_error_at > feed.last_success)
    return "failing" if feed.failures or last_failed else "ok"


def status_data(session: Session) -> dict[str, Any]:
    """Feeds' health, the last and next run of each job, the outbox (DESIGN §4 `status`)."""
    now = utcnow()
    counts: dict[str, int] = {fid: n for fid, n in session.execute(
        select(Entry.feed_id, func.count(Entry.id)).group_by(Entry.feed_id))}
    feeds = [{
        "id": f.id, "url": f.url, "state": feed_state(f), "last_success": iso(f.last_success),
        "last_error": f.last_error, "last_error_at": iso(f.last_error_at),
        "failures": f.failures, "next_poll": iso(f.next_poll), "entries": counts.get(f.id, 0),
    } for f in session.scalars(select(Feed).order_by(Feed.retired, Feed.id))]
    last = last_runs(session)
    upcoming = next_runs(load_settings(session), last, now)
    jobs = []
    for name in (*JOBS, *sorted(set(last) - set(JOBS))):
        run = last.get(name)
        if run is None and upcoming.get(name) is None:
            continue
        jobs.append({
            "job": name,
            "started": iso(run.started) if run else None,
            "finished": iso(run.finished) if run else None,
            "outcome": run.outcome if run else None,
            "detail": run.detail if run else None,
            "owner": run.owner if run else None,
            "next": iso(upcoming.get(name)),
        })
    # Imported here: the mail module brings the report renderer, which other commands skip.
    from ..mail import outbox_json

    seen = max((run.started for run in last.values()), default=None)
    daemon = {"running": seen is not None and as_utc(seen) > now - DAEMON_SEEN,
              "last_seen": iso(seen)}
    return {"daemon": daemon, "feeds": feeds, "jobs": jobs, "outbox": outbox_json(session),
            "database": {"size_bytes": database_size(session)}}


@click.command()
@json_option
@pass_app
def status(app: App, as_json: bool) -> None:
    """Feeds' health (last success, last error, next poll), the last run of each daemon job
    and the next, and the outbox."""
    with app.session() as session:
        data = status_data(session)
    if as_json:
        emit_json(data)
        return
    daemon = data["daemon"]
    if daemon["running"]:
        click.echo(f"daemon: running (last job started {_when(daemon['last_seen'])})")
    else:
        seen = f"last seen {_when(daemon['last_seen'])}" if daemon["last_seen"] else "never run"
        click.echo(f"daemon: not running ({seen}; start it with `tracker daemon`)")
    click.echo("feeds:" if data["feeds"] else "feeds: none")
    pad = max((len(f["id"]) for f in data["feeds"]), default=0)
    for f in data["feeds"]:
        line = (f"  {f['id']:<{pad}}  {f['state']:<8} {f['entries']:>6} entries  "
                f"last success {_when(f['last_success'], 'never')}")
        if f["state"] != "retired":
            line += f"  next poll {_when(f['next_poll'], 'now')}"
        click.echo(wrapped(line, "", " " * (pad + 4)))
        if f["state"] == "failing":
            why = (f"failing x{f['failures']}: {f['last_error']}" if f["failures"] else
                   f"last fetch failed (offline?): {f['last_error']}")
            click.echo(wrapped(why, " " * (pad + 4)))
    click.echo("jobs:")
    for j in data["jobs"]:
        last = f"last {_when(j['started'])} -> {j['outcome']}" if j["started"] else "never run"
        # The schedule means something only while a daemon keeps it.
        upcoming = f"; next {_when(j['next'])}" if daemon["running"] and j["next"] else ""
        click.echo(wrapped(f"  {j['job']:<8} {last}{upcoming}", "", " " * 11))
        if j["detail"]:
            click.echo(wrapped(j["detail"], " " * 11))
    size = data["database"]["size_bytes"]
    click.echo(f"database: {size / 2**20:.1f} MB" if size is not None else "database: in memory")
    click.echo("outbox:" if data["outbox"] else "outbox: empty")
    for r in data["outbox"]:
        line = f"  {r['period']}  {r['state']:<8} attempts {r['attempts']}"
        if r["sent_at"]:
            line += f"  sent {_when(r['sent_at'])}"
        elif r["last_error"]:
            line += f"; next attempt {_when(r['next_attempt'])}"
        click.echo(wrapped(line, "", " " * 11))
        if not r["sent_at"] and r["last_error"]:
            click.echo(wrapped(f"last error: {r['last_error']}", " " * 11))


def _when(value: str | None, default: str = "-") -> str:
    return when(datetime.fromisoformat(value), default) if value else default


COMMANDS: list[click.Command] = [daemon, status]
