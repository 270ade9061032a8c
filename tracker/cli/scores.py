"""score, resolve, scores: current probabilities from the log, resolutions and the record."""

from __future__ import annotations

import math
from datetime import datetime

import click

from ..config import login_name
from ..corrections import current_resolution, void
from ..ledger import get_question, question_score, resolved_scores
from ..ledger import resolve as resolve_question
from ..queries import rescore_questions
from ..scores import TRACKS, QuestionScore
from ..text import count, pct, when
from ..timeutil import iso, utcnow
from . import AUTHOR, App, PastTime, emit_csv, emit_json, json_option, pass_app, wants_json


@click.command()
@click.argument("question", required=False)
@json_option
@pass_app
def score(app: App, question: str | None, as_json: bool) -> None:
    """Recompute the current probabilities of every question (or one) from the log."""
    with app.session() as session:
        done = rescore_questions(session, question, utcnow())
    if as_json:
        emit_json(done.to_json())
        return
    for qid, p in done.probabilities.items():
        resolved = done.resolved_to.get(qid)
        mark = f"  [resolved: {resolved}]" if resolved else ""
        click.echo(f"{qid}{mark}  " + " ".join(f"{s}={pct(v)}" for s, v in p.items()))


@click.command()
@click.argument("question")
@click.argument("scenario")
@click.option("--at", "at", type=PastTime(), default=None,
              help="When the world decided it (ISO 8601, UTC; default now, never in the future).")
@click.option("--note", default="", help="How it resolved, e.g. the source.")
@click.option("--by", "author", type=AUTHOR, default=None, help="Who (default: your login name).")
@pass_app
def resolve(app: App, question: str, scenario: str, at: datetime | None, note: str,
            author: str | None) -> None:
    """Resolve QUESTION to SCENARIO and score it. A mistaken resolution is undone with
    `tracker unresolve` (the record keeps both)."""
    with app.session() as session:
        q = get_question(session, question)
        forecast = resolve_question(session, q, scenario, by=author or login_name(), note=note,
                                    at=at)
        result = question_score(session, q)
    click.echo(f"{question}: resolved to {scenario} at {when(forecast.at)}")
    click.echo(_table(result))


def _number(value: float | None, fmt: str) -> str:
    if value is None:
        return "n/a"
    return "-inf" if value == -math.inf else format(value, fmt)


def _table(result: QuestionScore) -> str:
    span = f"{result.days[0]} .. {result.days[-1]}"
    lines = [f"  {count(len(result.days), 'day')} ({span})",
             f"  {'track':<9} {'brier':>7} {'log':>8} {'skill':>7}"]
    for name, t in result.tracks.items():
        lines.append(f"  {name:<9} {_number(t.brier, '.4f'):>7} {_number(t.log, '.4f'):>8} "
                     f"{_number(t.skill, '+.3f'):>7}")
    return "\n".join(lines)


@click.command()
@click.argument("question", required=False)
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True, help="csv: a row per question and track (no calibration).")
@json_option
@pass_app
def scores(app: App, question: str | None, fmt: str, as_json: bool) -> None:
    """Per resolved question: time-averaged Brier and log scores of the tracker, the analyst
    (manual forecasts only), the evidence (prior and evidence only) and the prior, skill
    against the prior; a calibration table of the tracker's daily forecasts."""
    with app.session() as session:
        scored, bins = resolved_scores(session, question)
        rows = [(q.id, q.resolved_to, q.resolved_at, s) for q, s in scored]
    if fmt == "csv" and not as_json:
        emit_csv(["question", "resolved_to", "resolved_at", "days", "track", "brier", "log",
                  "skill"],
                 [[qid, k, iso(at), len(s.days), name, _number(s.tracks[name].brier, ".6f"),
                   _number(s.tracks[name].log, ".6f"), _number(s.tracks[name].skill, ".6f")]
                  for qid, k, at, s in rows for name in TRACKS])
        return
    if wants_json(fmt, as_json):
        emit_json({
            "questions": [
                {"id": qid, "resolved_to": k, "resolved_at": iso(at), "days": len(s.days),
                 "tracks": {name: s.tracks[name].to_json() for name in TRACKS}}
                for qid, k, at, s in rows
            ],
            "calibration": [b.to_json() for b in bins],
        })
        return
    if not rows:
        click.echo("no resolved questions yet: resolve one with `tracker resolve`")
        return
    for qid, k, at, s in rows:
        click.echo(f"{qid} -> {k} (resolved {when(at)})")
        click.echo(_table(s))
    click.echo("calibration (tracker, every scenario and day):")
    click.echo(f"  {'bin':<11} {'count':>6} {'mean':>7} {'observed':>8}")
    for b in bins:
        label = f"[{b.low:.1f}, {b.high:.1f}{']' if b.high == 1.0 else ')'}"
        click.echo(f"  {label:<11} {b.count:>6} {_number(b.mean_forecast, '.3f'):>7} "
                   f"{_number(b.observed, '.3f'):>8}")


@click.command()
@click.argument("question")
@click.option("--note", required=True, help="Why the resolution is withdrawn.")
@click.option("--by", "author", type=AUTHOR, default=None, help="Who (default: your login name).")
@pass_app
def unresolve(app: App, question: str, note: str, author: str | None) -> None:
    """Withdraw a question's resolution: it is open again, and history keeps the resolution
    and its void."""
    with app.session() as session:
        q = get_question(session, question)
        target, row = void(session, current_resolution(session, q).id, note=note,
                           by=author or login_name())
    was = ", ".join(k for k, v in target.probabilities.items() if v == 1)
    click.echo(f"{question}: resolution #{target.id} ({was}) voided (#{row.id}); open again")

