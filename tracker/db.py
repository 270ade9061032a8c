"""The database: engine, sessions, migrations (Alembic API) and SQLite pragmas."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from .errors import SchemaError, UnavailableError, UsageError
from .resources import migrations_dir

# The one driver the tracker installs and is tested with, per database.
DRIVERS = {"sqlite": "pysqlite", "postgresql": "psycopg"}


def normalize_url(url: str) -> str:
    """Use psycopg 3 for a bare postgresql:// URL."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str, *, create: bool = True) -> Engine:
    """An engine for `url`; SQLite gets WAL, a busy timeout and foreign keys. Without
    `create`, a SQLite file that does not exist is refused rather than made."""
    example = "e.g. sqlite:///db/tracker.sqlite3 or postgresql://user@host/db"
    try:
        parsed = make_url(normalize_url(url))
        parsed.get_dialect()
    except ArgumentError:  # NoSuchModuleError, an unknown database kind, is one too
        raise UsageError(f"bad database URL {url!r}", hint=example) from None
    backend = parsed.get_backend_name()
    if backend not in DRIVERS:
        raise UsageError(f"unsupported database {backend!r} in {url!r}", hint=example)
    if parsed.get_driver_name() != DRIVERS[backend]:
        raise UsageError(f"unsupported driver {parsed.drivername!r} in {url!r}: the tracker "
                         f"talks to {backend} through {DRIVERS[backend]}",
                         hint=f"write {backend}://… and it is used")
    if backend == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise UsageError(f"{url!r} is an in-memory database: it keeps nothing once the "
                             "command ends", hint=example)
        path = Path(parsed.database).expanduser()
        if create:
            # The database's own folder (db/ of a fresh checkout) is made; a path whose
            # folders do not exist further up is more likely a typo than a wish.
            if not path.parent.parent.is_dir():
                raise UsageError(f"no folder {path.parent.parent} for the database {path}",
                                 hint="create it first, or check the path")
            path.parent.mkdir(exist_ok=True)
        elif not path.exists():
            raise SchemaError(f"no database at {path}", hint="run `tracker init` to create it")
        engine = create_engine(parsed, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy, not pysqlite, decide when transactions begin.
            dbapi_connection.isolation_level = None
            cur = dbapi_connection.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            # IMMEDIATE takes the write lock up front, so two writers wait instead of deadlocking.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(parsed, pool_pre_ping=True, connect_args={"connect_timeout": 10})


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One session, committed on success and rolled back on error."""
    with factory() as session, session.begin():
        yield session


def _alembic_config(connection: Any) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    """The newest migration the code knows."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_alembic_config(None))
    head = script.get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The migration the database is at, or None for an empty database."""
    from alembic.runtime.migration import MigrationContext

    with connect(engine) as conn:
        return MigrationContext.configure(conn).get_current_revision()


@contextmanager
def connect(engine: Engine) -> Iterator[Any]:
    """A connection, or UnavailableError naming the database when it cannot be reached."""
    try:
        conn = engine.connect()
    except OperationalError as exc:
        raise UnavailableError(
            f"cannot reach the database {engine.url.render_as_string(hide_password=True)}: "
            f"{str(exc.orig).strip().splitlines()[0] if exc.orig else exc}",
            hint="check --db / TRACKER_DATABASE_URL and that the file and its folder can be "
                 "read and written" if engine.dialect.name == "sqlite" else
                 "check --db / TRACKER_DATABASE_URL and that the server is running",
        ) from None
    with conn:
        yield conn


def _refuse_newer(current: str | None) -> None:
    """A revision the code does not know was made by a newer tracker: migrating it down or
    working on it would lose or misread data."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    if current is None:
        return
    try:
        known = ScriptDirectory.from_config(_alembic_config(None)).get_revision(current)
    except CommandError:
        known = None
    if known is None:
        raise UsageError(f"this database was made by a newer tracker (revision {current})",
                         hint="upgrade the tracker package")


def migrate(engine: Engine) -> tuple[str | None, str]:
    """Create or upgrade the schema to head; returns (revision before, revision after)."""
    from alembic import command

    before = current_revision(engine)
    _refuse_newer(before)
    with connect(engine) as conn:
        command.upgrade(_alembic_config(conn), "head")
        conn.commit()
    return before, head_revision()


_REVISION = re.compile(r"""^(down_)?revision\s*(?::[^=]*)?=\s*['"]([^'"]+)['"]""", re.M)


def _head_from_scripts() -> str | None:
    """The head revision read from the migration scripts' text, without loading Alembic
    (its import is most of a short command's start-up); None unless exactly one head."""
    made: set[str] = set()
    replaced: set[str] = set()
    for script in (migrations_dir() / "versions").glob("*.py"):
        for down, name in _REVISION.findall(script.read_text(encoding="utf-8")):
            (replaced if down else made).add(name)
    heads = made - replaced
    return heads.pop() if len(heads) == 1 else None


def _stamped_revision(engine: Engine) -> str | None:
    """The revision Alembic stamped on the database, read with plain SQL."""
    with connect(engine) as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def check_schema(engine: Engine) -> None:
    """Refuse to work on a database whose schema is missing or behind the code."""
    head = _head_from_scripts()
    if head is not None and _stamped_revision(engine) == head:
        return  # the everyday case, settled without Alembic
    current, head = current_revision(engine), head_revision()
    if current is None:
        where = engine.url.render_as_string(hide_password=True)
        raise SchemaError(f"the database {where} has no tracker schema",
                          hint="run `tracker init`")
    _refuse_newer(current)
    if current != head:
        raise SchemaError(f"the database schema is at {current}, the code needs {head}",
                          hint="run `tracker init` to migrate")
