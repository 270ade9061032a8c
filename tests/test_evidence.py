"""Evidence: cooldown collapse across feeds whatever the arrival order, and review with
`tracker evidence confirm/dismiss` moving the probabilities exactly as DESIGN §5 says."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, delete, update

from tests.conftest import Tracker
from tests.feedserver import FeedServer
from tests.test_poll import setup_tracker
from tracker.models import Entry, Evidence, Feed, Hit

DRILLS = "CSTO holds drills near the Tajik border"


def rss(*items: tuple[str, str, str]) -> bytes:
    """An RSS 2.0 feed of (guid, title, ISO date) items."""
    body = "".join(
        f"<item><title>{title}</title><guid>{guid}</guid>"
        f"<pubDate>{format_datetime(datetime.fromisoformat(day + 'T12:00:00+00:00'))}</pubDate>"
        "</item>"
        for guid, title, day in items
    )
    head = '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
    return f"{head}{body}</channel></rss>".encode()


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as s:
        yield s


def items(t: Tracker, *args: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads(t.ok("evidence", *args, "--json").output)["evidence"]
    return data


def grouping(t: Tracker) -> list[tuple[str, list[str]]]:
    """Each item of csto-border-drills as (observed day, [days of its hits]), oldest first."""
    out = []
    for e in sorted(items(t), key=lambda e: e["observed_at"]):
        if e["indicator"] == "csto-border-drills":
            out.append((e["observed_at"][:10], sorted(h["published"][:10] for h in e["hits"])))
    return out


@pytest.mark.parametrize("order", [("a", "b"), ("b", "a")])
def test_cooldown_collapses_hits_across_feeds_in_any_order(
    db_url: str, tmp_path: Path, server: FeedServer, order: tuple[str, str]
) -> None:
    server.set("/a.xml", rss(("a1", DRILLS, "2021-10-01"), ("a2", DRILLS, "2021-10-05")))
    server.set("/b.xml", rss(("b1", DRILLS, "2021-10-03"), ("b2", DRILLS, "2021-10-09"),
                             ("b3", DRILLS, "2021-10-12")))
    t = setup_tracker(db_url, tmp_path, {"a": server.url("/a.xml"), "b": server.url("/b.xml")})
    for feed in order:
        t.ok("poll", feed)
    # Cooldown 7d: 10-09 is 8 days after the first item started, so it starts the next one.
    assert grouping(t) == [
        ("2021-10-01", ["2021-10-01", "2021-10-03", "2021-10-05"]),
        ("2021-10-09", ["2021-10-09", "2021-10-12"]),
    ]
    first = next(e for e in items(t) if e["observed_at"].startswith("2021-10-01"))
    assert sorted({h["feed"] for h in first["hits"]}) == ["a", "b"]


def test_a_late_hit_regroups_and_keeps_the_review(
    db_url: str, tmp_path: Path, server: FeedServer
) -> None:
    server.set("/a.xml", rss(("a1", DRILLS, "2021-10-09"), ("a2", DRILLS, "2021-10-12")))
    server.set("/b.xml", rss(("b1", DRILLS, "2021-10-05")))
    t = setup_tracker(db_url, tmp_path, {"a": server.url("/a.xml"), "b": server.url("/b.xml")})
    t.ok("poll", "a")
    [item] = items(t)
    t.ok("evidence", "confirm", str(item["id"]), "--note", "seen on TV", "--by", "ana")
    t.ok("poll", "b")
    # 10-05 starts an item that 10-09 joins; 10-12 is a full cooldown after 10-05: a new item.
    assert grouping(t) == [("2021-10-05", ["2021-10-05", "2021-10-09"]),
                           ("2021-10-12", ["2021-10-12"])]
    kept, new = sorted(items(t), key=lambda e: e["observed_at"])
    assert kept["id"] == item["id"] and kept["state"] == "confirmed"
    assert kept["note"] == "seen on TV" and kept["reviewed_by"] == "ana"
    assert new["state"] == "auto"


def normalized(p: dict[str, float]) -> dict[str, float]:
    total = sum(p.values())
    return {s: v / total for s, v in p.items()}


def probabilities(t: Tracker, question: str) -> dict[str, float]:
    data: dict[str, float] = json.loads(t.ok("show", question, "--json").output)["probabilities"]
    return data


def test_confirm_and_dismiss_move_the_question(
    db_url: str, tmp_path: Path, server: FeedServer
) -> None:
    title = "Tashkent may return to the CSTO"
    server.set("/a.xml", rss(("a1", title, "2021-08-02")))
    t = setup_tracker(db_url, tmp_path, {"a": server.url("/a.xml")})
    t.ok("poll")
    [item] = items(t, "uzbekistan-rejoins")
    assert item["state"] == "auto" and item["question"] == "uzbekistan-rejoins"
    assert item["hits"][0]["title"] == title and item["hits"][0]["feed"] == "a"
    assert set(item) >= {"id", "question", "indicator", "observed_at", "state", "factor", "hits"}
    assert set(item["hits"][0]) >= {"entry", "feed", "title", "link", "published"}

    prior = {"rejoins": 0.04, "stays-out": 0.96}
    # Unreviewed: right with probability 0.5, else it says nothing (docs/model.md §2).
    auto = normalized({"rejoins": 0.04 * (0.5 * 0.9 + 0.5), "stays-out": 0.96 * (0.5 * 0.2 + 0.5)})
    confirmed = normalized({"rejoins": 0.04 * 0.9, "stays-out": 0.96 * 0.2})
    got = probabilities(t, "uzbekistan-rejoins")
    assert got == pytest.approx(auto, abs=1e-9)

    out = t.ok("evidence", "confirm", str(item["id"]), "--note", "official statement").output
    assert f"rejoins: {auto['rejoins'] * 100:.1f}% -> {confirmed['rejoins'] * 100:.1f}%" in out
    assert probabilities(t, "uzbekistan-rejoins") == pytest.approx(confirmed, abs=1e-9)
    [item] = items(t, "--state", "confirmed")
    assert item["factor"] == pytest.approx({"rejoins": 0.9, "stays-out": 0.2})
    assert item["note"] == "official statement" and item["reviewed_at"]

    t.ok("evidence", "dismiss", str(item["id"]), "--note", "a misquote")
    assert probabilities(t, "uzbekistan-rejoins") == pytest.approx(prior, abs=1e-9)
    [item] = items(t, "uzbekistan-rejoins", "--state", "dismissed")
    assert item["factor"] == {"rejoins": 1.0, "stays-out": 1.0}
    assert items(t, "--state", "auto") == [] and items(t, "csto-response") == []


def test_review_refuses_bad_input(db_url: str, tmp_path: Path, server: FeedServer) -> None:
    t = setup_tracker(db_url, tmp_path, {"a": server.url("/a.xml")})
    assert t("evidence", "confirm", "999").exit_code == 2
    assert "unknown evidence 999" in t("evidence", "dismiss", "999").output
    assert t("evidence", "confirm", "x").exit_code == 2
    assert t("evidence", "no-such-question").exit_code == 2
    assert t("evidence", "--state", "maybe").exit_code == 2
    assert "no evidence" in t.ok("evidence").output


def test_listing_for_people(db_url: str, tmp_path: Path, server: FeedServer) -> None:
    server.set("/a.xml", rss(("a1", DRILLS, "2021-10-01")))
    t = setup_tracker(db_url, tmp_path, {"a": server.url("/a.xml")})
    t.ok("poll")
    out = t.ok("evidence", "csto-response").output
    assert "2021-10-01T12:00:00Z  auto" in out and "csto-response/csto-border-drills" in out
    assert f"a: {DRILLS}" in out
    assert "deploys=0.9" in out  # 0.5·0.8 + 0.5, an auto item of an unreviewed indicator


def greedy(days: list[str], cooldown_days: int) -> list[tuple[str, list[str]]]:
    """DESIGN §5 by hand: a hit joins the item started less than a cooldown before it."""
    out: list[tuple[str, list[str]]] = []
    for day in sorted(days):
        d = datetime.fromisoformat(day)
        if out and (d - datetime.fromisoformat(out[-1][0])).days < cooldown_days:
            out[-1][1].append(day)
        else:
            out.append((day, [day]))
    return out


def test_grouping_is_the_same_in_every_arrival_order(
    db_url: str, tmp_path: Path, server: FeedServer
) -> None:
    feeds = {"a": ["2021-10-01", "2021-10-09", "2021-10-20"],
             "b": ["2021-10-06", "2021-10-14", "2021-10-16"],
             "c": ["2021-10-03", "2021-10-12", "2021-10-27"]}
    for fid, days in feeds.items():
        server.set(f"/{fid}.xml", rss(*((f"{fid}{i}", DRILLS, d) for i, d in enumerate(days))))
    t = setup_tracker(db_url, tmp_path, {f: server.url(f"/{f}.xml") for f in feeds})
    expected = greedy([d for days in feeds.values() for d in days], 7)
    assert len(expected) == 4
    engine = create_engine(db_url)
    try:
        for order in itertools.permutations(feeds):
            with engine.begin() as conn:
                for table in (Hit, Evidence, Entry):
                    conn.execute(delete(table))
                conn.execute(update(Feed).values(etag=None, last_modified=None, body_hash=None))
            for fid in order:
                t.ok("poll", fid)
            assert grouping(t) == expected, order
    finally:
        engine.dispose()
