"""tracker resolve, score and scores through the CLI, on every backend."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from tests.conftest import snapshot
from tracker.db import make_engine, make_sessionmaker, transaction
from tracker.models import Evidence, Forecast


def add_evidence(db_url: str, indicator: str, question: str, observed: datetime,
                 state: str) -> int:
    """An evidence item as the poller leaves it (hits do not enter §5)."""
    engine = make_engine(db_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            item = Evidence(question_id=question, indicator_id=indicator, observed_at=observed,
                            state=state, created_at=observed)
            session.add(item)
            session.flush()
            return item.id
    finally:
        engine.dispose()


def show(t, question: str) -> dict:
    return json.loads(t.ok("show", question, "--json").output)


@pytest.mark.parametrize("args, message", [
    (["csto-response", "bogus"], "valid scenarios: deploys, drills, nothing"),
    (["no-such-question", "drills"], "unknown question"),
    (["csto-response", "drills", "--at", "2021-07-08T23:59:59Z"], "before the question opens"),
    (["csto-response", "drills", "--at", "2999-01-01"], "in the future"),
    (["csto-response", "drills", "--at", "yesterday"], "bad time"),
])
def test_refusals_exit_2_and_leave_the_database_unchanged(initialized, args, message):
    initialized.refused("resolve", *args, message=message)


def test_a_question_resolves_once(initialized):
    initialized.ok("resolve", "csto-response", "drills", "--at", "2024-03-01", "--note", "done")
    initialized.refused("resolve", "csto-response", "deploys", message="already resolved to drills")
    # And it takes no more manual forecasts.
    assert initialized("update", "csto-response", "drills=0.2", "--note", "x").exit_code == 2


def test_resolve_stores_the_outcome_and_shows_it(initialized):
    result = initialized.ok("resolve", "csto-response", "drills", "--at", "2024-03-01T10:00Z",
                            "--note", "only exercises", "--by", "ana")
    assert "resolved to drills at 2024-03-01T10:00:00Z" in result.output
    assert "966 days" in result.output  # 2021-07-09 .. 2024-02-29
    data = show(initialized, "csto-response")
    assert data["status"] == "resolved" and data["resolved_to"] == "drills"
    assert data["probabilities"] == {"deploys": 0.0, "drills": 1.0, "nothing": 0.0}
    history = json.loads(initialized.ok("history", "csto-response", "--json").output)
    assert history["forecasts"][-1]["source"] == "resolution"
    assert history["forecasts"][-1]["at"] == "2024-03-01T10:00:00Z"
    engine = make_engine(initialized.db_url)
    with transaction(make_sessionmaker(engine)) as session:
        stored = session.scalars(select(Forecast).where(Forecast.source == "resolution")).one()
        assert (stored.author, stored.note) == ("ana", "only exercises")
        assert stored.probabilities == {"deploys": 0.0, "drills": 1.0, "nothing": 0.0}
    engine.dispose()


def test_score_recomputes_from_the_log_with_review_states(initialized):
    url = initialized.db_url
    lk = {"deploys": 0.8, "drills": 0.9, "nothing": 0.1}
    add_evidence(url, "csto-border-drills", "csto-response",
                 datetime(2021, 8, 5, tzinfo=UTC), "confirmed")
    add_evidence(url, "csto-border-drills", "csto-response",
                 datetime(2021, 9, 5, tzinfo=UTC), "dismissed")
    add_evidence(url, "csto-border-drills", "csto-response",
                 datetime(2021, 10, 5, tzinfo=UTC), "auto")
    add_evidence(url, "csto-border-drills", "csto-response",
                 datetime(2021, 7, 1, tzinfo=UTC), "confirmed")  # before opens: not applied
    out = json.loads(initialized.ok("score", "--json").output)
    current = {q["id"]: q["probabilities"] for q in out["questions"]}
    # Confirmed: (0.2·0.8, 0.5·0.9, 0.3·0.1) / 0.64 = (0.25, 0.703125, 0.046875);
    # dismissed: nothing; auto: right with the indicator's reliability from its 2 confirmed
    # and 1 dismissed items, (4·0.5 + 2) / (4 + 2 + 1) = 4/7, at power 0.5¹ for its second
    # applied item after opens (docs/model.md): p_s · (4/7·L_s + 3/7)^0.5, normalized.
    raw = {s: p * (4 / 7 * lk[s] + 3 / 7) ** 0.5 for s, p in
           {"deploys": 0.25, "drills": 0.703125, "nothing": 0.046875}.items()}
    expected = {s: v / sum(raw.values()) for s, v in raw.items()}
    assert current["csto-response"] == pytest.approx(expected, abs=1e-12)
    assert current["uzbekistan-rejoins"] == {"rejoins": 0.04, "stays-out": 0.96}
    assert show(initialized, "csto-response")["probabilities"] == current["csto-response"]
    # Idempotent: scoring again changes nothing.
    before = snapshot(url)
    again = json.loads(initialized.ok("score", "csto-response", "--json").output)
    assert again["questions"][0]["probabilities"] == current["csto-response"]
    assert {k: v for k, v in snapshot(url).items() if k != "questions"} == {
        k: v for k, v in before.items() if k != "questions"}
    assert "csto-response" in initialized.ok("score").output


def test_scores_json_for_a_resolved_question(initialized):
    initialized.ok("update", "uzbekistan-rejoins", "rejoins=0", "--note", "never",
                   "--at", "2021-07-09")
    initialized.ok("resolve", "uzbekistan-rejoins", "rejoins", "--at", "2021-07-12T06:00Z")
    data = json.loads(initialized.ok("scores", "--json").output)
    (q,) = data["questions"]
    assert (q["id"], q["resolved_to"], q["days"]) == ("uzbekistan-rejoins", "rejoins", 3)
    # The analyst said 0 for what happened: log is -inf, shown as null with a flag.
    assert q["tracks"]["analyst"]["log"] is None and q["tracks"]["analyst"]["log_infinite"]
    assert q["tracks"]["analyst"]["brier"] == pytest.approx(2.0)
    # Prior (0.04, 0.96) every day: Brier 0.96² · 2 = 1.8432, log ln 0.04
    assert q["tracks"]["prior"] == {"brier": pytest.approx(1.8432), "log": pytest.approx(
        math.log(0.04)), "log_infinite": False, "skill": 0.0}
    assert q["tracks"]["analyst"]["skill"] == pytest.approx(1 - 2.0 / 1.8432)
    assert [(b["low"], b["high"]) for b in data["calibration"]][::9] == [(0.0, 0.1), (0.9, 1.0)]
    assert sum(b["count"] for b in data["calibration"]) == 3 * 2
    table = initialized.ok("scores").output
    assert "uzbekistan-rejoins -> rejoins" in table and "-inf" in table


def test_scores_of_an_open_question_is_refused(initialized):
    result = initialized("scores", "csto-response")
    assert result.exit_code == 2 and "not resolved" in result.output
    assert "no resolved questions" in initialized.ok("scores").output
    assert json.loads(initialized.ok("scores", "--json").output)["questions"] == []


def test_times_on_the_terminal_are_to_the_second(initialized):
    """A resolution made now (no --at) printed its time with microseconds, in resolve and in
    scores; text output shows times to the second, as the README says."""
    said = initialized.ok("resolve", "csto-response", "drills", "--note", "over").output
    scores = initialized.ok("scores").output
    second = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
    assert re.search(rf"resolved to drills at {second}\n", said), said
    assert re.search(rf"\(resolved {second}\)", scores), scores
    assert not re.search(r"T\d\d:\d\d:\d\d\.\d+Z", said + scores)


def test_a_resolution_before_a_manual_forecast_is_refused(initialized):
    """History ends at the resolution: a manual forecast after it would vanish from
    `history` and the scores, so the resolution is refused until that forecast is voided."""
    initialized.ok("update", "csto-response", "deploys=0.3", "drills=0.6", "nothing=0.1",
                   "--note", "Kabul fell", "--at", "2022-01-01T12:00:00Z")
    initialized.refused("resolve", "csto-response", "drills", "--at", "2021-12-31",
                        "--note", "too early",
                        message="has a manual forecast at 2022-01-01T12:00:00Z, after this "
                                "resolution")
    rows = json.loads(initialized.ok("history", "csto-response", "--json").output)["forecasts"]
    manual = next(r for r in rows if r["source"] == "manual")
    initialized.ok("void", str(manual["id"]), "--note", "typed in the wrong question")
    initialized.ok("resolve", "csto-response", "drills", "--at", "2021-12-31",
                   "--note", "drills only")
    assert show(initialized, "csto-response")["resolved_to"] == "drills"


def test_a_retired_question_is_not_resolved(initialized):
    text = initialized.scenarios.read_text(encoding="utf-8")
    start = text.index("  - id: csto-response")
    initialized.scenarios.write_text(text[:start], encoding="utf-8")
    initialized.ok("sync")
    initialized.refused("resolve", "csto-response", "drills", "--note", "x",
                        message="csto-response is retired")


def test_a_long_author_is_bad_input_on_every_backend(initialized):
    initialized.refused("resolve", "csto-response", "drills", "--note", "x",
                        "--by", "a" * 201, message="201 characters: at most 200")
    initialized.refused("update", "csto-response", "drills=0.7", "--note", "x",
                        "--by", "a" * 201, message="at most 200")
    # blank is no name: the login name is used, as when --by is not given
    initialized.ok("update", "csto-response", "drills=0.7", "--note", "x", "--by", "   ")
    rows = json.loads(initialized.ok("history", "csto-response", "--json").output)["forecasts"]
    assert rows[-1]["by"].strip() != ""
