"""evidence: list what the feeds sighted, and review it (confirm, dismiss, blocked)."""

from __future__ import annotations

import difflib
from datetime import datetime

import click

from ..config import login_name
from ..errors import UsageError
from ..evidence import STATES, already_reviewed, list_blocked, list_evidence, review
from ..text import for_terminal, marked, oneline, pct, when
from ..timeutil import as_utc, iso
from . import (
    AUTHOR,
    App,
    emit_csv,
    emit_json,
    json_option,
    pass_app,
    row_id,
    since_options,
    wants_json,
    wrapped,
)


class _EvidenceGroup(click.Group):
    """`tracker evidence [QUESTION]` lists; `confirm`/`dismiss` review: a first word that is
    not a subcommand is taken as the question id."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        i = 0
        while i < len(args):
            if args[i] in _VALUED:
                i += 2
            elif args[i].startswith("-"):
                i += 1
            else:
                if args[i] not in self.commands:
                    if _words(args[i + 1:]):
                        # `evidence approve 2`: a second word means the first was a command.
                        self._no_such_command(ctx, args[i])
                    ctx.meta[_QUESTION] = args[i]
                    args = args[:i] + args[i + 1:]
                break
        return super().parse_args(ctx, args)

    def _no_such_command(self, ctx: click.Context, word: str) -> None:
        close = difflib.get_close_matches(word, list(self.commands), n=1)
        hint = f"did you mean `{close[0]}`?" if close else "use `confirm ID` or `dismiss ID`"
        raise click.UsageError(f"{word!r} is not an evidence command: {hint}", ctx)


_QUESTION = "tracker.evidence.question"


_VALUED = ("--state", "--since", "--limit", "--format")


def _words(args: list[str]) -> list[str]:
    """The arguments that are neither options nor the value of one."""
    return [a for i, a in enumerate(args)
            if not a.startswith("-") and (i == 0 or args[i - 1] not in _VALUED)]


@click.group(cls=_EvidenceGroup, invoke_without_command=True)
@click.option("--state", type=click.Choice(STATES), help="Only items in this review state.")
@since_options
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True)
@json_option
@click.pass_context
def evidence(ctx: click.Context, state: str | None, since: datetime | None, limit: int | None,
             fmt: str, as_json: bool) -> None:
    """List evidence, newest first, of one QUESTION or all: id, indicator, observed time,
    state, headline, the sentence that reports it with its terms marked, link, factor
    ((w·L + 1 − w)^r: w the chance it is right, r its repeat power, docs/model.md; 1 when not
    applied).

    Usage: tracker evidence [QUESTION] [--state S] [--since TIME] [--limit N] [--json]
    """
    if ctx.invoked_subcommand is not None:
        return
    app = ctx.find_object(App)
    assert app is not None
    question = ctx.meta.get(_QUESTION)
    with app.session() as session:
        items = list_evidence(session, question, state)
    if since is not None:
        items = [e for e in items if as_utc(e.observed_at) >= since]
    items = items[:limit] if limit else items
    if wants_json(fmt, as_json):
        emit_json({"evidence": [e.to_json() for e in items]})
        return
    if fmt == "csv":
        emit_csv(["id", "question", "indicator", "observed_at", "state", "factor", "hits",
                  "feed", "title", "link"],
                 [[e.id, e.question, e.indicator, iso(e.observed_at), e.state,
                   " ".join(f"{s}={v:.6g}" for s, v in e.factor.items()), len(e.hits),
                   *((str(getattr(e.hits[0], k) or "") for k in ("feed", "title", "link"))
                     if e.hits else ("", "", ""))] for e in items])
        return
    if not items:
        click.echo("no evidence")
        return
    for e in items:
        factor = " ".join(f"{s}={v:.3g}" for s, v in e.factor.items())
        click.echo(wrapped(f"#{e.id}  {when(e.observed_at)}  {e.state:<9} {e.question}/"
                           f"{e.indicator}  x[{factor}]"))
        if e.state == "withdrawn" and e.note:
            click.echo(wrapped(f"({oneline(e.note)})", "    "))
        # A live item shows its live hits; a withdrawn one, what it was (every hit withdrawn).
        live = [h for h in e.hits if not h.withdrawn_at]
        for h in live if e.state != "withdrawn" else e.hits:
            click.echo(wrapped(f"{h.feed}: {oneline(h.title)}", "    "))
            if h.sentence:
                quote = marked(h.sentence, h.marks, "[", "]", for_terminal)
                click.echo(wrapped(f"\u201c{quote}\u201d", "      ", ""))
            if h.link:
                click.echo(wrapped(h.link, "      ", ""))


@evidence.command()
@click.argument("question", required=False)
@json_option
@pass_app
def blocked(app: App, question: str | None, as_json: bool) -> None:
    """Matches a negation, hypothetical, simulation or retrospective cue kept from counting
    (of one QUESTION or all), newest first: the sentence, the cue and its kind."""
    with app.session() as session:
        items = list_blocked(session, question)
    if as_json:
        emit_json({"blocked": [b.to_json() for b in items]})
        return
    if not items:
        click.echo("no blocked matches")
    for b in items:
        click.echo(wrapped(f"{when(b.observed_at)}  {b.question}/{b.indicator}  blocked by "
                           f"\"{b.cue}\" ({b.kind})"))
        click.echo(wrapped(f"{b.feed}: \u201c{for_terminal(b.sentence)}\u201d", "    "))


def _review(app: App, evidence_id: int, state: str, note: str | None, by: str | None) -> None:
    with app.session() as session:
        item = already_reviewed(session, evidence_id, state)
        if item is not None:
            click.echo(f"evidence #{evidence_id} is already {state} (by {item.reviewed_by} "
                       f"{when(item.reviewed_at)}); nothing changed")
            return
        done = review(session, evidence_id, state, note=note, by=by or login_name())
    click.echo(f"evidence #{done.evidence_id} {done.state}; {done.question_id}:")
    for s, new in done.new.items():
        click.echo(f"  {s}: {pct(done.old[s])} -> {pct(new)}")


def _evidence_id(value: str) -> int:
    try:
        return row_id(value)
    except ValueError:
        raise UsageError(f"bad evidence id {value[:40]!r}",
                         hint="use the number `tracker evidence` lists") from None


@evidence.command()
@click.argument("evidence_id", metavar="ID")
@click.option("--note", help="Why you confirm it.")
@click.option("--by", type=AUTHOR, help="Who reviews (default: your login name).")
@pass_app
def confirm(app: App, evidence_id: str, note: str | None, by: str | None) -> None:
    """Confirm an evidence item: it weighs fully (w = 1); the question is rescored."""
    _review(app, _evidence_id(evidence_id), "confirmed", note, by)


@evidence.command()
@click.argument("evidence_id", metavar="ID")
@click.option("--note", help="Why you dismiss it.")
@click.option("--by", type=AUTHOR, help="Who reviews (default: your login name).")
@pass_app
def dismiss(app: App, evidence_id: str, note: str | None, by: str | None) -> None:
    """Dismiss an evidence item: it no longer moves the question, which is rescored."""
    _review(app, _evidence_id(evidence_id), "dismissed", note, by)
