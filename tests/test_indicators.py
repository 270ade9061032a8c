"""The model through the database and the CLI: reliability and weights in `tracker evidence`,
the `tracker indicators` report card, silence in `tracker history`, and an archive flood of the
shipped uzbekistan-rejoins served by the local feed server, in the question and in the report."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import Tracker
from tests.feedserver import FeedServer
from tests.test_report import add_evidence
from tests.test_scores import numpy_forecast
from tracker.config import Settings
from tracker.db import make_engine, make_sessionmaker, transaction
from tracker.forecast import EvidencePoint, QuestionLog
from tracker.models import Evidence, Question
from tracker.reports import make_report, period_bounds, period_of
from tracker.timeutil import day_start

REPO = Path(__file__).resolve().parent.parent
OPENS = datetime(2021, 7, 9, tzinfo=UTC)
UZ = {"rejoins": 0.9, "stays-out": 0.2}
DRILLS = {"deploys": 0.8, "drills": 0.9, "nothing": 0.1}


def as_json(t: Tracker, *args: str) -> Any:
    return json.loads(t.ok(*args, "--json").output)


def norm(p: dict[str, float]) -> dict[str, float]:
    return {s: v / sum(p.values()) for s, v in p.items()}


def at(month: int, day: int, year: int = 2021) -> datetime:
    return datetime(year, month, day, 12, tzinfo=UTC)


def seed(sessions: sessionmaker[Session]) -> dict[str, list[int]]:
    """Three auto sightings of uz-csto-talks; five of csto-border-drills in every state."""
    ids: dict[str, list[int]] = {"uz": [], "drills": []}
    with transaction(sessions) as session:
        for month in (8, 9, 10):
            ids["uz"].append(add_evidence(session, "uzbekistan-rejoins", "uz-csto-talks",
                                          title=f"Tashkent may return {month}",
                                          at=at(month, 1)).id)
        for month, state in ((8, "confirmed"), (9, "dismissed"), (10, "dismissed"),
                             (11, "auto"), (12, "withdrawn")):
            ids["drills"].append(add_evidence(session, "csto-response", "csto-border-drills",
                                              title=f"CSTO drills {month}", at=at(month, 5),
                                              state=state).id)
    return ids


def test_weights_follow_reviews_and_repeats(initialized: Tracker,
                                            sessions: sessionmaker[Session]) -> None:
    ids = seed(sessions)
    initialized.ok("score")
    items = {e["id"]: e for e in as_json(initialized, "evidence")["evidence"]}
    # csto-border-drills: 1 confirmed, 2 dismissed: r = (4·0.5 + 1) / (4 + 1 + 2) = 3/7. Its
    # auto item is right with probability 3/7 and is the second applied one after opens:
    # repeat 0.5, factor (3/7·L + 4/7)^0.5 (docs/model.md §2).
    confirmed, _, _, auto, withdrawn = (items[i] for i in ids["drills"])
    assert confirmed["weight"] == 1.0 and confirmed["repeat"] == 1.0
    assert confirmed["factor"] == pytest.approx(DRILLS)
    assert auto["weight"] == pytest.approx(3 / 7, abs=1e-15) and auto["repeat"] == 0.5
    mixed = {s: (3 / 7 * v + 4 / 7) ** 0.5 for s, v in DRILLS.items()}
    assert auto["factor"] == pytest.approx(mixed)
    assert withdrawn["weight"] == 0.0 and set(withdrawn["factor"].values()) == {1.0}
    prior = {"deploys": 0.2, "drills": 0.5, "nothing": 0.3}
    expected = norm({s: prior[s] * DRILLS[s] * mixed[s] for s in prior})
    assert as_json(initialized, "show", "csto-response")["probabilities"] == pytest.approx(
        expected, abs=1e-12)
    # uz-csto-talks, no review: weight 0.5 each, repeats 1, 0.5, 0.25. A confirmation raises
    # the others to (2 + 1) / (4 + 1) = 0.6: weights 1, 0.6, 0.6; the question is rescored.
    assert [items[i]["weight"] for i in ids["uz"]] == [0.5, 0.5, 0.5]
    assert [items[i]["repeat"] for i in ids["uz"]] == [1.0, 0.5, 0.25]
    initialized.ok("evidence", "confirm", str(ids["uz"][0]))
    items = {e["id"]: e for e in as_json(initialized, "evidence")["evidence"]}
    assert [items[i]["weight"] for i in ids["uz"]] == pytest.approx([1.0, 0.6, 0.6])
    expected = norm({s: p * UZ[s] * (0.6 * UZ[s] + 0.4) ** 0.75
                     for s, p in {"rejoins": 0.04, "stays-out": 0.96}.items()})
    assert as_json(initialized, "show", "uzbekistan-rejoins")["probabilities"] == \
        pytest.approx(expected, abs=1e-12)


def independent_evidence_log(weights: list[float], resolved_at: datetime) -> QuestionLog:
    """uzbekistan-rejoins of the small scenarios file with the seeded uz sightings."""
    evidence = tuple(EvidencePoint(i, "uz-csto-talks", at(month, 1), UZ, w)
                     for i, (month, w) in enumerate(zip((8, 9, 10), weights, strict=True)))
    return QuestionLog(("rejoins", "stays-out"), {"rejoins": 0.04, "stays-out": 0.96}, OPENS,
                       evidence=evidence, resolved_to="stays-out", resolved_at=resolved_at)


def numpy_evidence_log_score(log: QuestionLog) -> float:
    assert log.resolved_at is not None
    days = (log.resolved_at.date() - OPENS.date()).days
    cuts = [day_start(OPENS.date() + timedelta(days=d + 1)) for d in range(days)]
    return float(sum(math.log(numpy_forecast(log, c, False, True)[1]) for c in cuts) / days)


def test_the_indicator_report_card(initialized: Tracker,
                                   sessions: sessionmaker[Session]) -> None:
    seed(sessions)
    initialized.ok("resolve", "uzbekistan-rejoins", "stays-out", "--at", "2022-01-01")
    cards = {c["id"]: c for c in as_json(initialized, "indicators")["indicators"]}
    assert set(cards) == {"uz-csto-talks", "csto-border-drills"}
    drills = cards["csto-border-drills"]
    assert drills == {
        "id": "csto-border-drills", "question": "csto-response",
        "description": "CSTO drills near the Afghan border", "sightings": 5, "confirmed": 1,
        "dismissed": 2, "pending": 1, "withdrawn": 1, "reliability": pytest.approx(3 / 7),
        "contribution": None}
    talks = cards["uz-csto-talks"]
    assert (talks["sightings"], talks["pending"], talks["reliability"]) == (3, 3, 0.5)
    # Sightings that pointed to "rejoins" on a question resolved "stays-out" hurt the
    # evidence track: with them minus without them (the prior alone), by numpy.
    log = independent_evidence_log([0.5, 0.5, 0.5], datetime(2022, 1, 1, tzinfo=UTC))
    with_them = numpy_evidence_log_score(log)
    assert talks["contribution"] == pytest.approx(with_them - math.log(0.96), abs=1e-12)
    assert talks["contribution"] < 0
    # One question; the table for people.
    one = as_json(initialized, "indicators", "csto-response")["indicators"]
    assert [c["id"] for c in one] == ["csto-border-drills"]
    out = initialized.ok("indicators").output
    assert "uzbekistan-rejoins\n" in out and "csto-response\n" in out
    line = next(x for x in out.splitlines() if x.strip().startswith("csto-border-drills"))
    assert line.split()[1:] == ["5", "1", "2", "1", "1", "0.429", "n/a"]
    assert f"{talks['contribution']:+.4f}" in out
    rows = list(csv.DictReader(io.StringIO(initialized.ok("indicators", "--format",
                                                          "csv").output)))
    assert [r["id"] for r in rows] == list(cards)
    assert {r["id"]: float(r["reliability"]) for r in rows} == pytest.approx(
        {i: c["reliability"] for i, c in cards.items()})
    initialized.refused("indicators", "no-such-question", message="unknown question")
    assert "reliability" in initialized.ok("indicators", "--help").output


def test_the_report_lists_indicators_to_review(initialized: Tracker,
                                               sessions: sessionmaker[Session]) -> None:
    seed(sessions)
    initialized.ok("resolve", "uzbekistan-rejoins", "stays-out", "--at", "2022-01-01")
    with transaction(sessions) as session:
        report = make_report(session, "2026-W10", now=datetime(2026, 3, 2, 7, tzinfo=UTC))
        text, html = report.text, report.html
    block = text[text.index("Indicators to review:"):text.index("No manual forecast")]
    # One item a line, filled to 100 columns: an item may go on over the next lines.
    body = block.split("\n", 1)[1]
    lines = [" ".join(x.split()) for x in re.split(r"^\s*- ", body, flags=re.M) if x.strip()]
    lines = [f"- {x}" for x in lines]
    assert len(lines) == 2
    assert lines[0].startswith("- uz-csto-talks Uzbek officials discuss returning to the CSTO "
                               "(lowered the evidence track's mean log score by 0.")
    assert lines[1] == ("- csto-border-drills CSTO drills near the Afghan border "
                        "(2 of 3 reviewed sightings dismissed)")
    assert "2 of 3 reviewed sightings dismissed" in html


def test_history_shows_silence_steps(tracker: Tracker) -> None:
    tracker.scenarios.write_text(tracker.scenarios.read_text(encoding="utf-8").replace(
        "{id: deploys, label: Collective deployment, prior: 0.2}",
        "{id: deploys, label: Collective deployment, prior: 0.2, "
        "event: [csto-border-drills]}"), encoding="utf-8")
    tracker.ok("init")
    rows = as_json(tracker, "history", "csto-response")["forecasts"]
    silence = [r for r in rows if r["source"] == "silence"]
    # A week after opens (2021-07-09) and weekly since, never past today.
    assert silence[0]["at"] == "2021-07-16T00:00:00Z"
    assert silence[0]["note"] == "1 week without a sighting of deploys"
    closes_at = datetime(2027, 1, 1, tzinfo=UTC)
    f = (closes_at - datetime(2021, 7, 16, tzinfo=UTC)) / (closes_at - OPENS)
    assert silence[0]["factor"] == {"deploys": pytest.approx(f), "drills": 1.0, "nothing": 1.0}
    assert silence[0]["probabilities"] == pytest.approx(
        norm({"deploys": 0.2 * f, "drills": 0.5, "nothing": 0.3}), abs=1e-12)
    assert datetime.fromisoformat(silence[-1]["at"]) <= datetime.now(UTC)
    assert len(silence) == (datetime.now(UTC) - OPENS).days // 7
    table = tracker.ok("history", "csto-response").output
    assert "silence    deploys=" in table and "2 weeks without a sighting of deploys" in table
    assert rows[-1] == silence[-1]
    assert as_json(tracker, "show", "csto-response")["probabilities"] == pytest.approx(
        rows[-1]["probabilities"], abs=1e-15)


def test_an_unconfirmed_reveal_slows_the_decay_and_a_review_settles_it(tracker: Tracker) -> None:
    """docs/model.md §3 through the database and the CLI: an auto sighting of a revealing
    indicator halves the power of its scenario's decay (w = 0.5), confirming it stops the
    decay from its observed time, dismissing it gives the full decay back; each state checked
    against the independent numpy computation."""
    tracker.scenarios.write_text(tracker.scenarios.read_text(encoding="utf-8").replace(
        "{id: deploys, label: Collective deployment, prior: 0.2}",
        "{id: deploys, label: Collective deployment, prior: 0.2, "
        "event: [csto-border-drills]}"), encoding="utf-8")
    tracker.ok("init")
    seen = datetime(2021, 8, 1, 12, tzinfo=UTC)
    engine = make_engine(tracker.db_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            item = add_evidence(session, "csto-response", "csto-border-drills",
                                title="CSTO drills near the Afghan border", at=seen).id
    finally:
        engine.dispose()
    drills = {"deploys": 0.8, "drills": 0.9, "nothing": 0.1}
    prior = {"deploys": 0.2, "drills": 0.5, "nothing": 0.3}
    closes_at = datetime(2027, 1, 1, tzinfo=UTC)

    def independent(weight: float | None, cut: datetime) -> dict[str, float]:
        evidence = () if weight is None else (
            EvidencePoint(item, "csto-border-drills", seen, drills, weight),)
        log = QuestionLog(("deploys", "drills", "nothing"), prior, OPENS, evidence=evidence,
                          closes_at=closes_at, events={"deploys": ("csto-border-drills",)})
        return dict(zip(log.scenarios, numpy_forecast(log, cut), strict=True))

    def rows() -> list[dict[str, Any]]:
        return as_json(tracker, "history", "csto-response")["forecasts"]

    auto = rows()
    after = [r for r in auto if r["source"] == "silence" and r["at"] > "2021-08-01T12"]
    # Aug 6, four weeks after opens: the decay since Jul 30 at power 0.5.
    assert after[0]["at"] == "2021-08-06T00:00:00Z"
    f = (closes_at - datetime(2021, 8, 6, tzinfo=UTC)) / (closes_at - datetime(2021, 7, 30,
                                                                                 tzinfo=UTC))
    assert after[0]["factor"] == {"deploys": pytest.approx(f ** 0.5, abs=1e-15),
                                  "drills": 1.0, "nothing": 1.0}
    assert after[0]["note"] == ("4 weeks without a sighting of deploys "
                                "(sighted, not confirmed: decay at power 0.5)")
    last = auto[-1]
    cut = datetime.fromisoformat(last["at"]) + timedelta(microseconds=1)
    assert last["probabilities"] == pytest.approx(independent(0.5, cut), abs=1e-12)

    tracker.ok("evidence", "confirm", str(item))
    confirmed = rows()
    assert not [r for r in confirmed if r["source"] == "silence" and r["at"] > "2021-08-01T12"]
    assert confirmed[-1]["source"] == "evidence"
    cut = seen + timedelta(microseconds=1)
    assert confirmed[-1]["probabilities"] == pytest.approx(independent(1.0, cut), abs=1e-12)

    tracker.ok("evidence", "dismiss", str(item))
    dismissed = rows()
    assert "evidence" not in {r["source"] for r in dismissed}
    later = [r for r in dismissed if r["source"] == "silence" and r["at"] > "2021-08-01T12"]
    assert later[0]["note"] == "4 weeks without a sighting of deploys"
    assert later[0]["factor"]["deploys"] == pytest.approx(f, abs=1e-15)
    cut = datetime.fromisoformat(dismissed[-1]["at"]) + timedelta(microseconds=1)
    assert dismissed[-1]["probabilities"] == pytest.approx(independent(None, cut), abs=1e-12)


# --- an archive flood of the shipped question ------------------------------------------------

FLOOD = 130
FIRST = datetime(2021, 7, 15, 12, tzinfo=UTC)


def flood_feed() -> bytes:
    """130 entries 15 days apart (a cooldown is 14 days), all sighting uz-csto-talks."""
    items = "".join(
        f"<item><title>Tashkent officials discuss a return to the CSTO ({k})</title>"
        f"<guid>archive-{k}</guid><link>https://news.example/uz/{k}</link>"
        f"<pubDate>{format_datetime(FIRST + timedelta(days=15 * k))}</pubDate></item>"
        for k in range(FLOOD))
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>archive</title>'
            f"{items}</channel></rss>").encode()


@pytest.fixture
def shipped(db_url: str, tmp_path: Path) -> Iterator[tuple[Tracker, dict[str, Any]]]:
    """The shipped scenarios with one local feed serving the flood, after `tracker init`
    without the shipped record (no analyst: the flood alone moves the questions)."""
    spec = yaml.safe_load((REPO / "scenarios.yaml").read_text(encoding="utf-8"))
    with FeedServer() as server:
        server.set("/archive.xml", flood_feed())
        spec["feeds"] = [{"id": "archive", "url": server.url("/archive.xml")}]
        path = tmp_path / "scenarios.yaml"
        path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
        t = Tracker(db_url, path)
        t.ok("init", "--no-record")
        yield t, spec


def shipped_log(t: Tracker, spec: dict[str, Any]) -> QuestionLog:
    """uzbekistan-rejoins rebuilt from the YAML and the commands' JSON, not from the core."""
    q = next(q for q in spec["questions"] if q["id"] == "uzbekistan-rejoins")
    likelihood = {i["id"]: i["likelihood"] for i in q["indicators"]}
    evidence = tuple(
        EvidencePoint(e["id"], e["indicator"], datetime.fromisoformat(e["observed_at"]),
                      likelihood[e["indicator"]], 0.5)  # auto, no review: auto_weight
        for e in as_json(t, "evidence", "uzbekistan-rejoins")["evidence"])
    events = {s["id"]: tuple(s["event"]) for s in q["scenarios"]
              if isinstance(s.get("event"), list)}
    return QuestionLog(tuple(s["id"] for s in q["scenarios"]),
                       {s["id"]: s["prior"] for s in q["scenarios"]}, OPENS, evidence=evidence,
                       closes_at=datetime(2028, 1, 1, tzinfo=UTC), events=events)


def test_an_archive_flood_moves_the_question_by_at_most_the_stated_bound(
    shipped: tuple[Tracker, dict[str, Any]]
) -> None:
    t, spec = shipped
    poll = as_json(t, "poll", "--all")
    assert poll["new_evidence"] == FLOOD
    rows = as_json(t, "history", "uzbekistan-rejoins")["forecasts"]
    flood = [r for r in rows if r["source"] == "evidence"]
    assert len(flood) == FLOOD and {r["indicator"] for r in flood} == {"uz-csto-talks"}
    last = datetime.fromisoformat(flood[-1]["at"])
    assert last == FIRST + timedelta(days=15 * (FLOOD - 1))
    log = shipped_log(t, spec)
    with_flood = numpy_forecast(log, last + timedelta(microseconds=1))
    quiet = QuestionLog(log.scenarios, log.prior, OPENS, closes_at=log.closes_at,
                        events=log.events)
    without = numpy_forecast(quiet, last + timedelta(microseconds=1))
    names = list(log.scenarios)
    # Exactly what the rule gives, by the independent computation ...
    for i, s in enumerate(names):
        assert flood[-1]["probabilities"][s] == pytest.approx(float(with_flood[i]), abs=1e-12)
    # ... and within the bound of docs/model.md: 130 auto sightings, each right with
    # probability 0.5, have powers E = 1 + 0.5 + ... + 0.5^129 < 2 in all, so they multiply
    # the odds of rejoins against stays-out by ((0.5·0.9 + 0.5) / (0.5·0.3 + 0.5))^E =
    # (19/13)^E < 2.137, and never by more than (0.9 / 0.3)^2 = 9 however many or confirmed;
    # observer-or-partner's odds by (17/13)^E < 1.711.
    total = sum(0.5 ** k for k in range(FLOOD))
    r, o, s = (names.index(x) for x in ("rejoins", "observer-or-partner", "stays-out"))
    got = flood[-1]["probabilities"]
    odds = (got["rejoins"] / got["stays-out"]) / (without[r] / without[s])
    assert odds == pytest.approx((19 / 13) ** total, rel=1e-9)
    assert odds <= (19 / 13) ** 2 + 1e-9
    odds = (got["observer-or-partner"] / got["stays-out"]) / (without[o] / without[s])
    assert odds == pytest.approx((17 / 13) ** total, rel=1e-9)
    assert odds <= (17 / 13) ** 2 + 1e-9
    assert got["rejoins"] < 0.0786  # the stated maximum from the prior, unreviewed


def test_an_archive_flood_keeps_the_report_small(
    shipped: tuple[Tracker, dict[str, Any]]
) -> None:
    t, _ = shipped
    t.ok("poll", "--all")
    engine = make_engine(t.db_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            created = session.scalars(select(Evidence.created_at)).first()
            assert created is not None
            period = period_of(created, Settings())
            report = make_report(session, period, now=period_bounds(period, Settings())[1])
            html, text = report.html, report.text
            assert session.get(Question, "uzbekistan-rejoins") is not None
    finally:
        engine.dispose()
    assert len(html.encode("utf-8")) < 102_400
    description = "Uzbek officials discuss returning to the CSTO"
    text = " ".join(text.split())  # filled to 100 columns: phrases may span lines
    assert f"and {FLOOD - 3} more sightings of: {description}" in text
    assert f"and {FLOOD - 3} more sightings of: {description}" in html
    # the second sighting in words: the power 0.5 of docs/model.md
    assert ("(not reviewed yet: counted as right with probability 0.5; a repeat sighting: it "
            "counts 0.5 times as much as a first sighting of its indicator)"
            in " ".join(text.split())), text
    # listed three times (its matched terms marked in brackets), not 130
    plain = text.replace("[", "").replace("]", "")
    assert plain.count("Tashkent officials discuss a return to the CSTO") == 3
    # The folded line sums the changes of the sightings it folds (4th to 130th), from history.
    rows = as_json(t, "history", "uzbekistan-rejoins")["forecasts"]
    net = 0.0
    for before, row in zip(rows, rows[1:], strict=False):
        if row["source"] == "evidence" and row["at"] > "2021-08-28":
            net += row["probabilities"]["stays-out"] - before["probabilities"]["stays-out"]
    assert f"together: Uzbekistan stays outside {net * 100:+.1f} pts;" in text
