"""tracker.parse on the fixture feeds: formats, encodings, keys, dates, and hostile documents."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.feedserver import fixture
from tracker.parse import ParsedFeed, observed_time, parse_feed

PASSWD = Path("/etc/passwd").read_text(errors="replace") if Path("/etc/passwd").exists() else ""


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def parse(name: str, **options: str) -> ParsedFeed:
    return parse_feed(fixture(name), **options)


def all_text(feed: ParsedFeed) -> str:
    parts = [feed.title or "", feed.warning or "", feed.error or ""]
    for e in feed.entries:
        parts += [e.key, e.guid or "", e.link or "", e.title, e.summary]
    return "\n".join(parts)


@pytest.mark.parametrize(
    ("name", "feed_title", "expected"),
    [
        (
            "rss091.xml",
            "Central Asia Wire",
            [
                (
                    "CSTO holds drills on the Tajik-Afghan border",
                    "http://wire.example.org/2021/10/csto-drills-tajik-afghan-border",
                    None,
                    "link:http://wire.example.org/2021/10/csto-drills-tajik-afghan-border",
                ),
                (
                    "Dushanbe asks allies for help guarding the frontier",
                    "http://wire.example.org/2021/10/dushanbe-asks-allies",
                    None,
                    "link:http://wire.example.org/2021/10/dushanbe-asks-allies",
                ),
            ],
        ),
        (
            "rss092.xml",
            "Steppe Monitor",
            [
                (
                    "Tokayev requests CSTO peacekeepers after unrest in Almaty",
                    "http://steppe.example.net/news/2022-01-05-tokayev-csto",
                    None,
                    "link:http://steppe.example.net/news/2022-01-05-tokayev-csto",
                ),
                ("CSTO mission begins withdrawal from Kazakhstan", None, None, "hash:"),
            ],
        ),
        (
            "rss20.xml",
            "Eurasia Security Review",
            [
                (
                    "Uzbekistan weighs rejoining the CSTO",
                    "https://review.example.com/2021/07/uzbekistan-weighs-csto",
                    utc(2021, 7, 12, 6, 30),
                    "id:esr-2021-0712",
                ),
                (
                    "Azerbaijan and Armenia trade accusations at the OSCE",
                    "https://review.example.com/2021/07/baku-yerevan-osce",
                    utc(2021, 7, 13, 18, 0),
                    "id:https://review.example.com/2021/07/baku-yerevan-osce",
                ),
                (
                    "Russia reinforces its 201st base in Tajikistan",
                    None,  # a javascript: link is dropped
                    utc(2021, 7, 20, 6, 15),
                    "id:esr-2021-0720",
                ),
            ],
        ),
        (
            "rss10.rdf",
            "Caucasus Digest",
            [
                (
                    "Armenia freezes its participation in the CSTO",
                    "http://caucasus.example.org/a/1001",
                    utc(2023, 11, 22, 10, 5),
                    "id:http://caucasus.example.org/a/1001",
                ),
                (
                    "Baku signals no interest in CSTO membership",
                    "http://caucasus.example.org/a/1002",
                    utc(2023, 11, 23, 10, 0),
                    "id:http://caucasus.example.org/a/1002",
                ),
            ],
        ),
        (
            "atom10.xml",
            "Afghanistan Frontier Watch",
            [
                (
                    "Last US troops leave Kabul airport",
                    "https://frontier.example.com/2021/08/31/last-us-flight",
                    utc(2021, 8, 31, 17, 59),  # published wins over updated
                    "id:tag:frontier.example.com,2021:entry-831",
                ),
                (
                    "CSTO ministers meet in Dushanbe on <i>Afghan</i> spillover",
                    "https://frontier.example.com/2021/09/15/csto-dushanbe",  # relative, resolved
                    utc(2021, 9, 15, 12, 0),  # only updated
                    "id:tag:frontier.example.com,2021:entry-915",
                ),
            ],
        ),
        (
            "cyrillic.xml",
            "Новости Евразии",
            [
                (
                    "ОДКБ направит миротворцев в Казахстан",
                    "https://novosti.example.ru/2022/01/06/odkb-kazakhstan",
                    utc(2022, 1, 5, 22, 10),
                    "id:https://novosti.example.ru/2022/01/06/odkb-kazakhstan",
                ),
                (
                    "Ташкент не рассматривает возвращение в ОДКБ",
                    "https://novosti.example.ru/2022/02/10/uzbekistan-odkb",
                    utc(2022, 2, 10, 9, 0),
                    "id:https://novosti.example.ru/2022/02/10/uzbekistan-odkb",
                ),
            ],
        ),
        (
            "latin1.xml",
            "Revue de la sécurité eurasienne",
            [
                (
                    "L'OTSC renforce sa présence à la frontière tadjike",
                    "http://revue.example.fr/2021/10/otsc-frontiere",
                    utc(2021, 10, 22, 6, 0),
                    "id:http://revue.example.fr/2021/10/otsc-frontiere",
                ),
            ],
        ),
    ],
)
def test_formats(
    name: str,
    feed_title: str,
    expected: list[tuple[str, str | None, datetime | None, str]],
) -> None:
    feed = parse(name, url="https://frontier.example.com/feed.xml")
    assert (feed.error, feed.warning, feed.title) == (None, None, feed_title)
    got = [(e.title, e.link, e.published, e.key) for e in feed.entries]
    assert len(got) == len(expected)
    for (title, link, published, key), want in zip(got, expected, strict=True):
        assert (title, link, published) == want[:3]
        assert key.startswith(want[3]) if want[3] == "hash:" else key == want[3]


def test_cdata_html_summary_is_kept_sanitized() -> None:
    summary = parse("rss20.xml").entries[0].summary
    assert "<b>membership</b>" in summary and "have begun" in summary
    assert "<script" not in summary and "alert" not in summary


def test_a_script_block_ends_at_a_closing_tag_with_more_before_its_bracket() -> None:
    """As a browser reads it: "</script x>" closes the block (the rest of the summary used to
    go with it), and "<script-x>" is no script (what followed it was dropped)."""
    body = (b'<?xml version="1.0"?><rss version="2.0"><channel><item><title>t</title>'
            b"<description><![CDATA[Shots <script>alert(1)</script x>near Batken. "
            b"<script-x>Two killed.</script-x>]]></description></item></channel></rss>")
    summary = parse_feed(body).entries[0].summary
    assert "alert" not in summary and "near Batken." in summary and "Two killed." in summary


def test_charset_from_the_content_type_header() -> None:
    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><item>'
        b"<title>L'OTSC \xe0 Douchanb\xe9</title></item></channel></rss>"
    )
    feed = parse_feed(body, content_type="application/rss+xml; charset=iso-8859-1")
    assert feed.error is None and feed.entries[0].title == "L'OTSC à Douchanbé"


def test_entries_without_dates_or_links() -> None:
    feed = parse("no_dates.xml")
    assert [e.published for e in feed.entries] == [None, None]
    assert feed.entries[0].key == "link:https://bulletin.example.kg/ceasefire"
    hashed = feed.entries[1]
    assert hashed.guid is None and hashed.link is None
    assert hashed.key.startswith("hash:") and len(hashed.key) == 5 + 64
    assert parse("no_dates.xml").entries[1].key == hashed.key  # stable across parses


def test_future_entry_counts_from_the_fetch_time() -> None:
    fetched_at = utc(2026, 3, 1, 12, 0)
    summit, drill = parse("future.xml").entries
    assert summit.published == utc(2095, 1, 1)
    assert observed_time(summit.published, fetched_at) == fetched_at
    assert observed_time(drill.published, fetched_at) == utc(2021, 10, 20, 10, 0)


def test_observed_time_rules() -> None:
    fetched_at = utc(2026, 3, 1, 12, 0)
    assert observed_time(None, fetched_at) == fetched_at
    assert observed_time(fetched_at - timedelta(days=2), fetched_at) == fetched_at - timedelta(
        days=2
    )
    assert observed_time(fetched_at, fetched_at) == fetched_at
    assert observed_time(fetched_at + timedelta(seconds=1), fetched_at) == fetched_at


def test_duplicate_guids_share_a_key() -> None:
    # both are returned: deduplication against what is stored is the poller's job
    keys = [e.key for e in parse("duplicate_guids.xml").entries]
    assert keys == ["id:echo-42", "id:echo-42", "id:echo-43"]


def test_same_story_in_two_feeds_has_the_same_key() -> None:
    a, b = parse("same_story_a.xml").entries, parse("same_story_b.xml").entries
    assert (
        a[0].key == b[0].key == "link:https://agency.example.com/2021/08/20/csto-ministers-taliban"
    )
    assert a[0].summary != b[0].summary


@pytest.mark.parametrize(
    ("name", "content_type", "error"),
    [
        ("malformed.xml", None, "malformed XML: <unknown>:5:33: mismatched tag"),
        ("page.html", "text/html; charset=utf-8", "not a feed (HTML page)"),
        ("page.html", None, "not a feed (HTML page)"),
        ("empty.xml", None, "empty body"),
        (
            "invalid_bytes.bin",
            None,
            "malformed XML: <unknown>:2:0: not well-formed (invalid token)",
        ),
    ],
)
def test_unusable_bodies(name: str, content_type: str | None, error: str) -> None:
    feed = parse_feed(fixture(name), content_type=content_type)
    assert feed.entries == [] and feed.error == error


def test_whitespace_is_an_empty_body() -> None:
    assert parse_feed(b" \n\t ").error == "empty body"


def test_xml_without_feed_elements() -> None:
    assert parse_feed(b"<note>hi</note>").error == "not a feed (no RSS or Atom elements)"


def test_a_well_formed_feed_with_no_items_is_not_an_error() -> None:
    feed = parse_feed(b'<rss version="2.0"><channel><title>Quiet</title></channel></rss>')
    assert (feed.entries, feed.title, feed.error) == ([], "Quiet", None)


def test_billion_laughs_never_expands() -> None:
    tracemalloc.start()
    try:
        feed = parse("billion_laughs.xml")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * 1024 * 1024
    assert "lollol" not in all_text(feed)
    assert feed.error is None and feed.warning is not None
    assert feed.warning.startswith("entity declarations ignored")
    assert [e.link for e in feed.entries] == ["https://laughs.example.com/1"]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_external_entities_are_never_read(encoding: str) -> None:
    text = fixture("xxe.xml").decode().replace("UTF-8", encoding.upper())
    feed = parse_feed(text.encode(encoding))
    assert [e.link for e in feed.entries] == ["https://innocent.example.com/1"]
    everything = all_text(feed)
    assert "root:" not in everything
    for line in PASSWD.splitlines()[:5]:
        assert line not in everything


def test_entity_declared_on_separate_lines_is_not_expanded() -> None:
    body = (
        b'<?xml version="1.0"?>\n<!DOCTYPE rss [\n  <!ENTITY who "Tashkent">\n]>\n'
        b'<rss version="2.0"><channel><item><title>&who; and the CSTO</title>'
        b"<link>https://x.example.com/1</link></item></channel></rss>"
    )
    feed = parse_feed(body)
    assert "Tashkent" not in all_text(feed)
    assert feed.entries[0].link == "https://x.example.com/1"


def test_text_is_cleaned_and_capped() -> None:
    long_id = "urn:x:" + "9" * 400
    body = (
        '<rss version="2.0"><channel><item>'
        f"<title>CSTO\x0b drills &#x7; on\n the   border{'!' * 2000}</title>"
        f"<guid>{long_id}</guid>"
        f"<description>{'Dushanbe. ' * 5000}</description>"
        "</item></channel></rss>"
    ).encode()
    entry = parse_feed(body).entries[0]
    assert entry.title.startswith("CSTO drills on the border!!!")
    assert len(entry.title) == 1000 and entry.title.endswith("…")
    assert len(entry.summary) == 20000
    assert entry.guid == long_id
    assert entry.key.startswith("id:sha256:") and len(entry.key) <= 255


@pytest.mark.parametrize(
    "link",
    ["javascript:alert(1)", "data:text/html,hi", "ftp://files.example.com/x", "mailto:a@b.c"],
)
def test_only_http_links_are_kept(link: str) -> None:
    body = (
        f'<rss version="2.0"><channel><item><title>t</title><link>{link}</link>'
        "</item></channel></rss>"
    ).encode()
    entry = parse_feed(body).entries[0]
    assert entry.link is None and entry.key.startswith("hash:")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_never_raises_on_arbitrary_bytes(body: bytes) -> None:
    feed = parse_feed(body)
    assert isinstance(feed, ParsedFeed)
    assert feed.error is None or feed.entries == []


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_never_raises_on_damaged_feeds(data: st.DataObject) -> None:
    body = bytearray(fixture(data.draw(st.sampled_from(["rss20.xml", "atom10.xml", "xxe.xml"]))))
    for _ in range(data.draw(st.integers(1, 10))):
        body[data.draw(st.integers(0, len(body) - 1))] = data.draw(st.integers(0, 255))
    feed = parse_feed(bytes(body))
    for entry in feed.entries:
        assert len(entry.key) <= 255 and len(entry.title) <= 1000
        assert entry.link is None or entry.link.startswith(("http://", "https://"))


def test_line_separators_in_a_summary_keep_words_apart() -> None:
    """U+2028, U+2029, VT and FF separate lines: dropped, they glued words together
    ("Tashkent\\u2028will" read as "Tashkentwill") and a sighting went unseen."""
    from tracker.matching import Matcher, Rule

    summary = "Tashkent\u2028will\u2029return to\x0bthe\x0cCSTO, officials\x01 said."
    body = ("<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>t</title>"
            f"<item><guid>1</guid><title>News</title><description>{summary}</description>"
            "</item></channel></rss>").encode()
    (entry,) = parse_feed(body).entries
    assert entry.summary.split() == ["Tashkent", "will", "return", "to", "the", "CSTO,",
                                     "officials", "said."]
    rule = Rule.from_mapping({"all": [["Tashkent"], ["CSTO"]], "any": ["return*"]})
    assert Matcher({"uz": rule}).match(entry.title, entry.summary) == {
        "uz": ("Tashkent", "CSTO", "return*")}
