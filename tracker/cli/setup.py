"""init and sync: make the database and keep it in step with scenarios.yaml."""

from __future__ import annotations

import click

from ..db import migrate
from ..importing import load_record
from ..rematch import IndicatorChange
from ..sync import SCHEDULED, START_ONLY, SyncReport, start_only_message
from ..sync import sync as sync_scenarios
from ..text import count
from . import App, pass_app
from .journal import record_summary


@click.command()
@click.option("--no-record", is_flag=True,
              help="Start a new database without the shipped record of events.")
@pass_app
def init(app: App, no_record: bool) -> None:
    """Create or migrate the database, then sync scenarios.yaml; a new database also gets the
    shipped record of events (forecasts and resolutions since 2021). Safe to run again."""
    spec = app.scenarios()
    before, after = migrate(app.engine)
    with app.session() as session:
        report = sync_scenarios(session, spec)
        record = load_record(session) if before is None and not no_record else None
    where = app.engine.url.render_as_string(hide_password=True)
    state = "created" if before is None else "up to date" if before == after else "migrated"
    click.echo(f"database {where}: schema {state} ({after})")
    click.echo(f"synced {app.scenarios_path}: {report.summary()}")
    echo_start_only(report)
    echo_rematch_preview(report.rematch)
    if record is not None:
        record_summary(record)


@click.command()
@pass_app
def sync(app: App) -> None:
    """Sync scenarios.yaml into the database (new questions, texts, rules; retire the rest)."""
    spec = app.scenarios()
    with app.session() as session:
        report = sync_scenarios(session, spec)
    click.echo(f"synced {app.scenarios_path}: {report.summary()}")
    for kind, items in (("added", report.added), ("updated", report.updated),
                        ("retired", report.retired), ("restored", report.restored)):
        for item in items:
            click.echo(f"  {kind} {item}")
    for note in report.notes:
        click.echo(f"note: {note}")
    echo_start_only(report)
    echo_rematch_preview(report.rematch)


def echo_start_only(report: SyncReport) -> None:
    """The changed settings a running daemon keeps until it is restarted, or until it syncs
    the file itself."""
    for name in report.changed(START_ONLY):
        click.echo(f"note: {start_only_message(name)} of the daemon (a running one keeps "
                   "its value until restarted)")
    if names := report.changed(SCHEDULED):
        click.echo(f"note: a running daemon schedules by the new {' and '.join(names)} once it "
                   "syncs the file itself: `systemctl reload tracker` (SIGHUP)")


def echo_rematch_preview(changes: list[IndicatorChange]) -> None:
    """What the changed rules would do to stored entries, and how to apply it."""
    for c in changes:
        click.echo(f"  indicator {c.indicator}: "
                   f"{count(len(c.added), 'stored entry', 'stored entries')} would newly "
                   f"match, {len(c.lost)} would stop matching")
    if changes:
        click.echo("run `tracker rematch` to apply (withdrawn sightings stay in history)")
