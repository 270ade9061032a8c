"""Parse feed bytes with feedparser into plain, normalized entries; no network, no database."""

from __future__ import annotations

import calendar
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser

TITLE_MAX = 1000
SUMMARY_MAX = 20000
LINK_MAX = 2048
KEY_MAX = 255


@dataclass
class ParsedEntry:
    """One entry of a feed, normalized: the key deduplicates it within its feed."""

    key: str
    guid: str | None
    link: str | None
    title: str
    summary: str
    published: datetime | None


@dataclass
class ParsedFeed:
    """What a feed body yielded: entries, or an error when nothing usable was found."""

    entries: list[ParsedEntry]
    title: str | None
    warning: str | None
    error: str | None


def parse_feed(body: bytes, *, content_type: str | None = None, url: str = "") -> ParsedFeed:
    """Parse an RSS or Atom body (with its Content-Type) into entries; never raises."""
    try:
        return _parse(body, content_type, url)
    except Exception as exc:  # a feed must never crash the poller, whatever it sends
        return ParsedFeed([], None, None, f"could not parse: {type(exc).__name__}: {exc}")


def observed_time(published: datetime | None, fetched_at: datetime) -> datetime:
    """The time an entry counts from (§5): its published time, unless missing or in the future."""
    if published is None or published > fetched_at:
        return fetched_at
    return published


def _parse(body: bytes, content_type: str | None, url: str) -> ParsedFeed:
    if not body.strip():
        return ParsedFeed([], None, None, "empty body")
    body, had_entities = _strip_internal_subset(body)
    # No Content-Location on purpose: feedparser would resolve relative guids against it, and
    # a key must not change when the feed's URL does; links are resolved below instead.
    headers = {"content-type": content_type or "application/xml"}
    result = feedparser.parse(body, response_headers=headers)
    bozo = _bozo_text(result) if result.get("bozo") else None
    if had_entities:
        bozo = "entity declarations ignored" + (f"; {bozo}" if bozo else "")
    entries = [_entry(raw, url) for raw in result.get("entries", [])]
    title = _clean_line(result.get("feed", {}).get("title", ""), TITLE_MAX) or None
    if entries:
        return ParsedFeed(entries, title, bozo, None)
    if _looks_like_html(body, content_type) and not result.get("version"):
        return ParsedFeed([], title, None, "not a feed (HTML page)")
    if bozo:
        return ParsedFeed([], title, None, f"malformed XML: {bozo}")
    if not result.get("version"):
        return ParsedFeed([], title, None, "not a feed (no RSS or Atom elements)")
    # a well-formed feed that simply has no items yet is not a failure
    return ParsedFeed([], title, None, None)


def _entry(raw: Any, url: str) -> ParsedEntry:
    title = _clean_line(raw.get("title", ""), TITLE_MAX)
    summary = _clean_text(raw.get("summary", ""), SUMMARY_MAX)
    link = _clean_link(raw.get("link"), url)
    guid = _clean_line(raw.get("id", ""), 10 * KEY_MAX) or None
    # plain dict lookups: FeedParserDict maps a missing updated_parsed to published_parsed
    # (with a DeprecationWarning), and the fallback order is ours to state
    published = _to_datetime(dict.get(raw, "published_parsed")) or _to_datetime(
        dict.get(raw, "updated_parsed")
    )
    return ParsedEntry(_key(guid, link, title, published), guid, link, title, summary, published)


def _key(guid: str | None, link: str | None, title: str, published: datetime | None) -> str:
    if guid:
        prefix, value = "id:", guid
    elif link:
        prefix, value = "link:", link
    else:
        stamp = published.isoformat() if published else ""
        prefix, value = "hash:", _sha256(f"{title}\n{stamp}")
    if len(prefix) + len(value) > KEY_MAX:
        # long ids still deduplicate exactly, through their hash
        value = "sha256:" + _sha256(value)
    return prefix + value


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _to_datetime(parsed: Any) -> datetime | None:
    if not parsed:
        return None
    try:
        # feedparser's struct_time is already UTC
        return datetime.fromtimestamp(calendar.timegm(parsed), UTC)
    except (OverflowError, ValueError, OSError, TypeError):
        return None


def _clean_link(value: Any, base: str) -> str | None:
    if not isinstance(value, str):
        return None
    link = value.strip()
    if len(link) > LINK_MAX or _CONTROL.search(link):
        return None
    try:
        link = urljoin(base, link) if base else link
        parts = urlsplit(link)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return link


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_KEEP_NEWLINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")


def _clean_line(value: Any, limit: int) -> str:
    """A one-line text: control characters become spaces, runs of whitespace one space."""
    if not isinstance(value, str):
        return ""
    text = " ".join(_CONTROL.sub(" ", value).split())
    return _cap(text, limit)


def _clean_text(value: Any, limit: int) -> str:
    if not isinstance(value, str):
        return ""
    return _cap(_CONTROL_KEEP_NEWLINES.sub("", value).strip(), limit)


def _cap(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "…"


def _bozo_text(result: Any) -> str:
    exc = result.get("bozo_exception")
    text = " ".join(str(exc).split()) if exc is not None else "unknown problem"
    return text[:300] or type(exc).__name__


def _looks_like_html(body: bytes, content_type: str | None) -> bool:
    if content_type and content_type.split(";")[0].strip().lower() in (
        "text/html",
        "application/xhtml+xml",
    ):
        return True
    head = body[:1024].lstrip().lower()
    return head.startswith(b"<!doctype html") or head.startswith(b"<html")


# Tokens of a DOCTYPE declaration: quoted literals and comments may hide brackets and '>'.
_DOCTYPE_START = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
_DOCTYPE_TOKEN = re.compile(rb"\"[^\"]*\"|'[^']*'|<!--.*?-->|[\[\]>]", re.DOTALL)
_ELEMENT_START = re.compile(rb"<[A-Za-z_:]")


def _strip_internal_subset(body: bytes) -> tuple[bytes, bool]:
    """Remove a DOCTYPE that has an internal subset, so no entity it declares can expand.

    feedparser already drops most entity declarations and expat refuses external ones; this
    makes the guarantee ours rather than a side effect (ASCII-compatible encodings only).
    """
    start = _DOCTYPE_START.search(body)
    if start is None:
        return body, False
    first_element = _ELEMENT_START.search(body)
    if first_element is not None and first_element.start() < start.start():
        return body, False
    depth, end, subset = 0, len(body), False
    for token in _DOCTYPE_TOKEN.finditer(body, start.end()):
        mark = token.group()
        if mark == b"[":
            depth, subset = depth + 1, True
        elif mark == b"]":
            depth = max(depth - 1, 0)
        elif mark == b">" and depth == 0:
            end = token.end()
            break
    if not subset:
        return body, False
    declared = b"<!ENTITY" in body[start.start() : end].upper()
    return body[: start.start()] + body[end:], declared
