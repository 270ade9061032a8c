"""The weekly report (DESIGN §7): periods, what goes in it, rendering, storing it in the outbox."""

from __future__ import annotations

import hashlib
import re
import textwrap
import unicodedata
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

import css_inline
import jinja2
import markupsafe
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from .charts import colour, history_chart
from .config import Settings, load_settings, report_trigger
from .errors import UsageError
from .forecast import UNUSED, HistoryPoint, Weight, forecast_at, history, weights
from .indicators import indicator_cards, to_review
from .ledger import question_log
from .models import (
    NOT_APPLIED,
    Entry,
    Evidence,
    Feed,
    Forecast,
    Hit,
    Question,
    Report,
    ReportImage,
)
from .resources import templates_dir
from .scores import score_question
from .status import state_of
from .text import count, for_terminal, marked, oneline, pct
from .timeutil import as_utc, day_start, utcnow

PERIOD_RE = re.compile(r"^(\d{4})-W(\d{2})$")
SILENT_AFTER = timedelta(days=7)
STALE_AFTER = timedelta(days=30)
# Charts show the last 12 weeks: over half a year a week's move is a sliver.
CHART_WINDOW = timedelta(weeks=12)
# Changes smaller than this (a twentieth of a percentage point) read as "no change".
EPSILON = 0.0005
# An indicator's sightings listed one by one in a period; the rest are summed up in a line.
FLOOD_SHOWN = 3
HEADLINES_SHOWN = 3  # of one evidence item; the rest are counted
QUOTE_MAX = 300  # characters of a sighting's sentence the report quotes
# Gmail clips a message whose HTML passes 102 KB: past this many bytes the report leaves out
# details, step by step (render), and says so.
HTML_BUDGET = 100_000
KEPT_MOVES = 5  # the largest moves of a question kept at the last step


# --- periods -----------------------------------------------------------------------------------

def _zone(settings: Settings) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(settings.timezone)


def _next_fire(trigger: CronTrigger, after: datetime) -> datetime:
    """The first scheduled time strictly after `after`."""
    fire = trigger.get_next_fire_time(None, after + timedelta(microseconds=1))
    if fire is None:
        raise UsageError("report.cron never fires")
    return as_utc(fire)


def _last_fire(trigger: CronTrigger, before: datetime) -> datetime:
    """The last scheduled time strictly before `before`."""
    for window in (timedelta(hours=1), timedelta(days=1), timedelta(days=8),
                   timedelta(days=32), timedelta(days=367), timedelta(days=366 * 8)):
        found = None
        fire = _next_fire(trigger, before - window)
        while fire < before:
            found = fire
            fire = _next_fire(trigger, fire)
        if found is not None:
            return found
    raise UsageError("report.cron has not fired for years")


def _week_key(moment: datetime, settings: Settings) -> str:
    year, week, _ = moment.astimezone(_zone(settings)).isocalendar()
    return f"{year}-W{week:02d}"


def _week_start(period: str, settings: Settings) -> datetime:
    """Monday 00:00 of an ISO week in the settings' timezone, as UTC."""
    m = PERIOD_RE.match(period)
    try:
        if m is None:
            raise ValueError(period)
        monday = date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
        if not 1900 <= monday.year <= 2999:  # the weeks around it must be dates too
            raise ValueError(period)
    except ValueError:
        raise UsageError(f"bad period {period!r}", hint="use an ISO week, e.g. 2026-W48") from None
    return as_utc(datetime.combine(monday, datetime.min.time(), tzinfo=_zone(settings)))


def _period_end(period: str, settings: Settings) -> datetime:
    """A period ends at the first scheduled time of its ISO week."""
    start = _week_start(period, settings)
    fire = _next_fire(report_trigger(settings), start - timedelta(microseconds=1))
    if _week_key(fire, settings) != period:
        raise UsageError(f"no report is scheduled in {period} (report.cron "
                         f"{settings.report_cron!r})")
    return fire


def period_of(moment: datetime, settings: Settings) -> str:
    """The ISO week key of the period that `moment` falls in (ended by the next scheduled time)."""
    trigger = report_trigger(settings)
    fire = _next_fire(trigger, as_utc(moment))
    key = _week_key(fire, settings)
    if _period_end(key, settings) > moment:
        return key
    # A cron firing several times a week: only the first fire of a week ends a period.
    next_week = _week_start(key, settings) + timedelta(days=7)
    return _week_key(_next_fire(trigger, next_week - timedelta(microseconds=1)), settings)


def latest_due_period(now: datetime, settings: Settings) -> str:
    """The latest period whose scheduled time has passed at `now`."""
    return _week_key(_last_fire(report_trigger(settings), as_utc(now) + timedelta(microseconds=1)),
                     settings)


def period_bounds(period: str, settings: Settings) -> tuple[datetime, datetime]:
    """[start, end) in UTC: from the previous period's scheduled time to this one's."""
    end = _period_end(period, settings)
    previous = _week_key(_last_fire(report_trigger(settings), end), settings)
    return _period_end(previous, settings), end


# --- what the report says ----------------------------------------------------------------------

_QUOTED = str.maketrans({'"': "%22", "'": "%27", "<": "%3C", ">": "%3E"})


def safe_link(url: str | None) -> str | None:
    """A link worth following: http or https only, never javascript: or data:, nor white
    space or control characters. Quotes and angle brackets, which a slug may hold
    ("/aliyev's-talks"), are percent-encoded, not a reason to drop the link."""
    if not url:
        return None
    url = url.strip()
    if re.match(r"^https?://\S+$", url, re.IGNORECASE) and not any(
        unicodedata.category(c)[0] == "C" for c in url
    ):
        return url.translate(_QUOTED)
    return None


@dataclass
class ScenarioLine:
    id: str
    label: str
    probability: float
    previous: float | None
    colour: str

    @property
    def change(self) -> float | None:
        return None if self.previous is None else self.probability - self.previous


@dataclass
class Headline:
    title: str
    feed: str
    link: str | None
    published: datetime
    quote: str = ""  # the sentence that reports the event, terms at `marks`
    marks: tuple[tuple[int, int], ...] = ()


@dataclass
class Move:
    """One thing that moved a question in the period: an evidence item or a manual forecast."""

    at: datetime
    kind: str  # evidence | manual | silence | summary (of a flood of evidence)
    words: str
    shifts: list[tuple[str, float, float]]  # (scenario label, before, after), largest first
    headlines: list[Headline] = field(default_factory=list)
    factor: dict[str, float] = field(default_factory=dict)
    state: str = ""
    by: str = ""
    note: str = ""
    change: dict[str, float] = field(default_factory=dict)  # scenario label -> after − before
    indicator: str = ""  # the indicator's id and description, for evidence and summaries
    about: str = ""
    # A summary of a flood: how many sightings it folds, the last one's time, their net change.
    count: int = 0
    until: datetime | None = None
    net: list[tuple[str, float]] = field(default_factory=list)
    more: int = 0  # headlines of the item not listed (`tracker evidence` lists them)


@dataclass
class IndicatorLine:
    id: str
    description: str
    last_sighted: datetime | None
    in_period: int


@dataclass
class QuestionSection:
    id: str
    title: str
    closes: date
    scenarios: list[ScenarioLine]
    chart: str  # the file name of the chart image
    moves: list[Move]
    indicators: list[IndicatorLine]
    awaiting_review: int

    @property
    def moved(self) -> bool:
        return bool(self.moves) or any(abs(s.change or 0.0) >= EPSILON for s in self.scenarios)

    @property
    def size(self) -> float:
        """How far it moved: the largest change since the last report sent; with none sent,
        the largest net change of a scenario over the period's moves."""
        known = [abs(s.change) for s in self.scenarios if s.change is not None]
        if known:
            return max(known)
        net: dict[str, float] = {}
        for m in self.moves:
            for label, d in (m.change.items() if m.change else m.net):
                net[label] = net.get(label, 0.0) + d
        return max((abs(v) for v in net.values()), default=0.0)


@dataclass
class ResolvedLine:
    id: str
    title: str
    outcome: str
    resolved_at: datetime | None
    scores: dict[str, dict[str, float | None]]


@dataclass
class Notice:
    """A line of the 'needs attention' lists: a failing or silent feed, a stale question."""

    id: str
    title: str
    detail: str


@dataclass
class ReportContext:
    period: str
    start: datetime
    end: datetime
    as_of: datetime
    timezone: str
    compared_with: str | None
    questions: list[QuestionSection]
    resolved: list[ResolvedLine]
    feeds: list[Notice]
    past_closes: list[Notice]
    no_manual: list[Notice]
    review: list[Notice]  # indicators to review: worst contributors, most dismissed
    images: dict[str, bytes]  # file name -> PNG
    probabilities: dict[str, dict[str, float]]
    made: datetime  # when it was rendered, which may be long after `as_of`
    shortened: bool = False  # details were left out to stay under HTML_BUDGET (render)

    @property
    def partial(self) -> bool:
        """Rendered before the period ended: a preview, not the week's report."""
        return self.as_of < self.end

    @property
    def subject(self) -> str:
        moved = [q for q in self.questions if q.moved]
        n = len(moved)
        words = f"tracker report {self.period}: {count(n, 'question')} moved"
        if moved:
            top = max(moved, key=lambda q: q.size)
            words += f", most: {top.title}"
        return oneline(words, 180)


def build_context(session: Session, period: str, now: datetime) -> ReportContext:
    """Everything the report of `period` shows, read from the database."""
    settings = load_settings(session)
    start, end = period_bounds(period, settings)
    as_of = min(now, end)
    previous = session.scalars(
        select(Report)
        .where(Report.state == "sent", Report.period_end < end, Report.period != period)
        .order_by(Report.period_end.desc()).limit(1)
    ).first()
    before = previous.probabilities if previous is not None else {}
    questions = session.scalars(
        select(Question).where(Question.retired.is_(False))
        .options(selectinload(Question.scenarios), selectinload(Question.indicators))
        .order_by(Question.position, Question.id)
    ).all()
    sections: list[QuestionSection] = []
    resolved: list[ResolvedLine] = []
    images: dict[str, bytes] = {}
    probabilities: dict[str, dict[str, float]] = {}
    for q in questions:
        log = question_log(session, q, settings)
        if q.resolved_to is not None:
            resolved.append(_resolved_line(q, log))
            continue
        now_p = forecast_at(log, as_of)
        probabilities[q.id] = now_p
        points = history(log, as_of)
        old = before.get(q.id, {})
        lines = [
            ScenarioLine(s.id, oneline(s.label), now_p[s.id],
                         float(old[s.id]) if s.id in old else None, colour(i))
            for i, s in enumerate(q.scenarios)
        ]
        name = f"{period}-{q.id}.png"
        images[name] = history_chart(points, [s.id for s in q.scenarios], as_of, (start, end),
                                     since=as_of - CHART_WINDOW)
        sections.append(QuestionSection(
            q.id, oneline(q.title), q.closes, lines, name,
            _moves(session, q, points, start, end, weights(log)),
            _indicator_board(session, q, start, end),
            session.scalar(select(func.count()).select_from(Evidence).where(
                Evidence.question_id == q.id, Evidence.state == "auto")) or 0,
        ))
    open_questions = [q for q in questions if q.resolved_to is None]
    return ReportContext(
        period=period, start=start, end=end, as_of=as_of, timezone=settings.timezone,
        compared_with=previous.period if previous is not None else None,
        questions=sections, resolved=resolved, feeds=_feed_notices(session, as_of),
        past_closes=[Notice(q.id, oneline(q.title), f"closed {q.closes.isoformat()}")
                     for q in open_questions if q.closes < as_of.date()],
        no_manual=_no_manual(session, open_questions, as_of),
        review=[Notice(c.id, oneline(c.description), why)
                for c, why in to_review(indicator_cards(session))],
        images=images, probabilities=probabilities, made=now,
    )


def _resolved_line(q: Question, log: Any) -> ResolvedLine:
    label = {s.id: oneline(s.label) for s in q.scenarios}.get(q.resolved_to or "", q.resolved_to)
    score = score_question(log)
    tracks = {name: {"brier": t.brier, "log": t.log, "skill": t.skill}
              for name, t in score.tracks.items()}
    return ResolvedLine(q.id, oneline(q.title), label or "", q.resolved_at, tracks)


def _shifts(before: dict[str, float], after: dict[str, float],
            labels: dict[str, str]) -> list[tuple[str, float, float]]:
    moved = [(labels[s], before.get(s, 0.0), after[s]) for s in after
             if abs(after[s] - before.get(s, 0.0)) >= EPSILON]
    return sorted(moved, key=lambda m: -abs(m[2] - m[1]))[:2]


def _moves(session: Session, q: Question, points: list[HistoryPoint], start: datetime,
           end: datetime, power: dict[int, Weight]) -> list[Move]:
    """The manual forecasts and applied evidence of the period, with what each did.

    Evidence that arrived in the period but was observed earlier (a late feed) counts too, and
    so does a manual forecast recorded in the period but dated earlier (backdated): each is
    said to be late, since it moved the forecast of its own time, not this week's."""
    ids = [p.evidence[0] for p in points if p.source == "evidence"]
    rows = {e.id: e for e in session.scalars(
        select(Evidence).where(Evidence.id.in_(ids))
        .options(selectinload(Evidence.indicator),
                 selectinload(Evidence.hits).selectinload(Hit.entry).selectinload(Entry.feed))
    )} if ids else {}
    labels = {s.id: oneline(s.label) for s in q.scenarios}
    backdated = {(as_utc(f.at), f.author or "", f.note or "") for f in session.scalars(
        select(Forecast).where(Forecast.question_id == q.id, Forecast.source == "manual",
                               Forecast.at < start, Forecast.created_at >= start,
                               Forecast.created_at < end))}
    moves: list[Move] = []
    for before, point in zip(points, points[1:], strict=False):
        if point.at >= end or point.source not in ("manual", "evidence", "silence"):
            continue
        shifts = _shifts(before.probabilities, point.probabilities, labels)
        change = {labels[s]: point.probabilities[s] - before.probabilities.get(s, 0.0)
                  for s in point.probabilities}
        if point.source in ("manual", "silence"):
            late = point.source == "manual" and (
                as_utc(point.at), point.by or "", point.note or "") in backdated
            if point.at < start and not late:
                continue
            if point.source == "silence":
                moves.append(Move(point.at, "silence", f"Time passed: {point.note}", shifts,
                                  change=change))
                continue
            by, note = oneline(point.by, 100), oneline(point.note, 600)
            words = f"{by} set the forecast by hand"
            if point.at < start:
                words += " (backdated: recorded in this period, dated as shown)"
            moves.append(Move(point.at, "manual", words, shifts, by=by, note=note,
                              change=change))
            continue
        e = rows.get(point.evidence[0])
        if e is None or not (point.at >= start or start <= e.created_at < end):
            continue
        weight = power.get(e.id, UNUSED)
        words = f"Sighted: {oneline(e.indicator.description)}"
        if point.at < start:
            words += " (arrived in this period, observed as dated: it moved the forecast of then)"
        how = []
        if e.state == "auto":
            how.append(f"not reviewed yet: counted as right with probability {weight.trust:.3g}")
        if weight.repeat != 1.0:
            # the power ρ of docs/model.md, in words: its log-odds move is ρ times a first's
            how.append(f"a repeat sighting: it counts {weight.repeat:.3g} times as much as a "
                       "first sighting of its indicator")
        if how:
            words += f" ({'; '.join(how)})"
        live = [h for h in e.hits if h.withdrawn_at is None]
        moves.append(Move(
            point.at, "evidence", words, shifts,
            headlines=[Headline(oneline(h.entry.title) or "(no title)", h.entry.feed_id,
                                safe_link(h.entry.link), h.entry.observed_at,
                                *_quote(h.sentence or "", h.marks or ()))
                       for h in live[:HEADLINES_SHOWN]],
            more=max(len(live) - HEADLINES_SHOWN, 0),
            factor={labels[s]: f for s, f in point.factor.items()},
            state=e.state, change=change, indicator=e.indicator_id,
            about=oneline(e.indicator.description),
        ))
    return _fold_floods(moves)


def _quote(sentence: str, marks: Any) -> tuple[str, tuple[tuple[int, int], ...]]:
    """The sentence a sighting quotes, as the report shows it: what a terminal or a mail
    reader would act on (controls, bidi overrides) as U+FFFD, one for one so that the marks
    keep their places, and cut at QUOTE_MAX characters (marks past the cut dropped)."""
    text = for_terminal(sentence)
    spans = tuple((int(a), int(b)) for a, b in marks)
    if len(text) <= QUOTE_MAX:
        return text, spans
    cut = QUOTE_MAX - 1
    return text[:cut] + "…", tuple((a, b) for a, b in spans if b <= cut)


def _fold_floods(moves: list[Move]) -> list[Move]:
    """Past its first FLOOD_SHOWN sightings, an indicator's evidence in the period becomes
    one line with the count and the sum of their changes, so a flood keeps the mail small."""
    seen: dict[str, int] = {}
    folded: dict[str, Move] = {}
    out: list[Move] = []
    for m in moves:
        if m.kind != "evidence":
            out.append(m)
            continue
        seen[m.indicator] = seen.get(m.indicator, 0) + 1
        if seen[m.indicator] <= FLOOD_SHOWN:
            out.append(m)
            continue
        summary = folded.get(m.indicator)
        if summary is None:
            summary = folded[m.indicator] = Move(m.at, "summary", "", [], indicator=m.indicator,
                                                 about=m.about,
                                                 change=dict.fromkeys(m.change, 0.0))
            out.append(summary)
        summary.count += 1
        summary.until = m.at
        for label, delta in m.change.items():
            summary.change[label] += delta
    for summary in folded.values():
        summary.words = f"and {count(summary.count, 'more sighting')} of: {summary.about}"
        summary.net = sorted(((label, d) for label, d in summary.change.items()
                              if abs(d) >= EPSILON), key=lambda x: -abs(x[1]))
    return out


def _indicator_board(session: Session, q: Question, start: datetime,
                     end: datetime) -> list[IndicatorLine]:
    sighted = dict(session.execute(
        select(Evidence.indicator_id, func.max(Evidence.observed_at))
        .where(Evidence.question_id == q.id, Evidence.state.not_in(NOT_APPLIED),
               Evidence.observed_at < end)
        .group_by(Evidence.indicator_id)).all())
    recent = dict(session.execute(
        select(Evidence.indicator_id, func.count())
        .where(Evidence.question_id == q.id, Evidence.state.not_in(NOT_APPLIED),
               Evidence.observed_at >= start, Evidence.observed_at < end)
        .group_by(Evidence.indicator_id)).all())
    return [IndicatorLine(i.id, oneline(i.description), sighted.get(i.id), recent.get(i.id, 0))
            for i in q.indicators if not i.retired]


def _feed_notices(session: Session, as_of: datetime) -> list[Notice]:
    """Feeds that are failing, and feeds that brought no new entry for a week."""
    last_entry = dict(session.execute(
        select(Entry.feed_id, func.max(Entry.fetched_at)).group_by(Entry.feed_id)
    ).all())
    out: list[Notice] = []
    for feed in session.scalars(select(Feed).where(Feed.retired.is_(False)).order_by(Feed.id)):
        state = state_of(feed, as_of)
        error = oneline(feed.last_error, 200) or "unknown error"
        if state.held_until is not None:
            out.append(Notice(feed.id, oneline(feed.url, 200),
                              f"{state} (its host asked to wait), last: {error}"))
            continue
        if state.state != "ok":  # failing, or gone (410)
            when = f" since {_day(feed.last_success)}" if feed.last_success else ""
            polls = (f"{count(feed.failures, 'failed poll')} in a row" if feed.failures
                     else "the last fetch failed (offline?)")
            out.append(Notice(feed.id, oneline(feed.url, 200),
                              f"failing{when}: {polls}, last: {error}"))
            continue
        last = last_entry.get(feed.id)
        if last is None:
            detail = "silent: never polled" if feed.last_polled is None else "silent: no entry yet"
            out.append(Notice(feed.id, oneline(feed.url, 200), detail))
        elif as_utc(last) < as_of - SILENT_AFTER:
            out.append(Notice(feed.id, oneline(feed.url, 200),
                              f"silent: no new entry since {_day(last)}"))
    return out


def _no_manual(session: Session, questions: list[Question], as_of: datetime) -> list[Notice]:
    last = dict(session.execute(
        select(Forecast.question_id, func.max(Forecast.at))
        .where(Forecast.source == "manual", Forecast.at <= as_of)
        .group_by(Forecast.question_id)).all())
    out = []
    for q in questions:
        when = last.get(q.id)
        if (as_utc(when) if when else day_start(q.opens)) < as_of - STALE_AFTER:
            detail = (f"last manual forecast {_day(when)}" if when
                      else f"no manual forecast since it opened on {q.opens.isoformat()}")
            out.append(Notice(q.id, oneline(q.title), detail))
    return out


def _day(moment: datetime | None) -> str:
    return as_utc(moment).strftime("%Y-%m-%d") if moment else "never"


# --- rendering ---------------------------------------------------------------------------------

def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir()),
        # Escape everything in HTML; the plain-text part is never parsed as markup.
        autoescape=lambda name: not (name or "").endswith(".txt.j2"),
        trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined,
    )
    env.filters["pct"] = pct
    env.filters["count"] = count  # {{ n | count("sighting") }}: "1 sighting", "2 sightings"
    env.filters["arrow_html"] = _arrow
    env.filters["arrow_text"] = lambda c: "" if c is None else (
        "=" if abs(c) < EPSILON else f"{'↑' if c > 0 else '↓'} {c * 100:+.1f} pts")
    env.filters["when"] = lambda m, tz: (
        as_utc(m).astimezone(zoneinfo.ZoneInfo(tz)).strftime("%a %d %b %Y %H:%M %Z") if m else "")
    env.filters["day"] = _day
    # Feed text escaped piece by piece around the <mark> tags: never trusted as markup.
    env.filters["quote_html"] = lambda h: markupsafe.Markup(
        marked(h.quote, h.marks, "<mark>", "</mark>", markupsafe.escape))
    env.filters["quote_text"] = lambda h: marked(h.quote, h.marks, "[", "]")
    env.filters["num"] = lambda v: "—" if v is None else f"{v:.3f}"
    return env


def _arrow(change: float | None) -> tuple[str, str, str]:
    """(symbol, words, colour) of a change since the last report."""
    if change is None:
        return "", "", "#666666"
    if abs(change) < EPSILON:
        return "▬", "no change", "#666666"
    if change > 0:
        return "▲", f"+{change * 100:.1f} pts", "#1a7f37"
    return "▼", f"{change * 100:.1f} pts", "#b3261e"


def fill_text(text: str, width: int = 100) -> str:
    """The plain-text report with every line within `width` columns, continuation lines
    indented under their text; a link longer than a line is left whole, to stay clickable."""
    out: list[str] = []
    for line in text.splitlines():
        if len(line) <= width:
            out.append(line)
            continue
        body = line.lstrip(" ")
        indent = " " * (len(line) - len(body))
        hang = indent + ("  " if body.startswith("- ") else "    ")
        out.extend(textwrap.wrap(body, width, initial_indent=indent, subsequent_indent=hang,
                                 break_long_words=False, break_on_hyphens=False))
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


def render(context: ReportContext, sources: dict[str, str]) -> tuple[str, str]:
    """(HTML with CSS inlined, plain text); `sources` maps image file names to their src.

    Over HTML_BUDGET bytes, it is rendered again with fewer details, one step at a time, until
    it fits: one headline per move; no quoted sentences and shorter titles; no headlines; the
    KEPT_MOVES largest moves of each question, the rest summed in one line. The report then
    says that it was shortened (`tracker evidence` and `tracker history` list everything)."""
    env = _environment()
    inliner = css_inline.CSSInliner(load_remote_stylesheets=False, keep_style_tags=False,
                                    keep_link_tags=False)
    for step in (None, *_SHORTER):
        if step is not None:
            context = replace(step(context), shortened=True)
        html = inliner.inline(env.get_template("report.html.j2").render(r=context,
                                                                         sources=sources))
        if len(html.encode("utf-8")) <= HTML_BUDGET:
            break
    text = fill_text(env.get_template("report.txt.j2").render(r=context))
    return html, text


def _each_move(context: ReportContext, change: Callable[[Move], Move]) -> ReportContext:
    questions = [replace(q, moves=[change(m) for m in q.moves]) for q in context.questions]
    return replace(context, questions=questions)


def _one_headline(context: ReportContext) -> ReportContext:
    return _each_move(context, lambda m: replace(
        m, headlines=m.headlines[:1], more=m.more + len(m.headlines[1:])))


def _bare_headlines(context: ReportContext) -> ReportContext:
    return _each_move(context, lambda m: replace(m, headlines=[
        replace(h, title=oneline(h.title, 120), quote="", marks=()) for h in m.headlines]))


def _no_headlines(context: ReportContext) -> ReportContext:
    return _each_move(context, lambda m: replace(m, headlines=[],
                                                 more=m.more + len(m.headlines)))


def _largest_moves(context: ReportContext) -> ReportContext:
    """Each question's KEPT_MOVES largest moves, in time order, and one line for the rest."""
    questions = []
    for q in context.questions:
        if len(q.moves) <= KEPT_MOVES:
            questions.append(q)
            continue
        size = {id(m): max((abs(d) for d in m.change.values()), default=0.0) for m in q.moves}
        kept = {id(m) for m in sorted(q.moves, key=lambda m: -size[id(m)])[:KEPT_MOVES]}
        rest = [m for m in q.moves if id(m) not in kept]
        net: dict[str, float] = {}
        for m in rest:
            for label, d in m.change.items():
                net[label] = net.get(label, 0.0) + d
        n = sum(m.count or 1 for m in rest)
        summary = Move(rest[0].at, "summary", f"and {count(n, 'smaller move')}, not shown here "
                       f"(`tracker history {q.id}` lists them)", [], count=n,
                       until=max(m.until or m.at for m in rest),
                       net=sorted(((k, d) for k, d in net.items() if abs(d) >= EPSILON),
                                  key=lambda x: -abs(x[1])))
        questions.append(replace(q, moves=[m for m in q.moves if id(m) in kept] + [summary]))
    return replace(context, questions=questions)


_SHORTER: tuple[Callable[[ReportContext], ReportContext], ...] = (
    _one_headline, _bare_headlines, _no_headlines, _largest_moves)


def message_id(session: Session, period: str) -> str:
    """Stable per period and database, so a resent report is recognised as the same message."""
    url = session.get_bind().engine.url.render_as_string(hide_password=True)
    digest = hashlib.sha256(url.encode()).hexdigest()[:12]
    return f"<report-{period}.{digest}@tracker>"


def _rendered(session: Session, period: str, now: datetime, mid: str
              ) -> tuple[ReportContext, str, str, list[ReportImage]]:
    """The report of `period` as of `now`: its context, HTML, text and chart images."""
    context = build_context(session, period, now)
    cid_base = mid.strip("<>").split("@", 1)[0]
    cids = {name: f"{name.removesuffix('.png')}.{cid_base}@tracker" for name in context.images}
    html, text = render(context, {name: f"cid:{cid}" for name, cid in cids.items()})
    images = [ReportImage(cid=cids[name], filename=name, content=png)
              for name, png in context.images.items()]
    return context, html, text, images


def preview_report(session: Session, now: datetime | None = None) -> Report:
    """The report of the period under way, as it stands now: never stored, so the outbox and
    the daemon's report of that period are untouched. Its text and HTML say it is partial."""
    now = as_utc(now) if now else utcnow()
    return unstored_report(session, period_of(now, load_settings(session)), now=now)


def unstored_report(session: Session, period: str, *, now: datetime | None = None) -> Report:
    """The report of `period` rendered as the database stands now, and not stored: nothing
    enters the outbox, so nothing is sent later (the period under way: a partial preview)."""
    now = as_utc(now) if now else utcnow()
    mid = message_id(session, period)
    context, html, text, images = _rendered(session, period, now, mid)
    return Report(period=period, period_start=context.start, period_end=context.end,
                  created_at=now, subject=context.subject, html=html, text=text,
                  message_id=mid, probabilities=context.probabilities, state="preview",
                  attempts=0, images=images)


def make_report(session: Session, period: str, *, now: datetime | None = None,
                force: bool = False) -> Report:
    """Render the report of `period` and store it in the outbox; an existing one is returned
    as it is unless `force` re-renders it (its outbox state is kept)."""
    now = as_utc(now) if now else utcnow()
    existing = session.scalars(select(Report).where(Report.period == period)).first()
    if existing is not None and not force:
        return existing
    mid = existing.message_id if existing is not None else message_id(session, period)
    context, html, text, images = _rendered(session, period, now, mid)
    if existing is not None:
        existing.subject, existing.html, existing.text = context.subject, html, text
        existing.probabilities = context.probabilities
        existing.period_start, existing.period_end = context.start, context.end
        existing.images = images
        session.flush()
        return existing
    report = Report(period=period, period_start=context.start, period_end=context.end,
                    created_at=now, subject=context.subject, html=html, text=text,
                    message_id=mid, probabilities=context.probabilities, state="pending",
                    attempts=0, next_attempt=now, images=images)
    try:
        with session.begin_nested():
            session.add(report)
    except IntegrityError:
        # Another daemon stored this period first: its report stands.
        return session.scalars(select(Report).where(Report.period == period)).one()
    return report


def html_for_files(report: Report, names: dict[str, str] | None = None) -> str:
    """The stored HTML with each cid: image replaced by its file name (images beside it):
    `names` (cid -> file name), else the image's own."""
    html = report.html
    for image in report.images:
        html = html.replace(f"cid:{image.cid}", (names or {}).get(image.cid, image.filename))
    return html
