"""Commands of the analyst's rule loop: try rules on a text, a file or a feed; rematch."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import UsageError
from ..text import count, for_terminal, marked, oneline
from ..timeutil import utcnow
from ..trial import spec_matcher, trials_json, try_bytes, try_text, try_url
from . import App, emit_json, json_option, pass_app


@click.command("try")
@click.argument("text", required=False)
@click.option("--file", "path", type=click.Path(dir_okay=False, path_type=Path),
              help="Try a text file (first line the title) or a feed file, entry by entry.")
@click.option("--url", metavar="URL",
              help="Fetch one feed now and try every entry; nothing is stored.")
@json_option
@pass_app
def try_(app: App, text: str | None, path: Path | None, url: str | None, as_json: bool) -> None:
    """Dry run: which indicators of scenarios.yaml match TEXT (first line the title), in which
    sentence, with which terms, and which matches a cue blocked. Nothing is stored."""
    if sum(x is not None for x in (text, path, url)) != 1:
        raise UsageError("give a TEXT, --file F or --url URL (one of them)")
    spec = app.scenarios()
    if text is not None:
        trials = try_text(spec, text)
    elif path is not None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
        trials = try_bytes(spec, data)
    else:
        assert url is not None
        trials = try_url(spec, url)
    _, questions = spec_matcher(spec)
    if as_json:
        emit_json(trials_json(trials, questions))
        return
    several = len(trials) > 1
    for t in trials:
        if several:
            click.echo(f"entry: {oneline(t.title)}")
        pad = "  " if several else ""
        for m in t.found.matches:
            click.echo(f"{pad}match    {questions[m.indicator]}/{m.indicator}: "
                       f"{marked(m.sentence, m.marks, '[', ']', for_terminal)}")
        for b in t.found.blocked:
            click.echo(f"{pad}blocked  {questions[b.indicator]}/{b.indicator} by "
                       f"\"{b.cue}\" ({b.kind}): "
                       f"{marked(b.sentence, b.marks, '[', ']', for_terminal)}")
        if not t.found.matches and not t.found.blocked:
            click.echo(f"{pad}no indicator matches")


@click.command()
@click.argument("question", required=False)
@json_option
@pass_app
def rematch(app: App, question: str | None, as_json: bool) -> None:
    """Match every stored entry again with the current rules (of one QUESTION or all): add
    the sightings they now find, withdraw auto sightings they no longer find (kept in history
    as withdrawn, reason "rule changed"; reviewed ones keep their review), rescore once."""
    from ..rematch import rematch as rematch_entries  # the database side: not for `try`

    with app.session() as session:
        report = rematch_entries(session, question, now=utcnow())
    if as_json:
        emit_json(report.to_json())
        return
    for c in report.changes:
        if c.added or c.lost or c.kept:
            line = (f"{c.question}/{c.indicator}: {count(len(c.added), 'new hit')}, "
                    f"{len(c.lost)} withdrawn")
            if c.kept:
                line += f", {c.kept} kept (reviewed)"
            click.echo(line)
    click.echo(f"rematched {count(len(report.changes), 'indicator')}: "
               f"{report.new_evidence} new evidence, "
               f"{len(report.withdrawn)} withdrawn"
               + (f"; rescored {', '.join(report.rescored)}" if report.rescored else ""))

