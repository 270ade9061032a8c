"""The model of docs/model.md: worked examples of reliability, repeat decay and silence, each
checked by hand and against the independent numpy computation of tests/test_scores.py; the
properties; validation of `event:` and the new settings."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import SMALL_YAML
from tests.test_scores import numpy_forecast
from tracker.errors import ValidationError
from tracker.forecast import (
    EvidencePoint,
    ManualPoint,
    QuestionLog,
    Weight,
    forecast_at,
    history,
    reliability,
    weights,
)
from tracker.scenarios import parse_scenarios

OPENS = datetime(2021, 1, 1, tzinfo=UTC)   # a question opening on 2021-01-01 ...
CLOSES = datetime(2021, 3, 1, tzinfo=UTC)  # ... and closing on 2021-02-28: the grid is
GRID = [datetime(2021, 1, d, tzinfo=UTC) for d in (8, 15, 22, 29)] + [
    datetime(2021, 2, d, tzinfo=UTC) for d in (5, 12, 19, 26)] + [CLOSES]
ABC = ("a", "b", "c")
PRIOR = {"a": 0.2, "b": 0.3, "c": 0.5}
LX = {"a": 0.9, "b": 0.5, "c": 0.3}
LY = {"a": 0.4, "b": 0.8, "c": 0.6}
US = timedelta(microseconds=1)


def jan(day: int, hour: int = 0) -> datetime:
    return datetime(2021, 1, day, hour, tzinfo=UTC)


def norm(p: dict[str, float]) -> dict[str, float]:
    total = sum(p.values())
    return {s: v / total for s, v in p.items()}


def times(p: dict[str, float], f: dict[str, float]) -> dict[str, float]:
    return {s: p[s] * f.get(s, 1.0) for s in p}


def silent(**kw: object) -> QuestionLog:
    """a is an event revealed by indicator x, b an event nothing reveals, c not an event."""
    return QuestionLog(ABC, PRIOR, OPENS, closes_at=CLOSES, events={"a": ("x",), "b": ()},
                       **kw)  # type: ignore[arg-type]


def check(log: QuestionLog, t: datetime, expected: dict[str, float]) -> None:
    """F(t) is `expected` (worked out by hand) and the numpy computation agrees."""
    got = forecast_at(log, t)
    independent = numpy_forecast(log, t + US)
    for i, s in enumerate(log.scenarios):
        assert got[s] == pytest.approx(expected[s], abs=1e-12), s
        assert got[s] == pytest.approx(float(independent[i]), abs=1e-12), s


# --- reliability and repeat decay --------------------------------------------------------


def test_reliability_is_the_posterior_mean_of_a_beta_prior():
    assert reliability(0, 0, 0.5, 4) == 0.5                 # no review: auto_weight
    assert reliability(3, 1, 0.5, 4) == (2 + 3) / (4 + 4)   # 0.625
    assert reliability(0, 9, 0.5, 4) == 2 / 13              # dismissed nine times: 0.154
    assert reliability(9, 0, 0.5, 4) == 11 / 13             # confirmed nine times: 0.846
    assert reliability(1, 1, 0.3, 10) == (3 + 1) / 12


def test_repeat_decay_halves_each_further_sighting_of_one_indicator():
    ev = (EvidencePoint(1, "x", jan(2), LX, 1.0), EvidencePoint(2, "x", jan(3), LX, 1.0),
          EvidencePoint(3, "x", jan(4), LX, 1.0), EvidencePoint(4, "y", jan(3, 6), LY, 0.4),
          # Before opens and at opens: never applied, and not counted as earlier sightings.
          EvidencePoint(5, "x", OPENS - timedelta(days=1), LX, 1.0),
          EvidencePoint(6, "x", OPENS, LX, 1.0))
    log = QuestionLog(ABC, PRIOR, OPENS, evidence=ev)
    assert weights(log) == {1: Weight(1.0, 1.0), 2: Weight(1.0, 0.5), 3: Weight(1.0, 0.25),
                            4: Weight(0.4, 1.0), 5: Weight(0.0, 0.0), 6: Weight(0.0, 0.0)}
    # The four steps multiply out (the floor never binds): prior · Lx^1.75 · (0.4·Ly + 0.6)
    expected = norm({s: PRIOR[s] * LX[s] ** 1.75 * (0.4 * LY[s] + 0.6) for s in ABC})
    check(log, jan(5), expected)
    rows = history(log)
    assert [r.evidence for r in rows[1:]] == [(1,), (2,), (4,), (3,)]
    assert rows[2].factor == pytest.approx({s: LX[s] ** 0.5 for s in ABC})


def test_a_flood_moves_uzbekistan_rejoins_at_most_as_far_as_two_confirmed_sightings():
    """docs/model.md's bound for uz-csto-talks: from the prior (4, 6, 90 %) no flood takes
    rejoins past 0.0324 / 0.1428 = 22.689 %."""
    prior = {"rejoins": 0.04, "observer-or-partner": 0.06, "stays-out": 0.90}
    lk = {"rejoins": 0.9, "observer-or-partner": 0.7, "stays-out": 0.3}
    limit = {s: prior[s] * lk[s] ** 2 for s in prior}
    limit = norm(limit)
    assert limit["rejoins"] == pytest.approx(0.0324 / 0.1428, abs=1e-15)
    flood = tuple(EvidencePoint(i, "uz-csto-talks", OPENS + timedelta(hours=1 + i), lk, 1.0)
                  for i in range(130))
    log = QuestionLog(tuple(prior), prior, OPENS, evidence=flood,
                      closes_at=OPENS + timedelta(days=2000),
                      events={"rejoins": ("uz-csto-formal-step",),
                              "observer-or-partner": ("uz-csto-observer-status",)})
    after = forecast_at(log, OPENS + timedelta(days=6))
    independent = numpy_forecast(log, OPENS + timedelta(days=6))
    assert after["rejoins"] <= limit["rejoins"] + 1e-12
    assert after["stays-out"] >= limit["stays-out"] - 1e-12
    for i, s in enumerate(prior):
        assert after[s] == pytest.approx(float(independent[i]), abs=1e-12)
        assert after[s] == pytest.approx(limit[s], abs=1e-9)  # 130 items: the limit itself


# --- silence --------------------------------------------------------------------------------


def test_silence_decays_event_scenarios_week_by_week():
    log = silent()
    # Nothing moves before the first week has passed.
    assert forecast_at(log, GRID[0] - US) == PRIOR
    assert forecast_at(log, OPENS) == PRIOR
    # At Jan 8: a and b survive 7 of the 59 days left with probability (59 − 7) / 59.
    check(log, jan(8), norm(times(PRIOR, {"a": 52 / 59, "b": 52 / 59})))
    # At Jan 15 the steps telescope: 52/59 · 45/52 = 45/59 (the floor does not bind).
    check(log, jan(15), norm(times(PRIOR, {"a": 45 / 59, "b": 45 / 59})))
    rows = history(log, until=jan(16))
    assert [(r.source, r.at) for r in rows] == [("prior", OPENS), ("silence", GRID[0]),
                                              ("silence", GRID[1])]
    assert rows[1].note == "1 week without a sighting of a, b"
    assert rows[2].note == "2 weeks without a sighting of a, b"
    assert rows[2].factor == {"a": 45 / 52, "b": 45 / 52, "c": 1.0}


def test_a_manual_forecast_takes_over_the_clock():
    manual = ManualPoint(jan(11, 12), {"a": 0.4, "b": 0.4, "c": 0.2}, "ana", "new talks")
    log = silent(manual=(manual,))
    # Before it, the prior decayed on Jan 8: survive (C − Jan 8) / (C − Jan 1) = 52 / 59.
    check(log, jan(9), norm(times(PRIOR, {"a": 52 / 59, "b": 52 / 59})))
    # After it, the analyst's numbers stand: no silence step on Jan 15 or later.
    check(log, jan(14), {"a": 0.4, "b": 0.4, "c": 0.2})
    check(log, jan(15), {"a": 0.4, "b": 0.4, "c": 0.2})
    assert [r.source for r in history(log, until=jan(30))] == ["prior", "silence", "manual"]
    # The evidence track ignores the manual forecast: the prior decayed to 45/59.
    assert forecast_at(log, jan(15), manual=False) == pytest.approx(
        norm(times(PRIOR, {"a": 45 / 59, "b": 45 / 59})), abs=1e-12)
    # The analyst track has no silence.
    assert forecast_at(log, jan(15), evidence=False) == {"a": 0.4, "b": 0.4, "c": 0.2}


def test_a_revealing_sighting_stops_the_decay_of_its_scenario_only():
    log = silent(evidence=(EvidencePoint(1, "x", jan(17), LX, 1.0),))
    q = norm(times(PRIOR, {"a": 45 / 59, "b": 45 / 59}))   # after Jan 15
    r = norm(times(q, LX))                                # the sighting of x on Jan 17
    check(log, jan(21), r)
    # Jan 22: only b decays, from Jan 15 to Jan 22: (C − Jan 22) / (C − Jan 15) = 38 / 45.
    check(log, jan(22), norm(times(r, {"b": 38 / 45})))
    rows = history(log, until=jan(23))
    assert rows[-1].note == "3 weeks without a sighting of b"


def test_at_closes_an_unrevealed_event_reaches_the_floor():
    log = silent(floor=0.001)
    # At closes both events survive with probability 0; the floor lifts them to 0.001:
    # (0.001, 0.001, 1) / 1.002 whatever came before.
    check(log, CLOSES, {"a": 0.001 / 1.002, "b": 0.001 / 1.002, "c": 1 / 1.002})
    assert history(log, until=CLOSES)[-1].note == "closed without a sighting of a, b"
    assert len(history(log, until=CLOSES)) == 1 + len(GRID)
    # Revealed before: a keeps its weight at closes.
    seen = silent(evidence=(EvidencePoint(1, "x", jan(2), LX, 1.0),))
    assert forecast_at(seen, CLOSES)["a"] > 0.5


def test_a_resolution_cuts_the_silence_steps():
    at = datetime(2021, 2, 10, 12, tzinfo=UTC)
    log = silent(resolved_to="c", resolved_at=at)
    rows = history(log, until=CLOSES)
    assert [r.source for r in rows] == ["prior"] + ["silence"] * 5 + ["resolution"]
    assert rows[-2].at == GRID[4]
    check(log, at - US, norm(times(PRIOR, {"a": 24 / 59, "b": 24 / 59})))
    assert forecast_at(log, at) == {"a": 0.0, "b": 0.0, "c": 1.0}


def test_at_one_instant_manual_comes_before_silence_and_silence_before_evidence():
    # A manual forecast exactly at a grid time comes first: no silence step then, or after.
    manual = ManualPoint(jan(15), {"a": 0.3, "b": 0.3, "c": 0.4})
    log = silent(manual=(manual,))
    check(log, jan(15), {"a": 0.3, "b": 0.3, "c": 0.4})
    check(log, jan(22), {"a": 0.3, "b": 0.3, "c": 0.4})
    assert [r.source for r in history(log, until=jan(22))] == [
        "prior", "silence", "manual"]
    # Evidence exactly at a grid time comes after that time's silence step.
    log = silent(evidence=(EvidencePoint(1, "y", jan(15), LY, 1.0),))
    rows = history(log, until=jan(15))
    assert [r.source for r in rows] == ["prior", "silence", "silence", "evidence"]
    decayed = norm(times(PRIOR, {"a": 45 / 59, "b": 45 / 59}))
    assert rows[2].probabilities == pytest.approx(decayed, abs=1e-12)
    check(log, jan(15), norm(times(decayed, LY)))
    # A revealing sighting at a grid time reveals at that time: its scenario does not decay.
    log = silent(evidence=(EvidencePoint(1, "x", jan(15), LX, 1.0),))
    step = history(log, until=jan(15))[2]
    assert step.factor == {"a": 1.0, "b": 45 / 52, "c": 1.0}


# --- properties ------------------------------------------------------------------------------


@st.composite
def quiet_logs(draw: st.DrawFn) -> QuestionLog:
    """Event scenarios, no evidence, at most one manual forecast at any instant."""
    n = draw(st.integers(2, 4))
    names = tuple(f"s{i}" for i in range(n))
    raw = [draw(st.floats(0.01, 1.0)) for _ in names]
    prior = {s: v / sum(raw) for s, v in zip(names, raw, strict=True)}
    closes = OPENS + timedelta(days=draw(st.integers(2, 400)))
    manual = ()
    if draw(st.booleans()):
        m = [draw(st.floats(0.01, 1.0)) for _ in names]
        at = OPENS + (closes - OPENS) * draw(st.floats(0, 1))
        manual = (ManualPoint(at, {s: v / sum(m) for s, v in zip(names, m, strict=True)}),)
    events = {s: () for s in names[: draw(st.integers(1, n - 1))]}
    return QuestionLog(names, prior, OPENS, manual, (), draw(st.sampled_from([0.0, 0.001])),
                       closes_at=closes, events=events)


@settings(max_examples=150, deadline=None)
@given(quiet_logs(), st.floats(0, 1))
def test_nothing_moves_before_time_passes(log: QuestionLog, fraction: float):
    """From a baseline to the next grid time F is the baseline, exactly."""
    start = log.manual[0].at if log.manual else OPENS
    base = dict(log.manual[0].probabilities) if log.manual else log.prior_vector()
    assert log.closes_at is not None
    weeks = math.floor((start - OPENS) / timedelta(days=7)) + 1
    following = min(OPENS + timedelta(days=7 * weeks), log.closes_at)
    for t in (start, start + (following - start) * fraction, following - US):
        if start <= t < following:
            assert forecast_at(log, t) == base


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 300), st.sampled_from([0.0, 0.25, 0.5, 0.75, 0.9]),
       st.lists(st.floats(0.01, 1.0), min_size=3, max_size=3),
       st.lists(st.floats(0.01, 1.0), min_size=1, max_size=300), st.integers(1, 5000))
def test_a_flood_never_moves_the_odds_past_the_bound(
    n: int, delta: float, likelihood: list[float], trusts: list[float], spacing: int
):
    lk = dict(zip(ABC, likelihood, strict=True))
    flood = tuple(EvidencePoint(i, "x", OPENS + timedelta(minutes=spacing * (i + 1)), lk,
                                trusts[i % len(trusts)]) for i in range(n))
    log = QuestionLog(ABC, PRIOR, OPENS, evidence=flood, floor=0.0, repeat_decay=delta)
    counted = weights(log)
    assert sum(w.repeat for w in counted.values()) <= 1 / (1 - delta)
    after = forecast_at(log, OPENS + timedelta(days=3650))
    for s in ABC:
        for t in ABC:
            moved = math.log(after[s] / after[t]) - math.log(PRIOR[s] / PRIOR[t])
            # Each item's factor ratio lies between 1 and L_s/L_t (the mixture is monotone
            # in w), and the powers sum below 1/(1 − δ): the bound of docs/model.md §2.
            assert abs(moved) <= abs(math.log(lk[s] / lk[t])) / (1 - delta) + 1e-9
            exact = sum(w.repeat * math.log((w.trust * lk[s] + 1 - w.trust)
                                            / (w.trust * lk[t] + 1 - w.trust))
                        for w in counted.values())
            assert moved == pytest.approx(exact, abs=1e-9)


# --- validation ------------------------------------------------------------------------------


def _with(old: str, new: str) -> str:
    assert old in SMALL_YAML, old
    return SMALL_YAML.replace(old, new, 1)


EVENT_REFUSALS = [
    ("an indicator of another question",
     _with("prior: 0.04}", "prior: 0.04, event: [csto-border-drills]}"),
     "'csto-border-drills' is not an indicator of this question", 13),
    ("every scenario an event",
     _with("prior: 0.04}", "prior: 0.04, event: true}").replace(
         "prior: 0.96}", "prior: 0.96, event: [uz-csto-talks]}"),
     "every scenario is an event", 14),
    ("not a list", _with("prior: 0.04}", "prior: 0.04, event: soon}"),
     "expected true, false or a non-empty list of indicator ids", 13),
    ("repeat_decay of 1", _with("floor: 0.001}", "floor: 0.001, repeat_decay: 1}"),
     "repeat_decay 1.0 outside [0, 1)", 3),
    ("reliability_strength of 0",
     _with("floor: 0.001}", "floor: 0.001, reliability_strength: 0}"),
     "reliability_strength 0.0 must be above 0", 3),
]


@pytest.mark.parametrize(("case", "text", "fragment", "line"), EVENT_REFUSALS,
                         ids=[r[0] for r in EVENT_REFUSALS])
def test_event_and_model_settings_are_validated(case: str, text: str, fragment: str,
                                                line: int) -> None:
    with pytest.raises(ValidationError) as info:
        parse_scenarios(text, "s.yaml")
    problems = "\n".join(info.value.problems)
    assert fragment in problems and f"s.yaml:{line}:" in problems, problems


def test_events_and_settings_are_read() -> None:
    spec = parse_scenarios(
        _with("prior: 0.04}", "prior: 0.04, event: [uz-csto-talks]}")
        .replace("{id: deploys, label: Collective deployment, prior: 0.2}",
                 "{id: deploys, label: Collective deployment, prior: 0.2, event: true}")
        .replace("floor: 0.001}", "floor: 0.001, repeat_decay: 0.25, reliability_strength: 2}"))
    assert [s.event for s in spec.questions[0].scenarios] == [("uz-csto-talks",), None]
    assert [s.event for s in spec.questions[1].scenarios] == [(), None, None]
    assert (spec.settings.repeat_decay, spec.settings.reliability_strength) == (0.25, 2.0)


def test_numpy_reference_is_not_the_code_under_test() -> None:
    """A guard: the reference computes silence from its own grid (np.ceil of weeks)."""
    log = silent()
    assert np.allclose(numpy_forecast(log, jan(8) + US), [
        norm(times(PRIOR, {"a": 52 / 59, "b": 52 / 59}))[s] for s in ABC])


def test_the_worked_example_of_docs_model_md():
    """The numbers printed in docs/model.md's worked example, to their six decimals."""
    r = reliability(0, 1, 0.5, 4)
    assert r == 0.4
    log = silent(evidence=(EvidencePoint(1, "x", jan(10), LX, r),
                           EvidencePoint(2, "x", jan(12), LX, r)))
    assert weights(log) == {1: Weight(0.4, 1.0), 2: Weight(0.4, 0.5)}
    rows = history(log, until=jan(15))
    printed = [(0.187387, 0.281081, 0.531532), (0.228446, 0.285557, 0.485997),
               (0.251037, 0.286456, 0.462507), (0.251189, 0.261297, 0.487513)]
    assert [r.source for r in rows[1:]] == ["silence", "evidence", "evidence", "silence"]
    for row, numbers in zip(rows[1:], printed, strict=True):
        assert tuple(round(row.probabilities[s], 6) for s in ABC) == numbers
    assert round(rows[-1].factor["a"], 6) == 0.949282
    assert rows[-1].note == ("2 weeks without a sighting of "
                             "a (sighted, not confirmed: decay at power 0.36), b")
    check(log, jan(15), rows[-1].probabilities)


def test_an_unconfirmed_reveal_slows_the_decay_and_a_confirmed_one_stops_it():
    """docs/model.md §3: each applied reveal before a grid time multiplies the power of its
    scenario's decay by (1 − w)."""
    auto = silent(evidence=(EvidencePoint(1, "x", jan(10), LX, 0.5),))
    mix = {s: 0.5 * LX[s] + 0.5 for s in ABC}
    q = norm(times(PRIOR, {"a": 52 / 59, "b": 52 / 59}))          # Jan 8: full decay
    r = norm(times(q, mix))                                       # Jan 10: x, auto, w = 0.5
    s = norm(times(r, {"a": (45 / 52) ** 0.5, "b": 45 / 52}))     # Jan 15: a at power 0.5
    check(auto, jan(15), s)
    assert history(auto, until=jan(15))[-1].factor == pytest.approx(
        {"a": (45 / 52) ** 0.5, "b": 45 / 52, "c": 1.0}, abs=1e-15)
    # A second auto reveal halves the power again; a confirmed one makes it 0: no decay.
    two = silent(evidence=(EvidencePoint(1, "x", jan(10), LX, 0.5),
                           EvidencePoint(2, "x", jan(11), LX, 0.5)))
    assert history(two, until=jan(15))[-1].factor["a"] == pytest.approx((45 / 52) ** 0.25)
    sure = silent(evidence=(EvidencePoint(1, "x", jan(10), LX, 0.5),
                            EvidencePoint(2, "x", jan(11), LX, 1.0)))
    assert history(sure, until=jan(15))[-1].factor["a"] == 1.0
    for log in (auto, two, sure):
        got = forecast_at(log, jan(22))
        independent = numpy_forecast(log, jan(22) + US)
        for i, name in enumerate(ABC):
            assert got[name] == pytest.approx(float(independent[i]), abs=1e-12)
    # At closes an event revealed only by unconfirmed sightings still survives with
    # probability 0 to any positive power: the floor.
    assert forecast_at(auto, CLOSES)["a"] == pytest.approx(0.001 / 1.002, abs=1e-12)
