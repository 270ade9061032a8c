"""Parse feed bytes with feedparser into plain, normalized entries; no network, no database."""

from __future__ import annotations

import calendar
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from types import ModuleType
from typing import Any
from urllib.parse import urljoin, urlsplit


@cache
def _feedparser() -> ModuleType:
    """feedparser, loaded when a body is first parsed (in the parse workers; a poll where every
    feed answers 304 never needs it), and set to defusedxml's expat reader before any parse:
    it refuses entity declarations outright (EntitiesForbidden, which is no SAXException, so
    feedparser's loose fallback never runs on such a body): should one get past
    _strip_declarations, the feed fails instead of expanding."""
    import feedparser
    import feedparser.api

    feedparser.api.PREFERRED_XML_PARSERS[:] = ["defusedxml.expatreader"]
    return feedparser

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
    body, content_type, repaired = _as_utf8(body, content_type)
    body, had_entities = _strip_declarations(body)
    first = _FIRST_ELEMENT.search(body)
    if _ENTITY.search(body[: first.start() if first else len(body)]):
        # a declaration too broken to strip: feedparser's loose parser would still use it
        return ParsedFeed([], None, None, "entity declarations refused")
    # No Content-Location on purpose: feedparser would resolve relative guids against it, and
    # a key must not change when the feed's URL does; links are resolved below instead.
    headers = {"content-type": content_type or "application/xml"}
    # feedparser's own sanitizer and URI resolution cost 30x the parse on markup-heavy
    # summaries (3.9 MB of "<a bbbb…": 1.6 s of CPU against 0.05 s), and a summary is never
    # rendered: it is matched, as plain text (tracker/sentences.py). Scripts, styles and
    # comments are dropped below; every text is escaped wherever it is shown.
    result = _feedparser().parse(body, response_headers=headers, sanitize_html=False,
                                 resolve_relative_uris=False)
    bozo = _bozo_text(result) if result.get("bozo") else None
    for note in (repaired, "entity declarations ignored" if had_entities else None):
        if note:
            bozo = note + (f"; {bozo}" if bozo else "")
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
# Line and page separators (VT, FF, NEL, U+2028, U+2029) end a line of a summary; the other
# control characters are dropped.
_LINE_BREAKS = re.compile(r"[\x0b\x0c\x85\u2028\u2029]")
_CONTROL_KEEP_NEWLINES = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f]")


# Scripts, styles, comments and the tags that embed other documents: dropped from stored text
# in one linear pass (possessive quantifiers, `[^<>]`), whatever the feed left unclosed.
_ACTIVE = re.compile(
    r"<!--.*?(?:-->|\Z)"
    r"|<(script|style)(?![\w:.-])[^<>]*+>.*?(?:</\1(?![\w:.-])[^<>]*+>|\Z)"
    r"|</?(?:script|style|iframe|object|embed|applet|frame|frameset|link|meta|base|form)"
    r"(?![\w:.-])"
    r"[^<>]*+>?",
    re.DOTALL | re.IGNORECASE,
)


def _clean_line(value: Any, limit: int) -> str:
    """A one-line text: control characters become spaces, runs of whitespace one space."""
    if not isinstance(value, str):
        return ""
    if "<" in value:
        value = _ACTIVE.sub(" ", value)
    text = " ".join(_CONTROL.sub(" ", value).split())
    return _cap(text, limit)


def _clean_text(value: Any, limit: int) -> str:
    if not isinstance(value, str):
        return ""
    if "<" in value:
        value = _ACTIVE.sub(" ", value)
    value = _LINE_BREAKS.sub("\n", value)
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


# The prolog, token by token: an XML declaration or other processing instruction, a comment, a
# declaration (DOCTYPE, ENTITY) whose quoted literals, comments and [internal subset] may hide
# '>', or the start of the root element, where the prolog ends.
_INERT = rb"\"[^\"]*\"|'[^']*'|<!--.*?-->"  # each alternative starts with its own mark,
_SUBSET = rb"\[(?:" + _INERT + rb"|[^\]\"'<]|<(?!!--))*\]"  # so nothing backtracks
_PROLOG_TOKEN = re.compile(
    rb"<\?.*?\?>|<!--.*?-->|<!(?:" + _INERT + rb"|" + _SUBSET + rb"|[^>\[\"'<]|<(?!!--))*>|<",
    re.DOTALL,
)
_FIRST_ELEMENT = re.compile(rb"<\w")  # where feedparser's own prolog handling stops
_ENTITY = re.compile(rb"<!ENTITY", re.IGNORECASE)
_XML_DECLARATION = re.compile(rb"^<\?xml[^>]*?\?>")
_DECLARED_ENCODING = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_BOMS = ((b"\x00\x00\xfe\xff", "utf-32-be"), (b"\xff\xfe\x00\x00", "utf-32-le"),
         (b"\xfe\xff", "utf-16-be"), (b"\xff\xfe", "utf-16-le"), (b"\xef\xbb\xbf", "utf-8"))
# '<?' or '<' in the wide encodings without a byte order mark (XML 1.0 appendix F)
_WIDE = ((b"\x00\x00\x00<", "utf-32-be"), (b"<\x00\x00\x00", "utf-32-le"),
         (b"\x00<\x00?", "utf-16-be"), (b"<\x00?\x00", "utf-16-le"), (b"Lo\xa7\x94", "cp037"))
BAD_BYTES_MAX = 0.001  # invalid UTF-8 bytes replaced in place, as a share of the body


def _as_utf8(body: bytes, content_type: str | None) -> tuple[bytes, str | None, str | None]:
    """The body in UTF-8 when it was in an encoding where '<!ENTITY' is not ASCII (UTF-16,
    UTF-32, EBCDIC, UTF-7...), or UTF-8 with a few bad bytes; else as it came.

    Returns (body, content type, warning). Only then can declarations be found and stripped
    in bytes, before feedparser decodes the body its own way.
    """
    head = body[:4]
    sniffed = next((enc for bom, enc in _BOMS if head.startswith(bom)), None) or next(
        (enc for start, enc in _WIDE if head.startswith(start)), None)
    declared = [enc for enc in (_charset(content_type), _xml_encoding(body)) if enc]
    wide = [enc for enc in [sniffed or "", *declared] if enc and not _ascii_compatible(enc)]
    if wide:
        try:
            text = body.decode(wide[0])
        except UnicodeDecodeError:
            text = body.decode(wide[0], "replace")
        return _utf8_document(text.lstrip("\ufeff")), "application/xml; charset=utf-8", None
    encoding = (declared[0] if declared else sniffed) or "utf-8"
    if _codec(encoding) != "utf-8":
        return body, content_type, None
    try:
        body.decode("utf-8")
        return body, content_type, None
    except UnicodeDecodeError:
        pass
    # One bad byte must not send the whole feed through a legacy codec (mojibake, hits lost);
    # many mean the label is wrong, and feedparser's own fallback knows better.
    text = body.decode("utf-8", "replace")
    bad = text.count("\ufffd") - body.count("\ufffd".encode())
    if bad > max(4, len(body) * BAD_BYTES_MAX):
        return body, content_type, None
    plural = "byte" if bad == 1 else "bytes"
    return (text.encode("utf-8"), "application/xml; charset=utf-8",
            f"{bad} invalid UTF-8 {plural} replaced")


def _charset(content_type: str | None) -> str | None:
    for param in (content_type or "").split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip("\"'") or None
    return None


def _xml_encoding(body: bytes) -> str | None:
    found = _DECLARED_ENCODING.match(body.lstrip()[:200])
    return found.group(1).decode("ascii") if found else None


def _codec(name: str) -> str | None:
    import codecs

    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _ascii_compatible(name: str) -> bool:
    """Whether markup is ASCII in this encoding; an unknown one is taken to be (feedparser
    cannot decode it either)."""
    if _codec(name) is None:
        return True
    try:
        return "<!ENTITY>".encode(name) == b"<!ENTITY>"
    except (UnicodeError, LookupError):
        return True


def _utf8_document(text: str) -> bytes:
    body = text.encode("utf-8")
    declaration = _XML_DECLARATION.match(body)
    if declaration is None:
        return body
    fixed = re.sub(rb"""encoding\s*=\s*["'][^"']*["']""", b'encoding="utf-8"',
                   declaration.group())
    return fixed + body[declaration.end():]


def _strip_declarations(body: bytes) -> tuple[bytes, bool]:
    """Remove the DOCTYPE and every ENTITY declaration of the prolog when it declares an
    entity, wherever in the prolog it does (inside an internal subset or after a DOCTYPE
    without one), so no entity can expand: not in expat, not in feedparser's loose parser.
    """
    if _ENTITY.search(body) is None:
        return body, False
    declarations: list[tuple[int, int]] = []
    entities = False
    for token in _PROLOG_TOKEN.finditer(body):
        mark = token.group()
        if mark.startswith(b"<!") and not mark.startswith(b"<!--"):
            declarations.append(token.span())
            entities = entities or _ENTITY.search(mark) is not None
        elif not mark.startswith((b"<?", b"<!--")):
            break  # the root element (or junk): the prolog is over
    if not entities:
        return body, False
    kept, at = [], 0
    for start, end in declarations:
        kept.append(body[at:start])
        at = end
    kept.append(body[at:])
    return b"".join(kept), True
