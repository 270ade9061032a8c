"""Shared fixtures: a fresh database per test on SQLite, and on PostgreSQL when
TRACKER_TEST_DATABASE_URL is set; a CLI runner; small scenario files."""

from __future__ import annotations

import os
import textwrap
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.orm import Session, sessionmaker

PG_URL = os.environ.get("TRACKER_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])

BARE_QUESTION = textwrap.dedent(
    """\
    questions:
      - id: uzbekistan-rejoins
        title: Will Uzbekistan rejoin the CSTO before 2028?
        opens: 2021-07-09
        closes: 2027-12-31
        resolution: Resolves "rejoins" if Uzbekistan becomes a full CSTO member again.
        scenarios:
          - {id: rejoins, label: Uzbekistan rejoins, prior: 0.04}
          - {id: stays-out, label: Uzbekistan stays outside, prior: 0.96}
    """
)


_SMALL_HEAD = textwrap.dedent(
    """\
    version: 1
    settings:
      scoring: {auto_weight: 0.5, floor: 0.001}
    feeds:
      - {id: local, url: "http://127.0.0.1:9/feed.xml"}
    """
)

# The rest of the first question (its indicators), then a second question.
_SMALL_TAIL = textwrap.indent(textwrap.dedent(
    """\
        indicators:
          - id: uz-csto-talks
            description: Uzbek officials discuss returning to the CSTO
            match:
              all:
                - [Uzbekistan, Tashkent, Узбекистан*]
                - [CSTO, ОДКБ]
              any: [rejoin*, return*, вступ*]
            likelihood: {rejoins: 0.9, stays-out: 0.2}
      - id: csto-response
        title: How does the CSTO respond after the US leaves Afghanistan?
        opens: 2021-07-09
        closes: 2026-12-31
        resolution: Resolves by the largest CSTO action on the Afghan border.
        scenarios:
          - {id: deploys, label: Collective deployment, prior: 0.2}
          - {id: drills, label: Drills only, prior: 0.5}
          - {id: nothing, label: No response, prior: 0.3}
        indicators:
          - id: csto-border-drills
            description: CSTO drills near the Afghan border
            match:
              all: [[CSTO, ОДКБ], [drill*, exercise*, учени*]]
            likelihood: {deploys: 0.8, drills: 0.9, nothing: 0.1}
            cooldown: 7d
    """
), "  ")
SMALL_YAML = _SMALL_HEAD + BARE_QUESTION + _SMALL_TAIL


def feeds_yaml(feeds: dict[str, str], settings: str = "") -> str:
    """A scenarios file of these feeds (id -> URL) and one question without indicators;
    `settings` is the body of a `settings:` block, e.g. "polling: {tick: 30s}"."""
    head = "version: 1\n" + (f"settings:\n  {settings}\n" if settings else "")
    listed = "".join(f'  - {{id: {fid}, url: "{url}"}}\n' for fid, url in feeds.items())
    return f"{head}feeds:\n{listed}{BARE_QUESTION}"


def pg_schema_url(base: str, schema: str) -> str:
    """A URL whose connections work inside one schema."""
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}"


@contextmanager
def empty_database(backend: str, folder: Path, name: str = "tracker") -> Iterator[str]:
    """The URL of an empty database: a file in `folder`, or a throwaway PostgreSQL schema."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / f'{name}.sqlite3'}"
        return
    assert PG_URL
    schema = f"{name[:8]}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield pg_schema_url(PG_URL, schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database of each backend under test."""
    with empty_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def scenarios_file(tmp_path: Path) -> Path:
    """The small two-question scenarios file above, written to disk."""
    path = tmp_path / "scenarios.yaml"
    path.write_text(SMALL_YAML, encoding="utf-8")
    return path


class Tracker:
    """Runs `tracker` commands in-process against one database and one scenarios file."""

    def __init__(self, db_url: str, scenarios: Path) -> None:
        self.db_url = db_url
        self.scenarios = scenarios
        # A fixed width, as a user without a terminal gets: wrapping must not depend on
        # the terminal the tests happen to run in.
        self.runner = CliRunner(env={"COLUMNS": "100"})

    def __call__(self, *args: str, input: str | None = None) -> Result:
        from tracker.cli import main

        return self.runner.invoke(
            main, ["--db", self.db_url, "--scenarios", str(self.scenarios), *args],
            input=input, catch_exceptions=True, prog_name="tracker",
        )

    def ok(self, *args: str) -> Result:
        """Run and insist on exit 0."""
        result = self(*args)
        assert result.exit_code == 0, (result.output, result.exception)
        return result

    def refused(self, *args: str, message: str) -> Result:
        """Run and insist on a refusal: exit 2, `message` said, no traceback, and the
        database unchanged row for row."""
        before = snapshot(self.db_url)
        result = self(*args)
        assert result.exit_code == 2, result.output
        assert message in result.output
        assert "Traceback" not in result.output
        assert snapshot(self.db_url) == before
        return result


@pytest.fixture
def tracker(db_url: str, scenarios_file: Path) -> Tracker:
    """A CLI runner on a fresh database with the small scenarios file."""
    return Tracker(db_url, scenarios_file)


@pytest.fixture
def initialized(tracker: Tracker) -> Tracker:
    """The same, after `tracker init`."""
    tracker.ok("init")
    return tracker


@pytest.fixture
def sessions(initialized: Tracker) -> Iterator[sessionmaker[Session]]:
    """Sessions on the initialized database of the `initialized` CLI runner."""
    from tracker.db import make_engine, make_sessionmaker

    engine = make_engine(initialized.db_url)
    yield make_sessionmaker(engine)
    engine.dispose()


def snapshot(db_url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, for 'the database is unchanged, row for row'."""
    engine = create_engine(db_url)
    try:
        out: dict[str, list[tuple[Any, ...]]] = {}
        names = inspect(engine).get_table_names()
        from tracker.models import Base

        with engine.connect() as conn:
            for name in sorted(names):
                table = Base.metadata.tables.get(name)
                if table is None:
                    rows = conn.execute(text(f'SELECT * FROM "{name}"')).all()
                else:
                    rows = conn.execute(select(table)).all()
                out[name] = sorted((tuple(r) for r in rows), key=repr)
        return out
    finally:
        engine.dispose()
