"""Writers at once on PostgreSQL, where they do not take turns by themselves: the analyst's
command while another transaction holds the same question, rules or feeds. In each test a
transaction in this process has done its work and not committed; the command (a real `tracker`
process) must wait for it, then answer as if it had come second: refused where the other
made its write pointless, never with a database error, and never leaving a stored forecast
computed without the other's write. (SQLite needs no test: every write transaction there
starts with the database's write lock.)"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from tests.conftest import PG_URL, SMALL_YAML, Tracker, empty_database
from tests.feedserver import FeedServer
from tests.test_rules import A, B, C, rss, scenarios
from tracker.corrections import void
from tracker.db import make_engine, make_sessionmaker
from tracker.ledger import get_question, rescore, resolve
from tracker.models import Evidence
from tracker.rematch import rematch
from tracker.scenarios import load_scenarios
from tracker.sync import sync

pytestmark = pytest.mark.skipif(not PG_URL, reason="needs TRACKER_TEST_DATABASE_URL")
Q = "uzbekistan-rejoins"


@pytest.fixture
def pg(tmp_path: Path) -> Iterator[Tracker]:
    """A PostgreSQL database (a schema of its own) after `tracker init`, small scenarios."""
    path = tmp_path / "scenarios.yaml"
    path.write_text(SMALL_YAML, encoding="utf-8")
    with empty_database("postgresql", tmp_path) as url:
        t = Tracker(url, path)
        t.ok("init")
        yield t


def second(t: Tracker, first: Callable[[Session], object], *command: str) -> tuple[int, str]:
    """Run `first` in a transaction and hold it open; start `tracker COMMAND`; once the
    command waits on that transaction, commit it; the command's exit code and output."""
    engine = make_engine(t.db_url)
    admin = create_engine(PG_URL or "")
    proc: subprocess.Popen[str] | None = None
    try:
        with make_sessionmaker(engine)() as session, session.begin():
            holder = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
            first(session)  # flushed or not, as the code left it (a query would autoflush)
            proc = subprocess.Popen(
                [sys.executable, "-m", "tracker", "--db", t.db_url, "--scenarios",
                 str(t.scenarios), *command],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            deadline = time.monotonic() + 30
            while True:
                with admin.connect() as conn:
                    waiting = conn.execute(text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE :holder = ANY(pg_blocking_pids(pid))"), {"holder": holder}).scalar()
                if waiting:
                    break
                if proc.poll() is not None:
                    out = proc.communicate()[0]
                    pytest.fail(f"`tracker {' '.join(command)}` did not wait for the open "
                                f"transaction (exit {proc.returncode}): {out}")
                assert time.monotonic() < deadline, "the command never waited"
                time.sleep(0.05)
        out = proc.communicate(timeout=60)[0]  # committed: the command goes on
        return proc.returncode, out
    finally:
        if proc is not None and proc.poll() is None:  # a failed test: nothing left running
            proc.kill()
            proc.wait()
        engine.dispose()
        admin.dispose()


def probabilities(t: Tracker) -> dict[str, float]:
    return json.loads(t.ok("show", Q, "--json").output)["probabilities"]


def assert_current_is_recomputed(t: Tracker) -> None:
    """The stored forecast is the one the log gives: `tracker score` changes nothing."""
    stored = probabilities(t)
    t.ok("score")
    assert probabilities(t) == pytest.approx(stored, abs=1e-12)


def resolved_first(session: Session) -> None:
    resolve(session, get_question(session, Q), "stays-out", by="ana",
            at=datetime(2026, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize("command, refusal", [
    (["resolve", Q, "rejoins", "--by", "bo"], "already resolved to stays-out"),
    (["update", Q, "rejoins=0.3", "--note", "late news"], "is resolved (stays-out)"),
], ids=["a second resolve", "an update"])
def test_a_write_that_waited_for_a_resolve_is_refused(pg: Tracker, command: list[str],
                                                      refusal: str) -> None:
    """Both used to be recorded: two resolutions in force, or a manual forecast after the
    resolution (which `resolve` itself refuses: history would hide it)."""
    code, out = second(pg, resolved_first, *command)
    assert code == 2 and refusal in out, out
    history = json.loads(pg.ok("history", Q, "--format", "json").output)["forecasts"]
    assert [h["source"] for h in history if h["source"] != "prior"] == ["resolution"]
    assert probabilities(pg) == {"rejoins": 0.0, "stays-out": 1.0}


def test_an_update_during_a_rescore_is_not_overwritten(pg: Tracker) -> None:
    """A poll's rescore that read the log before an update committed used to store its F
    over the update's, until the next `tracker score`."""
    engine = make_engine(pg.db_url)
    with make_sessionmaker(engine)() as session, session.begin():  # a sighting, not scored yet
        session.add(Evidence(question_id=Q, indicator_id="uz-csto-talks", state="confirmed",
                             observed_at=datetime(2025, 6, 1, tzinfo=UTC),
                             created_at=datetime(2025, 6, 1, tzinfo=UTC)))
    engine.dispose()

    def first(session: Session) -> None:
        rescore(session, [Q], datetime.now(UTC))  # the poll's rescore, not yet committed

    code, out = second(pg, first, "update", Q, "rejoins=0.3", "--note", "an envoy", "--by", "ana")
    assert code == 0, out
    assert probabilities(pg) == pytest.approx({"rejoins": 0.3, "stays-out": 0.7}, abs=1e-12)
    assert_current_is_recomputed(pg)


def test_a_review_during_a_rescore_is_not_overwritten(pg: Tracker) -> None:
    engine = make_engine(pg.db_url)
    with make_sessionmaker(engine)() as session, session.begin():
        item = Evidence(question_id=Q, indicator_id="uz-csto-talks", state="auto",
                        observed_at=datetime(2025, 6, 1, tzinfo=UTC),
                        created_at=datetime(2025, 6, 1, tzinfo=UTC))
        session.add(item)
        session.flush()
        item_id = item.id
    engine.dispose()

    def first(session: Session) -> None:
        rescore(session, [Q], datetime.now(UTC))

    code, out = second(pg, first, "evidence", "dismiss", str(item_id), "--note", "a rumour")
    assert code == 0, out
    assert probabilities(pg) == pytest.approx({"rejoins": 0.04, "stays-out": 0.96}, abs=1e-12)
    assert_current_is_recomputed(pg)


def test_two_voids_of_one_forecast_void_it_once(pg: Tracker) -> None:
    pg.ok("update", Q, "rejoins=0.2", "--note", "an envoy", "--by", "ana")
    (manual,) = [h for h in json.loads(pg.ok("history", Q, "--format", "json").output)
                 ["forecasts"] if h["source"] == "manual"]

    def first(session: Session) -> None:
        void(session, manual["id"], note="typo", by="ana")

    code, out = second(pg, first, "void", str(manual["id"]), "--note", "typo too", "--by", "bo")
    assert code == 2 and f"forecast #{manual['id']} was already voided by ana" in out, out
    assert "database error" not in out
    assert probabilities(pg) == pytest.approx({"rejoins": 0.04, "stays-out": 0.96}, abs=1e-12)


def test_two_rematches_at_once_add_each_hit_once(pg: Tracker, tmp_path: Path) -> None:
    with FeedServer() as server:
        server.set("/uz.xml", rss([A, B, C]))
        scenarios(pg.scenarios, server.url("/uz.xml"))
        pg.ok("sync")
        pg.ok("poll")
        scenarios(pg.scenarios, server.url("/uz.xml"), any_terms="[observer]")  # B, not A
        pg.ok("sync")

        def first(session: Session) -> None:
            rematch(session, now=datetime.now(UTC))

        code, out = second(pg, first, "rematch")
    assert code == 0, out
    assert "0 new evidence, 0 withdrawn" in out, out
    states = sorted(e["state"] for e in json.loads(pg.ok("evidence", "--json").output)
                    ["evidence"])
    assert states == ["auto", "withdrawn"]


def test_two_syncs_adding_one_feed_add_it_once(pg: Tracker) -> None:
    pg.scenarios.write_text(SMALL_YAML.replace(
        '  - {id: local, url: "http://127.0.0.1:9/feed.xml"}\n',
        '  - {id: local, url: "http://127.0.0.1:9/feed.xml"}\n'
        '  - {id: added, url: "http://127.0.0.1:9/added.xml"}\n'), encoding="utf-8")
    spec = load_scenarios(pg.scenarios)

    def first(session: Session) -> None:  # the daemon's sync on SIGHUP
        sync(session, spec)

    code, out = second(pg, first, "sync")
    assert code == 0 and "0 added" in out, out
    status = json.loads(pg.ok("status", "--json").output)
    assert sorted(f["id"] for f in status["feeds"]) == ["added", "local"]


def test_a_review_that_waited_for_a_rematch_withdrawing_its_item_is_refused(pg: Tracker) -> None:
    """A review holds its item's indicator first, then reads the item again. Without that, a
    review that read the item before a rematch withdrew it (the rule no longer matches) went
    on after the rematch committed and stored the withdrawn sighting as confirmed."""
    with FeedServer() as server:
        server.set("/uz.xml", rss([A, B, C]))
        scenarios(pg.scenarios, server.url("/uz.xml"))
        pg.ok("sync")
        pg.ok("poll")
        (item,) = json.loads(pg.ok("evidence", "--json").output)["evidence"]  # A's sighting
        scenarios(pg.scenarios, server.url("/uz.xml"), any_terms="[observer]")  # B, not A
        pg.ok("sync")

        def first(session: Session) -> None:
            rematch(session, now=datetime.now(UTC))

        code, out = second(pg, first, "evidence", "confirm", str(item["id"]), "--by", "ana")
    assert code == 2 and f"evidence {item['id']} was withdrawn" in out, out
    states = {e["id"]: e["state"] for e in json.loads(pg.ok("evidence", "--json").output)
              ["evidence"]}
    assert states[item["id"]] == "withdrawn", states
    assert_current_is_recomputed(pg)
