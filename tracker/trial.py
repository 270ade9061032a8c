"""The analyst's rule loop without the database: try the rules of scenarios.yaml on a text, a
file or one feed fetched now, and see what matches, in which sentence, and what a cue blocked."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any

from .errors import UnavailableError, UsageError
from .matching import Cues, Found, Matcher, Rule
from .parse import parse_feed
from .scenarios import ScenarioFile, check_url


@dataclass(frozen=True)
class Trial:
    """What the rules found in one entry (a feed's entry, or the text tried)."""

    title: str
    link: str | None
    found: Found


def spec_matcher(spec: ScenarioFile) -> tuple[Matcher, dict[str, str]]:
    """A matcher of every indicator of the file, with the question of each indicator."""
    rules = {i.id: Rule.from_mapping(i.match) for q in spec.questions for i in q.indicators}
    questions = {i.id: q.id for q in spec.questions for i in q.indicators}
    return Matcher(rules, Cues.from_settings(spec.settings.matching)), questions


def try_text(spec: ScenarioFile, text: str) -> list[Trial]:
    """Try a text: its first line is the title, the rest the summary."""
    title, _, summary = text.strip().partition("\n")
    matcher, _ = spec_matcher(spec)
    return [Trial(title, None, matcher.find(title, summary))]


def try_bytes(spec: ScenarioFile, data: bytes, url: str = "") -> list[Trial]:
    """Try every entry of a feed, read as the poller reads it (a byte-order mark, a comment
    or a DOCTYPE before the root are fine); a file that is no feed is tried as text. From a
    URL (`url` given), what the poller would refuse as no feed is refused here too."""
    parsed = parse_feed(data, url=url) if _markup(data) or url else None
    if parsed is not None and (parsed.entries or not parsed.error):
        matcher, _ = spec_matcher(spec)
        return [Trial(e.title, e.link, matcher.find(e.title, e.summary))
                for e in parsed.entries]
    if url:
        assert parsed is not None and parsed.error
        raise UsageError(f"not a usable feed: {parsed.error}",
                         hint="the poller would count this a failed poll")
    if parsed is not None and _FEED_ROOT.search(data[:4096]):
        # a feed that does not parse: say why, as the poller would
        raise UsageError(f"not a usable feed: {parsed.error}")
    try:
        return try_text(spec, data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise UsageError("the file is neither a feed nor UTF-8 text") from None


_FEED_ROOT = re.compile(rb"<(?:rss|feed|rdf:rdf)\b", re.IGNORECASE)


def _markup(data: bytes) -> bool:
    """Whether the bytes open like XML or HTML (after a byte-order mark and white space)."""
    for bom in (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"):
        data = data.removeprefix(bom)
    head = data[:64].lstrip()
    return head.startswith(b"<")


def try_url(spec: ScenarioFile, url: str) -> list[Trial]:
    """Fetch one feed now (as the poller would) and try every entry; nothing is stored."""
    problem = check_url(url)
    if problem:  # bad input, not an outage
        raise UsageError(problem, hint="give the http(s) URL of a feed")

    from .fetch import Fetcher  # httpx: only for --url

    async def fetch() -> bytes:
        async with Fetcher() as fetcher:
            result = await fetcher.fetch(url)
        if result.error:
            raise UnavailableError(f"could not fetch {url}: {result.error}")
        return result.body or b""

    return try_bytes(spec, asyncio.run(fetch()), url)


def trials_json(trials: list[Trial], questions: dict[str, str]) -> dict[str, Any]:
    """The JSON of `tracker try`: every match and every blocked match, entry by entry."""
    matches, blocked = [], []
    for t in trials:
        for m in t.found.matches:
            matches.append({"question": questions.get(m.indicator), "indicator": m.indicator,
                            "sentence": m.sentence, "terms": list(m.terms),
                            "marks": [list(x) for x in m.marks], "entry": t.title,
                            "link": t.link})
        for b in t.found.blocked:
            blocked.append({"question": questions.get(b.indicator), "indicator": b.indicator,
                            "sentence": b.sentence, "cue": b.cue, "kind": b.kind,
                            "terms": list(b.terms), "entry": t.title, "link": t.link})
    return {"matches": matches, "blocked": blocked}
