"""import: a journal of dated manual forecasts and resolutions, or the shipped record."""

from __future__ import annotations

import sys

import click

from ..config import login_name
from ..errors import UsageError
from ..importing import ImportReport, apply_journal, load_record
from ..journal import parse_journal, read_journal
from . import AUTHOR, App, emit_json, json_option, pass_app


def record_summary(report: ImportReport) -> None:
    """What `tracker init` did with the shipped record."""
    if report.questions:
        click.echo(f"shipped record: {report.added} forecasts and resolutions added to "
                   f"{len(report.questions)} question(s) (to start without it: tracker init "
                   "--no-record on a new database)")
    left_out(report)


def left_out(report: ImportReport) -> None:
    """Name the questions the shipped record left out, if any."""
    differ = [q for q in report.left_out if q not in report.missing]
    if differ:
        click.echo(f"shipped record: left out {', '.join(differ)} "
                   "(scenarios or dates that differ from the record's)")
    if report.missing:
        click.echo(f"shipped record: left out {', '.join(report.missing)} "
                   "(not in scenarios.yaml)")


@click.command("import")
@click.argument("file", required=False, metavar="[FILE]")
@click.option("--format", "fmt", type=click.Choice(["yaml", "csv"]), default=None,
              help="The journal's format [default: csv for a .csv file, else yaml].")
@click.option("--question", default=None,
              help="The question of every row of a CSV without a question column.")
@click.option("--by", "author", type=AUTHOR, default=None,
              help="Author of entries that name none (default: your login name).")
@click.option("--record", "record", is_flag=True,
              help="Import the shipped record of events instead of a FILE.")
@click.option("--dry-run", is_flag=True, help="Check everything, write nothing.")
@json_option
@pass_app
def import_(app: App, file: str | None, fmt: str | None, question: str | None,
            author: str | None, record: bool, dry_run: bool, as_json: bool) -> None:
    """Import a journal of dated manual forecasts and resolutions (YAML, or the CSV of
    `tracker history --format csv`; FILE - reads standard input). All or nothing; entries
    already present are skipped, so importing twice adds nothing."""
    if record == (file is not None):
        raise UsageError("give a journal FILE or --record", hint="see tracker import --help")
    journal = None
    if file == "-":
        text = sys.stdin.read().removeprefix("\ufeff")
        journal = parse_journal(text, "<stdin>", fmt or "yaml", question)
    elif file is not None:
        journal = read_journal(file, fmt, question)
    with app.session() as session:
        savepoint = session.begin_nested()
        if journal is None:
            report = load_record(session)
        else:
            report = apply_journal(session, journal, by=author or login_name())
        if dry_run:
            savepoint.rollback()
        else:
            savepoint.commit()
    if as_json:
        emit_json(report.to_json(dry_run))
        return
    for q in report.questions:
        same = (f", {q.unchanged} unchanged (equal to the forecast in force then: not "
                "recorded)" if q.unchanged else "")
        added = "would be added" if dry_run else "added"
        click.echo(f"{q.id}: {q.added} {added}, {q.present} already present{same}")
    left_out(report)
    if report.ignored:
        click.echo(f"{report.ignored} history row(s) ignored: the tracker derives them (prior, "
                   "sightings, time without a sighting), or they were voided or withdrawn")
    if dry_run:
        click.echo("dry run: nothing written")

