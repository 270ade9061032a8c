"""Scores by DESIGN §5: worked examples, and an independent numpy computation on generated
histories."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracker.forecast import EvidencePoint, ManualPoint, QuestionLog
from tracker.scores import calibration, score_days, score_question

OPENS = datetime(2021, 1, 1, tzinfo=UTC)


def at(d: int, hour: int) -> datetime:
    return datetime(2021, 1, d, hour, tzinfo=UTC)


def worked_log() -> QuestionLog:
    """Prior (0.5, 0.5); confirmed evidence on Jan 2 → (0.8, 0.2); manual (0.3, 0.7) on Jan 3;
    resolved to a at Jan 4 12:00, so the days are Jan 1, 2, 3."""
    return QuestionLog(
        ("a", "b"), {"a": 0.5, "b": 0.5}, OPENS,
        manual=(ManualPoint(at(3, 6), {"a": 0.3, "b": 0.7}, "ana", "doubts"),),
        evidence=(EvidencePoint(1, "ind", at(2, 10), {"a": 0.8, "b": 0.2}, 1.0),
                  # After R: never scored.
                  EvidencePoint(2, "ind", at(4, 18), {"a": 0.1, "b": 0.9}, 1.0)),
        resolved_to="a", resolved_at=at(4, 12),
    )


def test_worked_example_of_the_four_tracks():
    result = score_question(worked_log())
    assert result.days == (date(2021, 1, 1), date(2021, 1, 2), date(2021, 1, 3))
    t = result.tracks
    # tracker: (0.5,0.5) (0.8,0.2) (0.3,0.7): Brier 0.5, 0.08, 0.98 → mean 0.52
    assert t["tracker"].brier == pytest.approx((0.5 + 0.08 + 0.98) / 3)
    assert t["tracker"].log == pytest.approx((math.log(0.5) + math.log(0.8) + math.log(0.3)) / 3)
    # analyst: (0.5,0.5) (0.5,0.5) (0.3,0.7): mean (0.5 + 0.5 + 0.98) / 3 = 0.66
    assert t["analyst"].brier == pytest.approx(0.66)
    assert t["analyst"].log == pytest.approx((2 * math.log(0.5) + math.log(0.3)) / 3)
    # evidence: (0.5,0.5) (0.8,0.2) (0.8,0.2): mean (0.5 + 0.08 + 0.08) / 3 = 0.22
    assert t["evidence"].brier == pytest.approx(0.22)
    assert t["evidence"].log == pytest.approx((math.log(0.5) + 2 * math.log(0.8)) / 3)
    # prior: 0.5 every day
    assert t["prior"].brier == pytest.approx(0.5)
    # skill = 1 - Brier / 0.5
    assert t["tracker"].skill == pytest.approx(1 - 0.52 / 0.5)  # -0.04
    assert t["analyst"].skill == pytest.approx(1 - 0.66 / 0.5)  # -0.32
    assert t["evidence"].skill == pytest.approx(1 - 0.22 / 0.5)  # 0.56
    assert t["prior"].skill == 0


def test_worked_example_of_the_calibration_table():
    bins = calibration([score_question(worked_log())])
    # (forecast, outcome) pairs: a 0.5→1, 0.8→1, 0.3→1; b 0.5→0, 0.2→0, 0.7→0
    table = {(b.low, b.high): (b.count, b.mean_forecast, b.observed) for b in bins}
    assert len(bins) == 10 and bins[-1].high == 1.0
    assert table[(0.2, 0.3)] == (1, pytest.approx(0.2), 0.0)
    assert table[(0.3, 0.4)] == (1, pytest.approx(0.3), 1.0)
    assert table[(0.5, 0.6)] == (2, pytest.approx(0.5), 0.5)
    assert table[(0.7, 0.8)] == (1, pytest.approx(0.7), 0.0)
    assert table[(0.8, 0.9)] == (1, pytest.approx(0.8), 1.0)
    assert table[(0.0, 0.1)] == (0, None, None)
    assert sum(b.count for b in bins) == 6


def test_resolution_on_the_day_of_opens_scores_that_day_up_to_r():
    log = QuestionLog(
        ("a", "b"), {"a": 0.5, "b": 0.5}, OPENS,
        evidence=(EvidencePoint(1, "ind", at(1, 10), {"a": 0.8, "b": 0.2}, 1.0),
                  EvidencePoint(2, "ind", at(1, 19), {"a": 0.2, "b": 0.8}, 1.0)),
        resolved_to="b", resolved_at=at(1, 18),
    )
    result = score_question(log)
    assert result.days == (date(2021, 1, 1),)
    # F just before R: (0.8, 0.2); the 19:00 item comes after R. Brier 0.64 + 0.64 = 1.28
    assert result.tracks["tracker"].brier == pytest.approx(1.28)
    assert result.tracks["prior"].brier == pytest.approx(0.5)


def test_a_zero_forecast_on_the_outcome_gives_a_log_score_of_minus_infinity():
    log = QuestionLog(("a", "b"), {"a": 0.5, "b": 0.5}, OPENS,
                      manual=(ManualPoint(at(1, 1), {"a": 0.0, "b": 1.0}),),
                      resolved_to="a", resolved_at=at(3, 0))
    result = score_question(log)
    assert result.tracks["analyst"].log == -math.inf
    assert result.tracks["analyst"].brier == pytest.approx(2.0)
    assert result.tracks["evidence"].log == pytest.approx(math.log(0.5))


def test_the_days_run_from_opens_to_the_day_before_r():
    assert score_days(OPENS, datetime(2024, 3, 1, 0, 0, tzinfo=UTC))[-1] == date(2024, 2, 29)
    assert len(score_days(OPENS, datetime(2024, 1, 1, 9, tzinfo=UTC))) == 365 + 365 + 365
    assert score_days(OPENS, OPENS) == [date(2021, 1, 1)]


# --- against an independent numpy computation ------------------------------------------


def numpy_powers(log: QuestionLog) -> dict[int, float]:
    """Evidence id -> δ^k, k counting the same indicator's items after opens before it."""
    applied = sorted((e for e in log.evidence if e.observed_at > log.opens_at),
                     key=lambda e: (e.observed_at, e.indicator, e.id))
    return {e.id: log.repeat_decay ** sum(f.indicator == e.indicator for f in applied[:j])
            for j, e in enumerate(applied)}


def numpy_forecast(log: QuestionLog, cut: datetime, use_manual: bool = True,
                   use_evidence: bool = True) -> np.ndarray:
    """docs/model.md again, from scratch, counting the events strictly before `cut`."""
    names = list(log.scenarios)
    start, p = log.opens_at, np.array([log.prior[s] for s in names])
    by_hand = False  # after a manual forecast no silence step applies (docs/model.md)
    if use_manual:
        before = [m for m in log.manual if m.at < cut]
        if before:
            chosen = max(before, key=lambda m: m.at)
            start, p = chosen.at, np.array([chosen.probabilities[s] for s in names])
            by_hand = True
    if not use_evidence:
        return p
    powers = numpy_powers(log)
    steps = [((e.observed_at, 2, e.indicator, e.id),
              (e.weight * np.array([e.likelihood[s] for s in names]) + 1 - e.weight)
              ** powers[e.id])
             for e in log.evidence if start < e.observed_at < cut]
    if log.events and log.closes_at is not None and not by_hand:
        closes = log.closes_at
        weeks = int(np.ceil((closes - log.opens_at) / timedelta(days=7)))
        grid = [log.opens_at + timedelta(days=7 * n) for n in range(weeks)] + [closes]
        reveal = {s: [(e.observed_at, e.weight) for e in log.evidence if e.indicator in ind
                      and e.observed_at > log.opens_at]
                  for s, ind in log.events.items()}
        for previous, g in zip(grid, grid[1:], strict=False):
            if not g < cut:
                continue
            a = previous
            # Each unconfirmed reveal so far scales the decay's power by (1 − w).
            power = np.array([np.prod([1 - w for t, w in reveal[s] if t <= g])
                              if s in reveal else 0.0 for s in names])
            if (power > 0).any():
                steps.append(((g, 1, "", 0),
                              np.where(power > 0, ((closes - g) / (closes - a)) ** power,
                                       1.0)))
    for _, factor in sorted(steps, key=lambda x: x[0]):
        q = p * factor
        if q.sum() <= 0:
            q = p
        p = q / q.sum()
        p = np.maximum(p, log.floor)
        p = p / p.sum()
    return p


def numpy_series(log: QuestionLog) -> dict[str, np.ndarray]:
    """Track -> days × scenarios, each day's F computed from scratch by `numpy_forecast`."""
    r = log.resolved_at
    assert r is not None
    first, last = log.opens_at.date(), r.date()
    n_days = max((last - first).days, 1)
    cuts = [min(datetime.combine(first + timedelta(days=i + 1), datetime.min.time(), UTC), r)
            for i in range(n_days)]
    return {track: np.array([numpy_forecast(log, cut, m, e) for cut in cuts])
            for track, (m, e) in {"tracker": (True, True), "analyst": (True, False),
                                  "evidence": (False, True), "prior": (False, False)}.items()}


def numpy_scores(log: QuestionLog) -> dict[str, tuple[float, float]]:
    """Track -> (mean Brier, mean log) of `numpy_series`."""
    k = list(log.scenarios).index(log.resolved_to)  # type: ignore[arg-type]
    onehot = np.eye(len(log.scenarios))[k]
    out = {}
    for track, f in numpy_series(log).items():
        with np.errstate(divide="ignore"):
            out[track] = (float(((f - onehot) ** 2).sum(axis=1).mean()),
                          float(np.log(f[:, k]).mean()))
    return out


@st.composite
def resolved_logs(draw: st.DrawFn) -> QuestionLog:
    n = draw(st.integers(2, 4))
    names = tuple(f"s{i}" for i in range(n))
    unit = st.floats(0.01, 1.0)
    raw = [draw(unit) for _ in names]
    prior = {s: v / sum(raw) for s, v in zip(names, raw, strict=True)}
    span = draw(st.integers(0, 400)) * 86400 + draw(st.integers(0, 86399))
    resolved_at = OPENS + timedelta(seconds=span)
    when = st.integers(-5 * 86400, span + 5 * 86400).map(lambda s: OPENS + timedelta(seconds=s))
    manual = {}
    for _ in range(draw(st.integers(0, 3))):
        m = [draw(unit) for _ in names]
        t = draw(when)
        if t >= OPENS:
            manual[t] = ManualPoint(t, {s: v / sum(m) for s, v in zip(names, m, strict=True)})
    evidence = [
        EvidencePoint(i, draw(st.sampled_from(["x", "y"])), draw(when),
                      {s: draw(st.floats(0.001, 1.0)) for s in names},
                      draw(st.sampled_from([0.5, 1.0])))
        for i in range(draw(st.integers(0, 15)))
    ]
    # Some scenarios are events before `closes`, revealed by x, y or nothing; one never is.
    events = {s: tuple(draw(st.sets(st.sampled_from(["x", "y"]))))
              for s in names[1:] if draw(st.booleans())}
    closes_at = OPENS + timedelta(seconds=draw(st.integers(2 * 86400, span + 60 * 86400)))
    return QuestionLog(names, prior, OPENS, tuple(manual.values()), tuple(evidence),
                       draw(st.sampled_from([0.0, 0.001, 0.02])),
                       draw(st.sampled_from(names)), resolved_at,
                       repeat_decay=draw(st.sampled_from([0.0, 0.5, 0.9])),
                       closes_at=closes_at, events=events)


@settings(max_examples=60, deadline=None)
@given(resolved_logs())
def test_scores_agree_with_numpy(log: QuestionLog):
    result = score_question(log)
    expected = numpy_scores(log)
    for track, (b, lg) in expected.items():
        assert result.tracks[track].brier == pytest.approx(b, abs=1e-9)
        assert result.tracks[track].log == pytest.approx(lg, abs=1e-9)
        prior_brier = expected["prior"][0]
        if prior_brier > 0:
            assert result.tracks[track].skill == pytest.approx(1 - b / prior_brier, abs=1e-9)


@settings(max_examples=30, deadline=None)
@given(st.lists(resolved_logs(), min_size=1, max_size=3))
def test_calibration_agrees_with_numpy(logs: list[QuestionLog]):
    results = [score_question(log) for log in logs]
    values = np.array([v for r in results for p in r.forecasts for v in p.values()])
    outcomes = np.array([s == r.resolved_to for r in results for p in r.forecasts for s in p])
    idx = np.clip(np.digitize(values, np.arange(10) / 10) - 1, 0, 9)
    for i, b in enumerate(calibration(results)):
        mask = idx == i
        assert b.count == int(mask.sum())
        if b.count:
            assert b.mean_forecast == pytest.approx(values[mask].mean(), abs=1e-9)
            assert b.observed == pytest.approx(outcomes[mask].mean(), abs=1e-12)
        else:
            assert b.mean_forecast is None and b.observed is None
