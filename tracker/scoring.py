"""The forecast in force F(t) (DESIGN §5) and manual updates: pure functions, no database.

Readings of §5 kept here: the prior's time is `opens` at 00:00 UTC; evidence counts only when
observed strictly after the baseline's time; ties in observed time go by (indicator id, evidence
id); once resolved, F is the outcome vector.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

Vector = dict[str, float]


@dataclass(frozen=True)
class ManualPoint:
    """A manual forecast in the log."""

    at: datetime
    probabilities: Mapping[str, float]
    by: str = ""
    note: str = ""


@dataclass(frozen=True)
class EvidencePoint:
    """An evidence item that is not dismissed; weight is 1 (confirmed) or auto_weight (auto)."""

    id: int
    indicator: str
    observed_at: datetime
    likelihood: Mapping[str, float]
    weight: float


@dataclass(frozen=True)
class QuestionLog:
    """Everything F(t) depends on for one question."""

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


def evidence_order(e: EvidencePoint) -> tuple[datetime, str, int]:
    """Observed-time order; ties broken by indicator id so ingestion order never matters."""
    return (e.observed_at, e.indicator, e.id)


def apply_evidence(p: Mapping[str, float], e: EvidencePoint, floor: float) -> Vector:
    """One Bayesian step: p_s · L_s^w, normalize, raise to the floor, normalize again."""
    raw = {s: p[s] * e.likelihood.get(s, 1.0) ** e.weight for s in p}
    total = sum(raw.values())
    if total <= 0:
        # Likelihoods are in (0, 1], so only underflow gets here: the item cannot be weighed.
        raw, total = dict(p), sum(p.values())
    out = {s: v / total for s, v in raw.items()}
    if floor > 0:
        out = {s: max(v, floor) for s, v in out.items()}
        total = sum(out.values())
        out = {s: v / total for s, v in out.items()}
    return out


def baseline(log: QuestionLog, t: datetime) -> tuple[datetime, Vector, ManualPoint | None]:
    """Step 1: the latest manual forecast at or before t, else the prior at `opens`."""
    log = log.ordered()
    chosen: ManualPoint | None = None
    for m in log.manual:
        if m.at <= t:
            chosen = m
        else:
            break
    if chosen is None:
        return log.opens_at, log.prior_vector(), None
    return chosen.at, {s: float(chosen.probabilities.get(s, 0.0)) for s in log.scenarios}, chosen


def forecast_at(
    log: QuestionLog, t: datetime, *, manual: bool = True, evidence: bool = True
) -> Vector:
    """F(t), every event at or before t counted. With manual=False the baseline is always the
    prior (the evidence track); with evidence=False no evidence is applied (the analyst track)."""
    log = log.ordered()
    if log.resolved_to is not None and log.resolved_at is not None and t >= log.resolved_at:
        return outcome(log.scenarios, log.resolved_to)
    if manual:
        start, p, _ = baseline(log, t)
    else:
        start, p = log.opens_at, log.prior_vector()
    if evidence:
        for e in log.evidence:
            if e.observed_at <= start:
                continue
            if e.observed_at > t:
                break
            p = apply_evidence(p, e, log.floor)
    return p


def forecasts_before(
    log: QuestionLog, cutoffs: Sequence[datetime], *, manual: bool = True, evidence: bool = True
) -> list[Vector]:
    """F counting only events strictly before each of the ascending `cutoffs`, resolution
    ignored; walks the log once, with the same steps in the same order as `forecast_at`."""
    log = log.ordered()
    events: list[tuple[tuple[datetime, int, str, int], ManualPoint | EvidencePoint]] = []
    if manual:
        events += [((m.at, 0, "", i), m) for i, m in enumerate(log.manual)]
    if evidence:
        events += [((e.observed_at, 1, e.indicator, e.id), e) for e in log.evidence]
    events.sort(key=lambda x: x[0])
    p, start, i, out = log.prior_vector(), log.opens_at, 0, []
    for cutoff in cutoffs:
        while i < len(events) and events[i][0][0] < cutoff:
            item = events[i][1]
            i += 1
            if isinstance(item, ManualPoint):
                start = item.at
                p = {s: float(item.probabilities.get(s, 0.0)) for s in log.scenarios}
            elif item.observed_at > start:
                p = apply_evidence(p, item, log.floor)
        out.append(p)
    return out


def outcome(scenarios: Sequence[str], resolved_to: str) -> Vector:
    """1 for the resolved scenario, 0 for the others."""
    return {s: 1.0 if s == resolved_to else 0.0 for s in scenarios}


@dataclass(frozen=True)
class HistoryPoint:
    """One change of F: what caused it and F just after it."""

    at: datetime
    source: str  # prior | manual | evidence | resolution
    probabilities: Vector
    by: str = ""
    note: str = ""
    evidence: tuple[int, ...] = ()
    indicator: str | None = None


def history(log: QuestionLog) -> list[HistoryPoint]:
    """The prior, each manual forecast, each applied evidence item and the resolution, in order."""
    log = log.ordered()
    # Manual forecasts before evidence at the same time: evidence must come after its baseline.
    events: list[tuple[tuple[datetime, int, str, int], ManualPoint | EvidencePoint]] = []
    events += [((m.at, 0, "", i), m) for i, m in enumerate(log.manual)]
    events += [((e.observed_at, 1, e.indicator, e.id), e) for e in log.evidence]
    events.sort(key=lambda x: x[0])
    p = log.prior_vector()
    out = [HistoryPoint(log.opens_at, "prior", dict(p))]
    start = log.opens_at
    for (at, *_), item in events:
        if log.resolved_at is not None and log.resolved_to is not None and at >= log.resolved_at:
            break
        if isinstance(item, ManualPoint):
            start = at
            p = {s: float(item.probabilities.get(s, 0.0)) for s in log.scenarios}
            out.append(HistoryPoint(at, "manual", dict(p), item.by, item.note))
        elif isinstance(item, EvidencePoint) and at > start:
            p = apply_evidence(p, item, log.floor)
            out.append(HistoryPoint(at, "evidence", dict(p), evidence=(item.id,),
                                    indicator=item.indicator))
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
        return (f"unknown scenario {', '.join(unknown)} "
                f"(valid scenarios: {', '.join(scenarios)})")
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
