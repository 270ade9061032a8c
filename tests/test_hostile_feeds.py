"""Hostile feeds and servers, as an attacker on the network would play them: entity bombs in
every disguise, a byte that garbles a feed, validators that wedge it, redirects into the
private network, a flood of entries, a dead feed that never backs off."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from tests.feedserver import FeedServer, fixture
from tracker.fetch import Fetcher, FetchResult
from tracker.parse import parse_feed

from .test_poll import entries, evidence_json, feed_row, server, setup_tracker  # noqa: F401

ITEM = ('<rss version="2.0"><channel><title>t</title><item><title>Tashkent and the CSTO'
        '</title><description>{refs}</description><link>https://x.example/1</link>'
        '</item></channel></rss>')


def entity_bomb(kind: str, value: int = 6000, refs: int = 2000) -> bytes:
    """A feed that declares a big entity and refers to it many times (value · refs chars once
    expanded): in the disguises that got past the old guard, and the plain one."""
    entity = f'<!ENTITY a "{"A" * value}">'
    body = ITEM.format(refs="&a;" * refs)
    if kind == "after a doctype without a subset":
        return f'<?xml version="1.0"?>\n<!DOCTYPE rss>\n{entity}\n{body}'.encode()
    if kind == "no doctype at all":
        return f'<?xml version="1.0"?>\n{entity}\n{body}'.encode()
    declaration = '<?xml version="1.0" encoding="{}"?>\n'
    subset = f"<!DOCTYPE rss [\n{entity}\n]>\n"
    encoding = {"utf-16 subset": "utf-16", "utf-16-be subset without a bom": "utf-16-be",
                "utf-32 subset": "utf-32", "ebcdic subset": "cp037",
                "utf-8 subset": "utf-8"}[kind]
    return (declaration.format(encoding.upper()) + subset + body).encode(encoding)


BOMBS = ["after a doctype without a subset", "no doctype at all", "utf-16 subset",
         "utf-16-be subset without a bom", "utf-32 subset", "ebcdic subset", "utf-8 subset"]


@pytest.mark.parametrize("kind", BOMBS)
def test_no_entity_expands_in_any_disguise(kind: str) -> None:
    feed = parse_feed(entity_bomb(kind))
    assert feed.error is None and feed.warning is not None
    assert "entity declarations ignored" in feed.warning
    [entry] = feed.entries
    assert entry.title == "Tashkent and the CSTO"
    assert "AAAA" not in entry.summary and entry.link == "https://x.example/1"


def test_a_declaration_too_broken_to_strip_is_refused() -> None:
    body = b'<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY a "AAAA">\n' + ITEM.format(
        refs="&a;" * 10).encode()
    feed = parse_feed(body)
    assert feed.entries == [] and feed.error == "entity declarations refused"


def test_entity_bombs_through_a_poll_store_nothing_expanded(
    db_url: str, tmp_path: Path, server: FeedServer  # noqa: F811
) -> None:
    # full size: 120 KB that expanded to 1.2 GB of text, 3.4 GB and 70 s in the old parser
    feeds = {}
    for i, kind in enumerate(BOMBS[:3]):
        server.set(f"/bomb{i}.xml", entity_bomb(kind, value=60_000, refs=20_000),
                   content_type="application/xml")
        feeds[f"bomb{i}"] = server.url(f"/bomb{i}.xml")
    t = setup_tracker(db_url, tmp_path, feeds)
    t.ok("poll")
    for fid in feeds:
        [entry] = entries(db_url, fid)
        assert "AAAA" not in entry.summary
        assert "entity declarations ignored" in (feed_row(db_url, fid).warning or "")


def test_one_bad_byte_does_not_garble_a_cyrillic_feed(
    db_url: str, tmp_path: Path, server: FeedServer  # noqa: F811
) -> None:
    body = fixture("cyrillic.xml").replace("Казахстан".encode(), "Казахстан".encode() + b"\xff",
                                           1)
    assert body != fixture("cyrillic.xml")
    server.set("/ru.xml", body)
    t = setup_tracker(db_url, tmp_path, {"ru": server.url("/ru.xml")})
    t.ok("poll")
    assert [e.title for e in entries(db_url, "ru")] == [
        "ОДКБ направит миротворцев в Казахстан\ufffd",
        "Ташкент не рассматривает возвращение в ОДКБ"]
    assert feed_row(db_url, "ru").warning == "1 invalid UTF-8 byte replaced"
    # The Cyrillic words were read: the negated return is seen, and blocked by its cue.
    assert evidence_json(t) == []
    (blocked,) = json.loads(t.ok("evidence", "blocked", "--json").output)["blocked"]
    assert (blocked["indicator"], blocked["cue"]) == ("uz-csto-talks", "не")


def test_a_latin1_feed_labelled_utf8_is_still_read_as_latin1() -> None:
    body = fixture("latin1.xml").replace(b"ISO-8859-1", b"UTF-8")
    feed = parse_feed(body)
    assert feed.entries[0].title == "L'OTSC renforce sa présence à la frontière tadjike"


@pytest.mark.parametrize("header", ["etag", "last_modified"])
def test_a_non_ascii_validator_never_wedges_a_feed(
    db_url: str, tmp_path: Path, server: FeedServer, header: str  # noqa: F811
) -> None:
    server.set_file("/v.xml", "rss20.xml")
    server.set_fault("/v.xml", **{header: {"etag": '"caf\u00e9"',
                                           "last_modified": "Mon, 1 Jan 2024 \u00e9"}[header]})
    t = setup_tracker(db_url, tmp_path, {"v": server.url("/v.xml")})
    assert "v: 3 new entries" in t.ok("poll").output
    assert getattr(feed_row(db_url, "v"), header) is None
    server.set_file("/v.xml", "cyrillic.xml")  # a new body, within the same second
    server.set_fault("/v.xml", last_modified=None)
    assert "v: 2 new entries" in t.ok("poll", "--all").output
    assert server.hits("/v.xml") == 2


def test_a_stored_bad_validator_is_not_sent(server: FeedServer) -> None:  # noqa: F811
    import asyncio

    server.set_file("/v.xml", "rss20.xml")

    async def go() -> str:
        async with Fetcher() as fetcher:
            result = await fetcher.fetch(server.url("/v.xml"), etag='"caf\u00e9"',
                                         last_modified="\u00e9\r\nX-Evil: 1")
            return result.outcome

    assert asyncio.run(go()) == "ok"
    [request] = server.requests("/v.xml")
    assert "if-none-match" not in request and "x-evil" not in request


def test_a_dead_feed_polled_alone_backs_off(db_url: str, tmp_path: Path) -> None:
    from tests.feedserver import closed_port

    t = setup_tracker(db_url, tmp_path, {"dead": f"http://127.0.0.1:{closed_port()}/a.xml"})
    for attempt in (1, 2, 3):
        result = t("poll", "dead")
        assert result.exit_code == 1 and "offline" not in result.output
        row = feed_row(db_url, "dead")
        assert row.failures == attempt and row.last_error == "connection refused"
    assert row.next_poll is not None and row.last_error_at is not None
    assert row.next_poll - row.last_error_at > timedelta(hours=3)  # 30 min · 2^3, jittered


def fetch_with_dns(url: str, answers: dict[str, list[list[str]]], **options: object
                   ) -> FetchResult:
    """One fetch where DNS gives, for the names in `answers`, each list in turn (the last one
    from then on); other names resolve as usual."""
    import asyncio
    import socket

    asked: dict[str, int] = {}

    async def resolve(host: str) -> list[str]:
        if host not in answers:
            infos = await asyncio.get_running_loop().getaddrinfo(host, None,
                                                                 type=socket.SOCK_STREAM)
            return [str(info[4][0]) for info in infos]
        asked[host] = asked.get(host, 0) + 1
        return answers[host][min(asked[host], len(answers[host])) - 1]

    async def run() -> FetchResult:
        async with Fetcher(resolve=resolve, connect_timeout=2, **options) as fetcher:  # type: ignore[arg-type]
            return await fetcher.fetch(url)

    return asyncio.run(run())


PUBLIC = "93.184.216.34"


def test_a_name_with_a_public_and_a_private_address_is_no_bridge(
    server: FeedServer,  # noqa: F811
) -> None:
    # mixed.test reaches this server at 127.0.0.1 but also has a public address: it may be
    # the internet, so its redirect into loopback is refused
    server.set_fault("/hop.xml", redirect=server.url("/secret.xml"))
    server.set_file("/secret.xml", "rss20.xml")
    result = fetch_with_dns(server.url("/hop.xml", host="mixed.test"),
                            {"mixed.test": [["127.0.0.1", PUBLIC]]})
    assert result.error == "redirect to a private address 127.0.0.1 refused"
    assert server.hits("/hop.xml") == 1 and server.hits("/secret.xml") == 0


def test_a_redirect_target_whose_dns_rebinds_is_never_reached(
    server: FeedServer,  # noqa: F811
) -> None:
    # the guard sees a public address; DNS then answers 127.0.0.1 to whoever asks next
    server.set_fault("/hop.xml", redirect=server.url("/secret.xml", host="rebind.test"))
    server.set_file("/secret.xml", "rss20.xml")
    result = fetch_with_dns(server.url("/hop.xml", host="localhost"),
                            {"rebind.test": [[PUBLIC], ["127.0.0.1"]]},
                            public_hosts={"localhost"})
    assert result.outcome == "error"
    assert server.hits("/hop.xml") == 1 and server.hits("/secret.xml") == 0


def test_a_name_reaches_the_server_through_the_address_checked(
    server: FeedServer,  # noqa: F811
) -> None:
    server.set_file("/a.xml", "rss20.xml")
    result = fetch_with_dns(server.url("/a.xml", host="feeds.test"),
                            {"feeds.test": [["127.0.0.1"]]})
    assert result.outcome == "ok"
    assert server.requests("/a.xml")[0]["host"] == f"feeds.test:{server.port}"


@pytest.mark.parametrize("address", [
    "100.64.0.1", "100.100.100.200", "192.0.0.8", "198.18.0.1", "192.88.99.1",
    "2002:7f00:1::1", "2002:a00:1::1", "fec0::1", "64:ff9b::7f00:1", "64:ff9b:1::1",
    "::127.0.0.1", "2001:db8::1", "ff02::1", "3fff::1",
])
def test_special_purpose_addresses_are_not_public(address: str) -> None:
    from tracker.fetch import _is_public_address

    assert _is_public_address(address) is False


def test_a_utf7_body_declaring_an_entity_is_transcoded_and_stripped() -> None:
    text = ('<?xml version="1.0" encoding="UTF-7"?>\n<!DOCTYPE rss [\n<!ENTITY a "AAAA">\n]>\n'
            + ITEM.format(refs="&a;" * 10))
    feed = parse_feed(text.encode("utf-7"))
    assert [e.title for e in feed.entries] == ["Tashkent and the CSTO"]
    assert "AAAA" not in feed.entries[0].summary


SPOOF = ('<rss version="2.0"><channel><title>t</title><item><guid>s1</guid>'
         '<title>CSTO warns of Taliban \u202eexe.gpj\u202c threat</title>'
         '<description>CSTO ministers discuss Afghan\u2066istan\u2069 and the Taliban.'
         '</description><pubDate>Fri, 20 Aug 2021 09:00:00 GMT</pubDate></item>'
         '</channel></rss>')


def test_a_feed_cannot_drive_the_terminal(db_url: str, tmp_path: Path,
                                          server: FeedServer) -> None:  # noqa: F811
    """Bidirectional overrides in a feed's title and summary (U+202E shows "gpj.exe" as
    "exe.jpg") and escape sequences in a name on the command line reach the terminal as
    U+FFFD, never as themselves: in `try --url`, `evidence`, `evidence blocked` and `update`."""
    server.set("/spoof.xml", SPOOF.encode())
    t = setup_tracker(db_url, tmp_path, {"spoof": server.url("/spoof.xml")})
    tried = t.ok("try", "--url", server.url("/spoof.xml")).output
    t.ok("poll")
    listed = t.ok("evidence").output + t.ok("evidence", "blocked").output
    said = t.ok("update", "uzbekistan-rejoins", "rejoins=0.1", "--note", "n",
                "--by", "ev\x1b]0;owned\x07il\nname").output
    for output in (tried, listed, said):
        assert not any(c in output for c in "\u202e\u202c\u2066\u2069\x1b\x07"), repr(output)
    assert "match" in tried and "\ufffd" in tried
    assert "CSTO warns of Taliban" in listed
    assert "manual forecast by ev ]0;owned il name" in said.splitlines()[0]
