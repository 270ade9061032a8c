"""The command-line interface: thin click commands over the core modules."""

from __future__ import annotations

import csv
import gc
import importlib
import io
import json
import logging
import shutil
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from .. import __version__
from ..config import DEFAULT_SCENARIOS, DEFAULT_URL, author_too_long, database_url, scenarios_path
from ..db import check_schema, make_engine, make_sessionmaker
from ..errors import TrackerError, UnavailableError, UsageError
from ..text import for_terminal
from ..timeutil import parse_time

if TYPE_CHECKING:
    from ..scenarios import ScenarioFile


class App:
    """What every command shares: the options, a lazily made engine, sessions."""

    def __init__(self, db: str | None, scenarios: str | None, verbose: bool,
                 create: bool = False) -> None:
        self.db_arg, self.scenarios_arg = db, scenarios
        self.db_url = database_url(db)
        self.create = create
        self.scenarios_path = scenarios_path(scenarios)
        self.verbose = verbose
        self._engine: Engine | None = None
        self._factory: sessionmaker[Session] | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.db_url, create=self.create)
        return self._engine

    @property
    def sessions(self) -> sessionmaker[Session]:
        if self._factory is None:
            self._factory = make_sessionmaker(self.engine)
        return self._factory

    def scenarios(self) -> ScenarioFile:
        """The validated scenarios file."""
        from ..scenarios import load_scenarios  # YAML and the rule checker: few commands read it

        return load_scenarios(self.scenarios_path)

    @contextmanager
    def session(self, *, check: bool = True) -> Iterator[Session]:
        """One session for the command, committed when it succeeds."""
        if check:
            check_schema(self.engine)
        with self.sessions() as session, session.begin():
            yield session


pass_app = click.make_pass_decorator(App)


def emit_json(data: Any) -> None:
    """Print JSON the same way in every command."""
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, allow_nan=False))


class PastTime(click.ParamType):
    """An ISO 8601 date or time, UTC when naive, never in the future (`--at`)."""

    name = "TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, datetime):
            return value
        try:
            return parse_time(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


# A row id the command line takes (`void ID`, `evidence confirm ID`): the ids are 32-bit on
# PostgreSQL, so a larger number names no row, and is refused as bad input before it reaches
# the database (where it is an overflow, not "not found").
ROW_ID_MAX = 2**31 - 1


def row_id(value: Any) -> int:
    """A row id as typed ("12", or "#12" as history shows it); ValueError saying why not."""
    try:
        number = int(str(value).strip().lstrip("#"))
    except ValueError:
        raise ValueError(f"{value!r} is not an id (a whole number, as `tracker history` or "
                         "`tracker evidence` shows it)") from None
    if not 1 <= number <= ROW_ID_MAX:
        raise ValueError(f"{value!r} is no stored row's id (ids run from 1)")
    return number


class _RowId(click.ParamType):
    name = "id"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> int:
        try:
            return row_id(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


ROW_ID = _RowId()


class _Author(click.ParamType):
    """`--by NAME`: stripped; blank is no name (the login name is used); longer than the
    database's column or with a NUL is bad input (exit 2) on SQLite and PostgreSQL alike."""

    name = "NAME"

    def convert(self, value: object, param: click.Parameter | None,
                ctx: click.Context | None) -> str | None:
        text = str(value).strip()
        if "\x00" in text:
            self.fail("contains a NUL character", param, ctx)
        if problem := author_too_long(text):
            self.fail(problem, param, ctx)
        return text or None


AUTHOR = _Author()


def width() -> int:
    """The terminal's columns (COLUMNS when set), 100 when there is no terminal."""
    return shutil.get_terminal_size((100, 24)).columns


def wrapped(text: str, indent: str = "", hang: str = "    ") -> str:
    """`text` filled to the terminal's width, continuation lines indented a little more; what
    a terminal would act on (escapes, bidi overrides: notes, names and titles come from files
    and command lines) shown as U+FFFD."""
    return textwrap.fill(for_terminal(text), max(width(), 40), initial_indent=indent,
                         subsequent_indent=indent + hang, break_on_hyphens=False)


def one_line(message: str) -> str:
    """Click's message as a line of ours: lower-case start, no closing full stop."""
    text = " ".join(message.split()).rstrip(".")
    for said, ours in ((". Did you mean", "; did you mean"), (". (Did you mean", " (did you mean")):
        text = text.replace(said, ours)
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


def emit_csv(header: list[str], rows: list[list[Any]]) -> None:
    """Print CSV the same way in every command: a header, then the rows."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows(rows)
    click.echo(buf.getvalue(), nl=False)


def since_options(f: Any) -> Any:
    """--since and --limit of the commands that list what happened."""
    f = click.option("--limit", type=click.IntRange(min=1), metavar="N",
                     help="Only the latest N.")(f)
    return click.option("--since", type=PastTime(), metavar="TIME",
                        help="Only from this date or time on (ISO 8601, UTC).")(f)


def json_option(f: Any) -> Any:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON.")(f)


def wants_json(fmt: str, as_json: bool) -> bool:
    """Whether `--format FMT` / `--json` ask for JSON; `--json` with `--format csv` is refused
    rather than one of them silently ignored."""
    if as_json and fmt == "csv":
        raise UsageError("--json and --format csv ask for two formats: give one")
    return as_json or fmt == "json"


class TrackerGroup(click.Group):
    """Turns the core's errors into one clear line on stderr and the right exit status, and
    imports a command's module only when that command is wanted."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def resolve_command(self, ctx: click.Context, args: list[str]
                        ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.exceptions.NoSuchCommand as exc:
            # Click suggests among the commands loaded so far; ours load when wanted, so the
            # suggestions come from every command's name instead.
            raise click.exceptions.NoSuchCommand(
                exc.command_name, possibilities=self.list_commands(ctx), ctx=ctx) from None

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            module, _, name = COMMANDS[cmd_name].partition(":")
            command = getattr(importlib.import_module(f"{__name__}.{module}"), name)
            self.add_command(command, cmd_name)
        return self.commands.get(cmd_name)

    def main(self, args: Any = None, prog_name: str | None = None,  # type: ignore[override]
             complete_var: str | None = None, standalone_mode: bool = True, **extra: Any
             ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:  # bare `tracker`: the help, whole
            click.echo(exc.format_message(), err=True)
            sys.exit(exc.exit_code)
        except click.UsageError as exc:
            # Click would print the usage, a hint and the error on four lines: one is enough.
            path = exc.ctx.command_path if exc.ctx is not None else "tracker"
            click.echo(f"error: {one_line(exc.format_message())} (try `{path} --help`)",
                       err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            click.echo(f"error: {one_line(exc.format_message())}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("aborted", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except TrackerError as exc:
            self._fail(ctx, exc, str(exc), exc.exit_code)
        except OperationalError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            self._fail(ctx, exc, f"database error: {reason}", 1)
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            self._fail(ctx, exc, f"database error: {exc.__class__.__name__}: {reason}", 1)
        except BrokenPipeError:
            # The reader went away (`tracker history q | head`): nothing left to say to it.
            sys.stderr.close()
            ctx.exit(0)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except Exception as exc:  # the last guard: a clean line, the traceback only with -v
            obj = ctx.find_object(App)
            hint = "" if obj is not None and obj.verbose else " (run with -v for the traceback)"
            self._fail(ctx, exc, f"unexpected error: {exc.__class__.__name__}: {exc}{hint}", 1)

    @staticmethod
    def _fail(ctx: click.Context, exc: BaseException, message: str, code: int) -> None:
        """The error in one line and the command's exit status; with -v the traceback first
        (the status stays what it is: 2 for bad input, which a unit does not restart on)."""
        obj = ctx.find_object(App)
        if obj is not None and obj.verbose:
            import traceback

            traceback.print_exception(exc, file=sys.stderr)
        click.echo(f"error: {message}", err=True)
        ctx.exit(code)


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _UtcFormatter(logging.Formatter):
    """The daemon's log times in ISO 8601, UTC, with the zone: 2026-11-29T21:40:02.123Z, as
    the database and `tracker status` have them (a local time without a zone was ambiguous in
    a journal read from another zone, and at a change of summer time)."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        moment = datetime.fromtimestamp(record.created, UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@click.group(cls=TrackerGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", metavar="URL", help="Database URL [env TRACKER_DATABASE_URL; "
              f"default {DEFAULT_URL}].")
@click.option("--scenarios", metavar="PATH", help="The questions file [env TRACKER_SCENARIOS; "
              f"default {DEFAULT_SCENARIOS}].")
@click.option("-v", "--verbose", is_flag=True, help="Log more and show tracebacks.")
@click.version_option(__version__, prog_name="tracker")
@click.pass_context
def main(ctx: click.Context, db: str | None, scenarios: str | None, verbose: bool) -> None:
    """Follow long-running geopolitical questions.

    Each question has mutually exclusive scenarios with probabilities, watched through
    indicators. The tracker polls news feeds, spots indicators in what it reads, turns
    each sighting into a Bayesian update, emails a weekly report, and scores its own
    record once questions resolve. Start with `tracker init`, then `tracker show`.
    """
    if not gc.isenabled():  # started by tracker.__main__: start-up is over
        gc.freeze()
        gc.enable()
    daemon = ctx.invoked_subcommand == "daemon"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter((_UtcFormatter if daemon else logging.Formatter)(LOG_FORMAT))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO if daemon
                        else logging.WARNING, handlers=[handler])
    if not verbose:
        for noisy in ("httpx", "alembic"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    # Only init makes the database: a read command in the wrong folder must not leave one.
    ctx.obj = App(db, scenarios, verbose, create=ctx.invoked_subcommand == "init")


# Where each command lives: a command's module is imported only when the command runs (or
# when --help lists them all), so `tracker show` never loads the report renderer or the poller.
COMMANDS: dict[str, str] = {
    "init": "setup:init", "sync": "setup:sync", "show": "core:show", "update": "core:update",
    "history": "core:history", "void": "core:void_command", "import": "journal:import_",
    "poll": "feeds:poll", "evidence": "evidence:evidence", "score": "scores:score",
    "resolve": "scores:resolve", "unresolve": "scores:unresolve", "scores": "scores:scores",
    "indicators": "indicators:indicators", "report": "report:report",
    "daemon": "service:daemon", "status": "service:status", "try": "rules:try_",
    "rematch": "rules:rematch",
}


__all__ = ["COMMANDS", "App", "PastTime", "UnavailableError", "emit_csv", "emit_json",
           "json_option", "main", "pass_app", "since_options", "width", "wrapped"]
