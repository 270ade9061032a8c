"""The forecast in force F(t) (DESIGN §5 as extended by docs/model.md) and manual updates:
pure functions, no database.

Readings kept here: the prior's time is `opens` at 00:00 UTC; evidence counts only when
observed strictly after the baseline's time; ties in observed time go by (indicator id, evidence
id); at one instant a manual forecast comes first, then a silence step, then evidence; once
resolved, F is the outcome vector.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from .errors import valid
from .text import count

Vector = dict[str, float]
WEEK = timedelta(days=7)


@dataclass(frozen=True)
class ManualPoint:
    """A manual forecast in the log."""

    at: datetime
    probabilities: Mapping[str, float]
    by: str = ""
    note: str = ""


@dataclass(frozen=True)
class EvidencePoint:
    """An applied evidence item (auto or confirmed); weight w is 1 when confirmed, the
    indicator's reliability when auto."""

    id: int
    indicator: str
    observed_at: datetime
    likelihood: Mapping[str, float]
    weight: float


@dataclass(frozen=True)
class QuestionLog:
    """Everything F(t) depends on for one question. `events` maps each event scenario to the
    indicators whose sightings reveal it (none for `event: true`); silence needs `closes_at`."""

    scenarios: tuple[str, ...]
    prior: Mapping[str, float]
    opens_at: datetime
    manual: tuple[ManualPoint, ...] = ()
    evidence: tuple[EvidencePoint, ...] = ()
    floor: float = 0.001
    resolved_to: str | None = None
    resolved_at: datetime | None = None
    resolution_by: str = ""
    resolution_note: str = ""
    repeat_decay: float = 0.5
    closes_at: datetime | None = None
    events: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    _sorted: bool = field(default=False, repr=False)

    def ordered(self) -> QuestionLog:
        """The same log with manual forecasts by time and evidence in observed-time order."""
        if self._sorted:
            return self
        # A stable sort: of two manual forecasts at one time, the one given later wins.
        manual = tuple(sorted(self.manual, key=lambda m: m.at))
        evidence = tuple(sorted(self.evidence, key=evidence_order))
        return replace(self, manual=manual, evidence=evidence, _sorted=True)

    def prior_vector(self) -> Vector:
        """The prior as a vector in scenario order."""
        return {s: float(self.prior[s]) for s in self.scenarios}

    def without(self, indicator: str) -> QuestionLog:
        """The same log with every item of one indicator removed."""
        return replace(self, evidence=tuple(e for e in self.evidence if e.indicator != indicator))


def evidence_order(e: EvidencePoint) -> tuple[datetime, str, int]:
    """Observed-time order; ties broken by indicator id so ingestion order never matters."""
    return (e.observed_at, e.indicator, e.id)


def reliability(confirmed: int, dismissed: int, auto_weight: float, strength: float) -> float:
    """The weight of an indicator's unreviewed items: the posterior mean of a
    Beta(strength·auto_weight, strength·(1 − auto_weight)) prior after its reviews."""
    return (strength * auto_weight + confirmed) / (strength + confirmed + dismissed)


@dataclass(frozen=True)
class Weight:
    """How an evidence item counts (docs/model.md §1–2): `trust` w (1 confirmed, the
    indicator's reliability when auto) and `repeat` δ^k; both 0 for an item never applied."""

    trust: float
    repeat: float

    @property
    def applied(self) -> bool:
        return self.repeat > 0 and self.trust > 0


UNUSED = Weight(0.0, 0.0)


def weights(log: QuestionLog) -> dict[int, Weight]:
    """Evidence id -> its Weight: trust w, and repeat δ^k with k the indicator's earlier items
    after `opens`; UNUSED for items at or before `opens`."""
    log = log.ordered()
    seen: dict[str, int] = {}
    out: dict[int, Weight] = {}
    for e in log.evidence:
        if e.observed_at <= log.opens_at:
            out[e.id] = UNUSED
            continue
        k = seen.get(e.indicator, 0)
        seen[e.indicator] = k + 1
        out[e.id] = Weight(e.weight, log.repeat_decay ** k)
    return out


def evidence_factor(likelihood: Mapping[str, Any], weight: Weight, scenarios: Iterable[str]
                    ) -> Vector:
    """(w·L_s + 1 − w)^(δ^k) for every scenario (a scenario the likelihood leaves out has
    L = 1): with probability w the sighting is right and weighs L_s, else it says nothing;
    all 1 for an item not applied."""
    if not weight.applied:
        return {s: 1.0 for s in scenarios}
    w = weight.trust
    return {s: (w * float(likelihood.get(s, 1.0)) + (1.0 - w)) ** weight.repeat
            for s in scenarios}


def reveals(log: QuestionLog) -> dict[str, list[tuple[datetime, float]]]:
    """Event scenario -> (observed time, trust w) of each applied revealing item after
    `opens`, in time order (empty for `event: true`)."""
    out: dict[str, list[tuple[datetime, float]]] = {}
    for s, indicators in log.events.items():
        out[s] = sorted((e.observed_at, e.weight) for e in log.evidence
                        if e.indicator in indicators and e.observed_at > log.opens_at
                        and e.weight > 0)
    return out


def silence_power(revealed: Sequence[tuple[datetime, float]], at: datetime) -> float:
    """The exponent of a silence step at `at`: Π (1 − w) over the reveals observed at or
    before it; 1 with none (full decay), 0 once a confirmed one is in (no decay)."""
    power = 1.0
    for t, w in revealed:
        if t > at:
            break
        power *= 1.0 - w
    return power


def silence_grid(log: QuestionLog) -> list[datetime]:
    """opens + 7n days (n ≥ 1) before `closes_at`, then `closes_at`; empty without events."""
    if log.closes_at is None or not log.events:
        return []
    grid, g = [], log.opens_at + WEEK
    while g < log.closes_at:
        grid.append(g)
        g += WEEK
    return [*grid, log.closes_at]


def update(p: Mapping[str, float], factor: Mapping[str, float], floor: float) -> Vector:
    """One step: p_s · factor_s, normalize, raise to the floor, normalize again."""
    raw = {s: p[s] * factor.get(s, 1.0) for s in p}
    total = sum(raw.values())
    if total <= 0:
        # Factors are positive except at `closes`, so only underflow or a vector whose every
        # weight sits on decayed scenarios gets here: the step cannot be weighed.
        raw, total = dict(p), sum(p.values())
    out = {s: v / total for s, v in raw.items()}
    if floor > 0:
        out = {s: max(v, floor) for s, v in out.items()}
        total = sum(out.values())
        out = {s: v / total for s, v in out.items()}
    return out


@dataclass(frozen=True)
class Step:
    """One change of F (resolution aside): its cause, the factor applied and F just after."""

    at: datetime
    source: str  # manual | silence | evidence
    probabilities: Vector
    factor: Vector = field(default_factory=dict)
    manual: ManualPoint | None = None
    evidence: EvidencePoint | None = None
    decayed: Mapping[str, float] = field(default_factory=dict)  # scenario -> silence power


_MANUAL, _SILENCE, _EVIDENCE = 0, 1, 2


def steps(log: QuestionLog, *, manual: bool = True, evidence: bool = True) -> Iterator[Step]:
    """Every step of F in order, the resolution ignored. With manual=False the baseline is
    always the prior (the evidence track); with evidence=False neither evidence nor silence
    applies (the analyst track)."""
    log = log.ordered()
    queue: list[tuple[tuple[datetime, int, str, int], ManualPoint | EvidencePoint | None]] = []
    if manual:
        queue += [((m.at, _MANUAL, "", i), m) for i, m in enumerate(log.manual)]
    if evidence:
        queue += [((g, _SILENCE, "", 0), None) for g in silence_grid(log)]
        queue += [((e.observed_at, _EVIDENCE, e.indicator, e.id), e) for e in log.evidence]
    queue.sort(key=lambda x: x[0])
    power = weights(log) if evidence else {}
    revealed = reveals(log) if evidence else {}
    p, start, previous_grid = log.prior_vector(), log.opens_at, log.opens_at
    by_hand = False  # a manual forecast takes over the clock: no silence after it
    for (at, *_), item in queue:
        if isinstance(item, ManualPoint):
            start, by_hand = at, True
            p = {s: float(item.probabilities.get(s, 0.0)) for s in log.scenarios}
            yield Step(at, "manual", p, manual=item)
        elif isinstance(item, EvidencePoint):
            if at > start:
                factor = evidence_factor(item.likelihood, power[item.id], log.scenarios)
                p = update(p, factor, log.floor)
                yield Step(at, "evidence", p, factor, evidence=item)
        else:
            since, previous_grid = previous_grid, at
            if by_hand or log.closes_at is None:
                continue
            powers = {s: silence_power(revealed[s], at) for s in log.scenarios if s in revealed}
            decayed = {s: u for s, u in powers.items() if u > 0}
            if not decayed:
                continue
            # Uniform arrival of the event over what is left of the window: surviving from
            # `since` to `at` without it has probability (closes − at) / (closes − since),
            # raised to the chance that every unconfirmed reveal so far was wrong.
            survive = (log.closes_at - at) / (log.closes_at - since)
            factor = {s: survive ** decayed[s] if s in decayed else 1.0 for s in log.scenarios}
            p = update(p, factor, log.floor)
            yield Step(at, "silence", p, factor, decayed=decayed)


def forecast_at(
    log: QuestionLog, t: datetime, *, manual: bool = True, evidence: bool = True
) -> Vector:
    """F(t), every event at or before t counted. With manual=False the baseline is always the
    prior (the evidence track); with evidence=False no evidence or silence applies (the analyst
    track)."""
    if log.resolved_to is not None and log.resolved_at is not None and t >= log.resolved_at:
        return outcome(log.scenarios, log.resolved_to)
    p = log.prior_vector()
    for step in steps(log, manual=manual, evidence=evidence):
        if step.at > t:
            break
        p = step.probabilities
    return p


def forecasts_before(
    log: QuestionLog, cutoffs: Sequence[datetime], *, manual: bool = True, evidence: bool = True
) -> list[Vector]:
    """F counting only events strictly before each of the ascending `cutoffs`, resolution
    ignored; walks the log once, with the same steps in the same order as `forecast_at`."""
    walk = steps(log, manual=manual, evidence=evidence)
    p, out = log.prior_vector(), []
    pending = next(walk, None)
    for cutoff in cutoffs:
        while pending is not None and pending.at < cutoff:
            p = pending.probabilities
            pending = next(walk, None)
        out.append(p)
    return out


def outcome(scenarios: Sequence[str], resolved_to: str) -> Vector:
    """1 for the resolved scenario, 0 for the others."""
    return {s: 1.0 if s == resolved_to else 0.0 for s in scenarios}


@dataclass(frozen=True)
class HistoryPoint:
    """One change of F: what caused it, the factor it applied and F just after it."""

    at: datetime
    source: str  # prior | manual | silence | evidence | resolution
    probabilities: Vector
    by: str = ""
    note: str = ""
    evidence: tuple[int, ...] = ()
    indicator: str | None = None
    factor: Vector = field(default_factory=dict)


def silence_note(log: QuestionLog, at: datetime, decayed: Mapping[str, float]) -> str:
    """Words for a silence step: how long the decayed scenarios (each with its silence power)
    have gone unsighted, and at what power those with unconfirmed sightings decay."""
    names = ", ".join(s if u == 1.0
                      else f"{s} (sighted, not confirmed: decay at power {u:.3g})"
                      for s, u in decayed.items())
    if log.closes_at is not None and at >= log.closes_at:
        return f"closed without a sighting of {names}"
    weeks = math.floor((at - log.opens_at) / WEEK)
    return f"{count(weeks, 'week')} without a sighting of {names}"


def history(log: QuestionLog, until: datetime | None = None) -> list[HistoryPoint]:
    """The prior, each manual forecast, silence step and applied evidence item, and the
    resolution, in order; silence steps are on a calendar, so pass `until` (now) to stop."""
    log = log.ordered()
    out = [HistoryPoint(log.opens_at, "prior", log.prior_vector())]
    end = log.resolved_at if log.resolved_to is not None else None
    for step in steps(log):
        # F is the outcome from R on: what is observed then moves nothing. A manual forecast
        # made at R is still the analyst's word, shown before the resolution (and voidable).
        if end is not None and (step.at > end or (step.at == end and step.manual is None)):
            continue
        if until is not None and step.at > until:
            break
        if step.manual is not None:
            out.append(HistoryPoint(step.at, "manual", dict(step.probabilities),
                                    step.manual.by, step.manual.note))
        elif step.evidence is not None:
            out.append(HistoryPoint(step.at, "evidence", dict(step.probabilities),
                                    evidence=(step.evidence.id,),
                                    indicator=step.evidence.indicator, factor=step.factor))
        else:
            out.append(HistoryPoint(step.at, "silence", dict(step.probabilities),
                                    note=silence_note(log, step.at, step.decayed),
                                    factor=step.factor))
    if log.resolved_to is not None and log.resolved_at is not None:
        out.append(HistoryPoint(log.resolved_at, "resolution",
                                outcome(log.scenarios, log.resolved_to),
                                log.resolution_by, log.resolution_note))
    return out


def manual_update(current: Mapping[str, float], named: Mapping[str, float]) -> Vector:
    """Named scenarios take exactly the values given; the others share what is left
    in proportion to their current values (equally where all are 0). When every scenario is
    named the values are kept as given, even where `check_update` let them off 1 by up to
    0.001: DESIGN §4 says named values are exact."""
    others = [s for s in current if s not in named]
    left = max(0.0, 1.0 - sum(named.values()))
    out: Vector = {}
    base = sum(current[s] for s in others)
    for s in current:
        if s in named:
            out[s] = float(named[s])
        elif base > 0:
            out[s] = left * (current[s] / base)  # the ratio first: no underflow for tiny values
        else:
            out[s] = left / len(others)
    return out


def check_update(scenarios: Sequence[str], named: Mapping[str, float]) -> str | None:
    """None when `named` is a valid manual update of a question with `scenarios`, else why not."""
    unknown = [s for s in named if s not in scenarios]
    if unknown:
        hint = valid("scenarios", unknown[0], scenarios)
        return f"unknown scenario {', '.join(unknown)} ({hint})"
    for s, v in named.items():
        if not 0 <= v <= 1:
            return f"probability {v:g} for {s} is outside [0, 1]"
    total = sum(named.values())
    if len(named) == len(scenarios):
        if abs(total - 1) > 0.001:
            return f"the probabilities of every scenario must sum to 1, got {total:.6g}"
    elif total > 1 + 1e-9:
        return f"the named probabilities sum to {total:.6g}, over 1"
    return None
