"""poll: fetch the feeds, store what they bring, match and rescore."""

from __future__ import annotations

import sys
from typing import Any

import click

from ..db import check_schema
from ..poll import FeedOutcome, PollSummary
from ..poll import poll as poll_feeds
from ..text import count, when
from ..timeutil import iso
from . import App, emit_json, json_option, pass_app


def _entries(n: int) -> str:
    return count(n, "new entry", "new entries")


def feed_line(o: FeedOutcome) -> str:
    """One line for people about one feed's poll."""
    if o.outcome == "ok":
        text = f"{o.feed}: {_entries(o.new_entries)}, {count(o.hits, 'hit')}"
        if o.new_evidence:
            text += f", {o.new_evidence} new evidence"
        if o.blocked:
            text += f", {o.blocked} blocked"
        return text + (f" (warning: {o.warning})" if o.warning else "")
    if o.outcome == "not_modified":
        return f"{o.feed}: not modified"
    if o.outcome == "unchanged":
        return f"{o.feed}: unchanged"
    if o.outcome == "gone":
        return f"{o.feed}: gone: {o.error}"
    if o.outcome == "skipped":
        return f"{o.feed}: skipped ({o.error})"
    return (f"{o.feed}: failed: {o.error} ({count(o.failures, 'failure')}, "
            f"next poll {when(o.next_poll)})")


def summary_json(s: PollSummary) -> dict[str, Any]:
    """The JSON form of a poll."""
    return {
        "feeds": [{"id": o.feed, "outcome": o.outcome, "new_entries": o.new_entries,
                   "hits": o.hits, "new_evidence": o.new_evidence, "blocked": o.blocked,
                   "error": o.error,
                   "warning": o.warning, "failures": o.failures, "next_poll": iso(o.next_poll)}
                  for o in s.feeds],
        "new_entries": s.new_entries,
        "hits": s.hits,
        "new_evidence": s.new_evidence,
        "blocked": s.blocked,
        "offline": s.offline,
        "questions_rescored": s.questions_rescored,
    }


class _Progress:
    """A one-line progress counter on stderr, drawn only when stderr is a terminal."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self.total = 0
        self.done = 0

    def start(self, total: int) -> None:
        self.total = total
        self._draw()

    def clear(self) -> None:
        if self.enabled:
            click.echo("\r\x1b[K", nl=False, err=True)

    def step(self) -> None:
        self.done += 1
        self._draw()

    def _draw(self) -> None:
        if not self.enabled or not self.total:
            return
        width = 30
        filled = width * self.done // self.total
        bar = "#" * filled + "-" * (width - filled)
        click.echo(f"\rpolling [{bar}] {self.done}/{self.total}", nl=False, err=True)


@click.command()
@click.argument("feeds", nargs=-1, metavar="[FEED]...")
@click.option("--all", "all_feeds", is_flag=True, help="Poll every active feed, due or not.")
@json_option
@pass_app
def poll(app: App, feeds: tuple[str, ...], all_feeds: bool, as_json: bool) -> None:
    """Poll the due feeds (or those named, or --all): store entries, match indicators,
    record evidence, rescore. Exits 0 while any feed worked."""
    check_schema(app.engine)
    progress = _Progress()

    def on_feed(outcome: FeedOutcome) -> None:
        progress.clear()
        if not as_json:
            click.echo(feed_line(outcome))
        progress.step()

    summary = poll_feeds(app.sessions, feed_ids=list(feeds) or None, all_feeds=all_feeds,
                         on_feed=on_feed, on_start=progress.start)
    progress.clear()
    if as_json:
        emit_json(summary_json(summary))
    else:
        polled = len(summary.feeds) - summary.skipped
        line = (f"{count(polled, 'feed')} polled, {summary.failed} failed"
                + (f", {summary.skipped} skipped" if summary.skipped else "") + ": "
                f"{_entries(summary.new_entries)}, {count(summary.hits, 'hit')}, "
                f"{summary.new_evidence} new evidence")
        if summary.blocked:
            line += f", {summary.blocked} blocked by a cue"
        if summary.offline:
            line += " (offline: every fetch failed at the network level; failures not counted)"
        if summary.questions_rescored:
            line += f"; rescored {', '.join(summary.questions_rescored)}"
        idle = ("no active feed: add one under feeds: in scenarios.yaml, then `tracker sync`"
                if all_feeds else "no feed is due (use --all or name feeds)")
        if summary.leased:
            idle = (f"no feed is due ({count(summary.leased, 'feed')} being polled by "
                    "another process)")
        click.echo(line if summary.feeds else idle)
    if not summary.ok:
        raise SystemExit(1)
