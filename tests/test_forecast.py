"""F(t) by DESIGN §5: worked examples with the arithmetic written out, and properties."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracker.forecast import (
    EvidencePoint,
    ManualPoint,
    QuestionLog,
    forecast_at,
    forecasts_before,
    history,
    manual_update,
)

OPENS = datetime(2021, 7, 9, tzinfo=UTC)


def day(n: int, hour: int = 12) -> datetime:
    """Noon (or `hour`) of the n-th day after opens."""
    return OPENS + timedelta(days=n, hours=hour)


def ev(id: int, at: datetime, likelihood: dict[str, float], weight: float = 1.0,
       indicator: str = "ind") -> EvidencePoint:
    return EvidencePoint(id, indicator, at, likelihood, weight)


def approx(p: dict[str, float], expected: dict[str, float]) -> None:
    assert p.keys() == expected.keys()
    for s in p:
        assert p[s] == pytest.approx(expected[s], abs=1e-12), s


TWO = ("rejoins", "stays-out")
THREE = ("deploys", "drills", "nothing")


def test_two_scenarios_auto_evidence_is_weighted_by_auto_weight():
    log = QuestionLog(TWO, {"rejoins": 0.04, "stays-out": 0.96}, OPENS,
                      evidence=(ev(1, day(3), {"rejoins": 0.9, "stays-out": 0.2}, 0.5),))
    # Right with probability 0.5, else saying nothing (docs/model.md §2):
    # p ∝ (0.04 · (0.5·0.9 + 0.5), 0.96 · (0.5·0.2 + 0.5)) = (0.038, 0.576); sum 0.614
    a, b = 0.04 * 0.95, 0.96 * 0.6
    approx(forecast_at(log, day(4)), {"rejoins": a / (a + b), "stays-out": b / (a + b)})
    assert forecast_at(log, day(4))["rejoins"] == pytest.approx(0.061889, abs=1e-6)
    # Before the evidence, the prior.
    assert forecast_at(log, day(2)) == {"rejoins": 0.04, "stays-out": 0.96}


def test_three_scenarios_confirmed_evidence_applies_in_full():
    prior = {"deploys": 0.2, "drills": 0.5, "nothing": 0.3}
    lk = {"deploys": 0.8, "drills": 0.9, "nothing": 0.1}
    log = QuestionLog(THREE, prior, OPENS, evidence=(ev(1, day(1), lk),))
    # (0.2·0.8, 0.5·0.9, 0.3·0.1) = (0.16, 0.45, 0.03); sum 0.64
    approx(forecast_at(log, day(2)),
           {"deploys": 0.16 / 0.64, "drills": 0.45 / 0.64, "nothing": 0.03 / 0.64})
    approx(forecast_at(log, day(2)), {"deploys": 0.25, "drills": 0.703125, "nothing": 0.046875})
    # A second confirmed sighting of the same indicator counts at δ^1 = 0.5 (docs/model.md):
    # (0.25·√0.8, 0.703125·√0.9, 0.046875·√0.1) = (0.223607, 0.667043, 0.014823)
    log2 = QuestionLog(THREE, prior, OPENS, evidence=(ev(1, day(1), lk), ev(2, day(5), lk)))
    raw = {"deploys": 0.25 * 0.8 ** 0.5, "drills": 0.703125 * 0.9 ** 0.5,
           "nothing": 0.046875 * 0.1 ** 0.5}
    approx(forecast_at(log2, day(6)), {s: v / sum(raw.values()) for s, v in raw.items()})


def test_dismissed_evidence_is_absent_and_auto_weaker_than_confirmed():
    prior = {"deploys": 0.2, "drills": 0.5, "nothing": 0.3}
    lk = {"deploys": 0.8, "drills": 0.9, "nothing": 0.1}
    # A dismissed item never enters the log (tracker.ledger.question_log filters it).
    assert forecast_at(QuestionLog(THREE, prior, OPENS), day(9)) == prior
    auto = forecast_at(QuestionLog(THREE, prior, OPENS, evidence=(ev(1, day(1), lk, 0.5),)),
                       day(2))
    # Auto, w = 0.5: (0.2·0.9, 0.5·0.95, 0.3·0.55) = (0.18, 0.475, 0.165)
    raw = {"deploys": 0.2 * 0.9, "drills": 0.5 * 0.95, "nothing": 0.3 * 0.55}
    total = sum(raw.values())
    approx(auto, {s: v / total for s, v in raw.items()})
    assert 0.046875 < auto["nothing"] < 0.3  # between the confirmed update and the prior


def test_the_floor_raises_a_scenario_then_normalizes_again():
    log = QuestionLog(TWO, {"rejoins": 0.01, "stays-out": 0.99}, OPENS, floor=0.001,
                      evidence=(ev(1, day(1), {"rejoins": 0.001, "stays-out": 1.0}),))
    # p·L = (0.00001, 0.99) → normalized (0.0000101, 0.9999899); the floor lifts rejoins to
    # 0.001: (0.001, 0.9999899), sum 1.0009899 → (0.000999011, 0.999000989)
    low = 0.00001 / 0.99001
    lifted = {"rejoins": 0.001, "stays-out": 1 - low}
    total = sum(lifted.values())
    approx(forecast_at(log, day(2)), {s: v / total for s, v in lifted.items()})
    assert forecast_at(log, day(2))["rejoins"] == pytest.approx(0.000999011, abs=1e-9)


def test_a_manual_forecast_cuts_the_evidence_chain():
    lk = {"rejoins": 0.9, "stays-out": 0.2}
    manual = ManualPoint(day(20), {"rejoins": 0.5, "stays-out": 0.5}, "ana", "talks resumed")
    log = QuestionLog(TWO, {"rejoins": 0.04, "stays-out": 0.96}, OPENS, manual=(manual,),
                      evidence=(ev(1, day(10), lk), ev(2, day(20), lk), ev(3, day(30), lk)))
    # Before the manual forecast: the prior with evidence 1: (0.036, 0.192) / 0.228
    approx(forecast_at(log, day(15)), {"rejoins": 0.036 / 0.228, "stays-out": 0.192 / 0.228})
    # From it on: exactly the manual vector; evidence 2 (same instant) and 1 are not applied.
    assert forecast_at(log, day(20)) == {"rejoins": 0.5, "stays-out": 0.5}
    # Evidence 3 on top of it, the indicator's third item after opens (k = 2, counted whatever
    # the baseline): exponent 0.5² = 0.25, (0.5·0.9^0.25, 0.5·0.2^0.25) normalized
    a, b = 0.9 ** 0.25, 0.2 ** 0.25
    approx(forecast_at(log, day(31)), {"rejoins": a / (a + b), "stays-out": b / (a + b)})
    assert [p.source for p in history(log)] == ["prior", "evidence", "manual", "evidence"]
    assert [p.evidence for p in history(log)] == [(), (1,), (), (3,)]
    assert history(log)[2].by == "ana" and history(log)[2].note == "talks resumed"


def test_evidence_before_opens_is_kept_but_never_applied():
    lk = {"rejoins": 0.9, "stays-out": 0.2}
    log = QuestionLog(TWO, {"rejoins": 0.04, "stays-out": 0.96}, OPENS,
                      evidence=(ev(1, OPENS - timedelta(days=3), lk), ev(2, OPENS, lk)))
    assert forecast_at(log, day(100)) == {"rejoins": 0.04, "stays-out": 0.96}
    assert [p.source for p in history(log)] == ["prior"]


def test_a_backdated_manual_forecast_takes_later_evidence_on_top():
    lk = {"rejoins": 0.9, "stays-out": 0.2}
    # Recorded after evidence 1 was seen, but backdated before it: evidence 1 now applies
    # to the manual vector: (0.1·0.9, 0.9·0.2) = (0.09, 0.18) / 0.27
    backdated = ManualPoint(day(5), {"rejoins": 0.1, "stays-out": 0.9}, "ana", "late entry")
    log = QuestionLog(TWO, {"rejoins": 0.04, "stays-out": 0.96}, OPENS, manual=(backdated,),
                      evidence=(ev(1, day(8), lk),))
    approx(forecast_at(log, day(9)), {"rejoins": 0.09 / 0.27, "stays-out": 0.18 / 0.27})
    assert [p.source for p in history(log)] == ["prior", "manual", "evidence"]


def test_after_resolution_f_is_the_outcome():
    log = QuestionLog(THREE, {"deploys": 0.2, "drills": 0.5, "nothing": 0.3}, OPENS,
                      resolved_to="drills", resolved_at=day(50))
    assert forecast_at(log, day(50)) == {"deploys": 0.0, "drills": 1.0, "nothing": 0.0}
    assert forecast_at(log, day(49))["drills"] == 0.5
    assert history(log)[-1].source == "resolution"


def test_manual_update_shares_what_is_left_in_proportion():
    current = {"deploys": 0.2, "drills": 0.5, "nothing": 0.3}
    # drills = 0.6; the rest 0.4 shared 0.2 : 0.3 → 0.16, 0.24
    approx(manual_update(current, {"drills": 0.6}),
           {"deploys": 0.16, "drills": 0.6, "nothing": 0.24})
    # Every scenario named (within the 0.001 tolerance): the values stand exactly as given.
    named = {"deploys": 0.3334, "drills": 0.3333, "nothing": 0.3334}
    assert manual_update(current, named) == named
    approx(manual_update({"a": 0.0, "b": 0.0, "c": 1.0}, {"c": 0.4}),
           {"a": 0.3, "b": 0.3, "c": 0.4})


# --- properties -------------------------------------------------------------------------

SCENARIOS = ("s0", "s1", "s2", "s3")


@st.composite
def logs(draw: st.DrawFn) -> QuestionLog:
    """A random question log: 2-4 scenarios, manual forecasts, evidence around `opens`."""
    n = draw(st.integers(2, 4))
    names = SCENARIOS[:n]
    unit = st.floats(0.01, 1.0)
    prior_raw = [draw(unit) for _ in names]
    prior = {s: v / sum(prior_raw) for s, v in zip(names, prior_raw, strict=True)}
    minutes = st.integers(-3 * 1440, 60 * 1440)
    manual = []
    for _ in range(draw(st.integers(0, 3))):
        raw = [draw(st.floats(0.0, 1.0)) for _ in names]
        if sum(raw) == 0:
            raw[0] = 1.0
        vector = {s: v / sum(raw) for s, v in zip(names, raw, strict=True)}
        at = OPENS + timedelta(minutes=abs(draw(minutes)))
        manual.append(ManualPoint(at, vector))
    evidence = []
    for i in range(draw(st.integers(0, 12))):
        lk = {s: draw(st.floats(0.001, 1.0)) for s in names}
        # Coarse times so that ties (same instant, same or other indicator) happen.
        at = OPENS + timedelta(hours=draw(minutes) // 600)
        evidence.append(ev(i + 1, at, lk, draw(st.sampled_from([0.5, 1.0])),
                           draw(st.sampled_from(["ind-a", "ind-b"]))))
    # Distinct manual times: two at one instant are ordered by recording, not by content.
    manual = list({m.at: m for m in manual}.values())
    floor = draw(st.sampled_from([0.0, 0.001, 0.01]))
    return QuestionLog(names, prior, OPENS, tuple(manual), tuple(evidence), floor)


PROBES = [OPENS + timedelta(hours=h) for h in range(-24, 61 * 24, 37)]


@settings(max_examples=150, deadline=None)
@given(logs())
def test_every_forecast_sums_to_one(log: QuestionLog):
    for t in PROBES:
        for manual in (True, False):
            for evidence in (True, False):
                p = forecast_at(log, t, manual=manual, evidence=evidence)
                assert math.fsum(p.values()) == pytest.approx(1, abs=1e-9)
                assert all(v >= 0 for v in p.values())


@settings(max_examples=150, deadline=None)
@given(logs())
def test_evidence_never_takes_a_scenario_under_the_floor(log: QuestionLog):
    # §5 normalizes again after raising to the floor, so a floored scenario ends at
    # floor / Σ max(p, floor) ≥ floor / (1 + n·floor): under the floor by that factor at most.
    bound = log.floor / (1 + len(log.scenarios) * log.floor)
    for point in history(log):
        if point.source == "evidence":
            assert min(point.probabilities.values()) >= bound - 1e-15


@settings(max_examples=150, deadline=None)
@given(logs())
def test_the_one_pass_series_equals_f_from_scratch(log: QuestionLog):
    for manual in (True, False):
        for evidence in (True, False):
            walked = forecasts_before(log, PROBES, manual=manual, evidence=evidence)
            for cutoff, p in zip(PROBES, walked, strict=True):
                # "Strictly before the cutoff" is "at or before" one microsecond earlier.
                just_before = cutoff - timedelta(microseconds=1)
                assert p == forecast_at(log, just_before, manual=manual, evidence=evidence)


@settings(max_examples=150, deadline=None)
@given(logs(), st.randoms(use_true_random=False))
def test_the_order_of_ingestion_does_not_matter(log: QuestionLog, rnd: random.Random):
    manual, evidence = list(log.manual), list(log.evidence)
    rnd.shuffle(manual)
    rnd.shuffle(evidence)
    shuffled = QuestionLog(log.scenarios, log.prior, log.opens_at, tuple(manual),
                           tuple(evidence), log.floor)
    for t in PROBES:
        assert forecast_at(shuffled, t) == forecast_at(log, t)
    assert history(shuffled) == history(log)


@settings(max_examples=100, deadline=None)
@given(logs())
def test_history_ends_at_the_forecast_in_force(log: QuestionLog):
    end = OPENS + timedelta(days=400)
    assert history(log)[-1].probabilities == forecast_at(log, end)
