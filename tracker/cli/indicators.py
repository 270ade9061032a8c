"""indicators: the indicator report card."""

from __future__ import annotations

import click

from ..indicators import IndicatorCard, indicator_cards
from . import App, emit_csv, emit_json, json_option, pass_app, wants_json

COLUMNS = ("sightings", "confirmed", "dismissed", "pending", "withdrawn")


def _table(cards: list[IndicatorCard]) -> list[str]:
    """One line per indicator under a line naming its question."""
    width = max(len("indicator"), *(len(c.id) for c in cards))
    header = f"  {'indicator':<{width}} {' '.join(COLUMNS)} reliability contribution"
    lines: list[str] = []
    for i, c in enumerate(cards):
        if i == 0 or c.question != cards[i - 1].question:
            lines += [c.question, header]
        counts = " ".join(f"{getattr(c, k):>{len(k)}}" for k in COLUMNS)
        contribution = "n/a" if c.contribution is None else f"{c.contribution:+.4f}"
        lines.append(f"  {c.id:<{width}} {counts} {c.reliability:>11.3f} {contribution:>12}")
    return lines


@click.command()
@click.argument("question", required=False)
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True)
@json_option
@pass_app
def indicators(app: App, question: str | None, fmt: str, as_json: bool) -> None:
    """Per indicator: sightings by review state, the reliability weight of its unreviewed
    sightings, and, once its question is resolved, its contribution to the evidence track's
    mean log score (with it minus without it; positive: it helped)."""
    with app.session() as session:
        cards = indicator_cards(session, question)
    if wants_json(fmt, as_json):
        emit_json({"indicators": [c.to_json() for c in cards]})
        return
    if fmt == "csv":
        keys = list(IndicatorCard.__dataclass_fields__)
        emit_csv(keys, [["" if v is None else v for v in c.to_json().values()] for c in cards])
        return
    if not cards:
        click.echo("no indicators to show: `tracker sync` adds those of scenarios.yaml; a retired "
                   "one is listed while it has sightings")
        return
    click.echo("\n".join(_table(cards)))

