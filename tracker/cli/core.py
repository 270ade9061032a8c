"""show, update, history, void: the questions and manual forecasts."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import click

from ..config import login_name
from ..corrections import void
from ..errors import UsageError
from ..ledger import (
    current_probabilities,
    get_question,
    later_manual,
    record_manual,
)
from ..queries import HistoryRow, history_rows, list_questions, question_view
from ..text import count, oneline, pct, when
from ..timeutil import iso
from . import (
    AUTHOR,
    ROW_ID,
    App,
    PastTime,
    emit_csv,
    emit_json,
    json_option,
    pass_app,
    since_options,
    wants_json,
    wrapped,
)


@click.command()
@click.argument("question", required=False)
@click.option("--all", "show_all", is_flag=True, help="Include retired questions.")
@click.option("--as-of", "as_of", type=PastTime(), metavar="TIME",
              help="One question as it stood then: F(TIME) and what had been recorded by then.")
@json_option
@pass_app
def show(app: App, question: str | None, show_all: bool, as_of: datetime | None,
         as_json: bool) -> None:
    """Every question with its current probabilities, or one question in full."""
    if as_of is not None and question is None:
        raise UsageError("--as-of needs a QUESTION", hint="e.g. tracker show Q --as-of 2024-01-01")
    with app.session() as session:
        if question is None:
            listed = list_questions(session, show_all)
            if as_json:
                emit_json(listed.to_json())
                return
            if not listed.questions:
                retired = listed.retired
                click.echo(f"every question is retired ({retired}): `tracker show --all` lists "
                           "them" if retired else
                           "no questions yet: add them to scenarios.yaml and run `tracker sync`")
            for q in listed.questions:
                click.echo(wrapped(f"{q.id}  [{q.status}]  {q.title}"))
                probs = current_probabilities(q)
                for s in q.scenarios:
                    mark = " <- resolved" if q.resolved_to == s.id else ""
                    click.echo(f"  {pct(probs[s.id]):>6}  {s.id}{mark}")
            return
        view = question_view(session, question, as_of)
    if as_json:
        emit_json(view.to_json())
        return
    q = view.question
    stood = f"  (as of {when(as_of)})" if as_of else ""
    click.echo(wrapped(f"{q.id}  [{view.status}]  {q.title}{stood}"))
    if view.recorded_later:
        click.echo(wrapped(f"note: {count(view.recorded_later, 'forecast')} dated by then but "
                           "recorded later (an import, the shipped record or a backdated "
                           "update) left out; `tracker history` has them", "  "))
    click.echo(f"  opens {q.opens}, closes {q.closes}")
    click.echo(wrapped(f"resolves: {q.resolution_criteria}", "  "))
    click.echo("scenarios:")
    for s in q.scenarios:
        click.echo(wrapped(f"{pct(view.probabilities[s.id]):>6}  {s.id}: {s.label}", "  ",
                           " " * 8))
    click.echo("indicators:")
    for i in view.indicators:
        last = view.sighted.get(i.id)
        seen = f"last sighted {when(last)}" if last else "not sighted yet"
        click.echo(wrapped(f"{i.id}: {i.description} ({seen})", "  "))
    click.echo("recent history:")
    for point in view.points[-8:]:
        _echo_point(point.at, point.source, point.probabilities, _cause(point))


def _vector(p: dict[str, float]) -> str:
    return " ".join(f"{k}={pct(v)}" for k, v in p.items())


def _echo_point(at: Any, source: str, p: dict[str, float], cause: str) -> None:
    """A forecast in history: time, source and vector, its cause on the lines below."""
    click.echo(wrapped(f"{when(at)}  {source:<10} {_vector(p)}", "  ", " " * 33))
    if cause:
        click.echo(wrapped(cause, " " * 24, ""))


def _cause(point: Any) -> str:
    if point.source == "manual":
        return f"by {point.by}: {point.note}"
    if point.source == "evidence":
        return f"indicator {point.indicator} (evidence {', '.join(map(str, point.evidence))})"
    if point.source in ("resolution", "silence"):
        return point.note or ""
    return ""


# A sign is read, so that a negative value is refused by the range check (forecast.check_update)
# as "outside [0, 1]", not as a malformed assignment.
_PROB = re.compile(r"^\s*(-?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(%?)\s*$")


def parse_assignments(pairs: tuple[str, ...]) -> dict[str, float]:
    """`SCENARIO=P` pairs, P as 0.25 or 25%; UsageError for anything else."""
    named: dict[str, float] = {}
    for pair in pairs:
        sid, sep, value = pair.partition("=")
        m = _PROB.match(value)
        if not sep or not sid.strip() or not m:
            raise UsageError(f"bad assignment {pair!r}: use SCENARIO=P, e.g. rejoins=0.1 or "
                             "rejoins=10%")
        p = float(m.group(1)) / (100 if m.group(2) else 1)
        if 1 < p <= 100 and not m.group(2):
            raise UsageError(f"probability {m.group(1)} for {sid.strip()} is outside [0, 1]",
                             hint=f"did you mean {sid.strip()}={m.group(1)}%?")
        if sid.strip() in named:
            raise UsageError(f"scenario {sid.strip()} named twice")
        named[sid.strip()] = p
    return named


@click.command()
@click.argument("question")
@click.argument("assignments", nargs=-1, required=True, metavar="SCENARIO=P...")
@click.option("--note", required=True, help="Why: the reason is kept with the forecast.")
@click.option("--by", "author", type=AUTHOR, default=None, help="Who (default: your login name).")
@click.option("--at", "at", type=PastTime(), default=None,
              help="Backdate the forecast (ISO 8601, UTC; never in the future).")
@pass_app
def update(app: App, question: str, assignments: tuple[str, ...], note: str,
           author: str | None, at: datetime | None) -> None:
    """Record a manual forecast: named scenarios take exactly the values given (0.25 or 25%);
    the others share what is left in proportion to their current values."""
    named = parse_assignments(assignments)
    by = author or login_name()
    with app.session() as session:
        q = get_question(session, question)
        old, new = record_manual(session, q, named, note=note, by=by, at=at)
        now = current_probabilities(q)
        later = later_manual(session, q, at) if at is not None else []
    if old == new:
        click.echo(f"{question}: no change, the forecast in force is already "
                   f"{_vector(new)}; nothing recorded")
        return
    click.echo(f"{question}: manual forecast by {oneline(by)}"
               + (f" at {when(at)}" if at else ""))
    for sid in new:
        click.echo(f"  {sid}: {pct(old[sid])} -> {pct(new[sid])}")
    if later:
        last = f"{when(later[-1].at)} by {oneline(later[-1].author)}"
        who = (f"the manual forecast of {last} overrides it" if len(later) == 1 else
               f"{len(later)} later manual forecasts override it, in force the one of {last}")
        click.echo(f"warning: not in force now: {who}; now {_vector(now)}", err=True)
    elif at is not None and any(pct(now[s]) != pct(new[s]) for s in new):
        click.echo(f"note: evidence since {when(at)} moves it; now {_vector(now)}", err=True)



@click.command()
@click.argument("question")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True)
@since_options
@json_option
@pass_app
def history(app: App, question: str, fmt: str, since: datetime | None, limit: int | None,
            as_json: bool) -> None:
    """Every forecast of a question in order: time, probabilities, source, author, note,
    evidence. --since and --limit keep the latest ones."""
    with app.session() as session:
        q = get_question(session, question)
        rows = history_rows(session, q)
        scenarios = [s.id for s in q.scenarios]
    if since is not None:
        rows = [r for r in rows if r.at >= since]
    rows = rows[-limit:] if limit else rows
    if wants_json(fmt, as_json):
        emit_json({"question": question, "forecasts": [r.to_json() for r in rows]})
        return
    if fmt == "csv":
        # voided_by: the void that took a forecast back (history shows both; `import` of this
        # CSV leaves the voided one out, as it leaves out the void); id: what `tracker void`
        # takes; voids: the forecast a void took back. Later columns come at the end.
        def cell(value: int | None) -> str:
            return "" if value is None else str(value)

        emit_csv(["at", *scenarios, "source", "by", "note", "evidence", "voided_by", "id",
                  "voids"],
                 [[iso(r.at), *(f"{r.probabilities[s]:.6f}" for s in scenarios), r.source,
                   r.by or "", r.note or "", " ".join(map(str, r.evidence)),
                   cell(r.voided_by), cell(r.id), cell(r.voids)]
                  for r in rows])
        return
    for r in rows:
        _echo_point(r.at, r.source, {s: r.probabilities[s] for s in scenarios}, _row_cause(r))


def _row_cause(r: HistoryRow) -> str:
    """What made a history row, for people: who and why, or which sighting."""
    cause = ""
    if r.source == "manual":
        cause = f"by {r.by}: {r.note}"
    elif r.source == "evidence":
        heads = "; ".join(h["title"] for h in (r.headlines or [])[:2])
        cause = f"{r.indicator} (evidence {', '.join(map(str, r.evidence))})"
        if heads:
            cause += f": {heads}"
    elif r.source == "resolution":
        cause = f"by {r.by}: {r.note or ''}"
    elif r.source in ("silence", "withdrawn"):
        cause = r.note or ""
    elif r.source == "void":
        cause = f"voids #{r.voids}, by {r.by}: {r.note}"
    if r.id is not None and r.source != "void":
        cause = f"#{r.id} " + cause
    if r.voided_by:
        cause += f" [voided by #{r.voided_by}]"
    return cause


@click.command(name="void")
@click.argument("forecast_id", metavar="ID", type=ROW_ID)
@click.option("--note", required=True, help="Why it is withdrawn: kept with the void.")
@click.option("--by", "author", type=AUTHOR, default=None, help="Who (default: your login name).")
@pass_app
def void_command(app: App, forecast_id: int, note: str, author: str | None) -> None:
    """Withdraw a manual forecast or a resolution (its ID from `tracker history`). Nothing is
    deleted: a void row names it, and history shows both. The question is rescored."""
    with app.session() as session:
        target, row = void(session, forecast_id, note=note, by=author or login_name())
        now = current_probabilities(get_question(session, target.question_id))
    click.echo(f"{target.question_id}: {target.source} #{target.id} of {when(target.at)} "
               f"voided (#{row.id}); now {_vector(now)}")

