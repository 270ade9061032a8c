"""tracker.fetch against a real local HTTP server: every fault gives a clear result."""

from __future__ import annotations

import asyncio
import gzip
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from tests.feedserver import FeedServer, closed_port, fixture, gzip_bomb
from tracker import __version__
from tracker.fetch import Fetcher, FetchResult, _is_public_address, _retry_after
from tracker.text import when


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    with FeedServer() as server:
        yield server


def fetch(url: str, **options: Any) -> FetchResult:
    """One fetch with a fresh Fetcher; `etag` and `last_modified` go to fetch()."""
    validators = {k: options.pop(k) for k in ("etag", "last_modified") if k in options}

    async def run() -> FetchResult:
        async with Fetcher(**options) as fetcher:
            return await fetcher.fetch(url, **validators)

    return asyncio.run(run())


def test_ok_returns_body_validators_and_sends_our_headers(feed_server: FeedServer) -> None:
    feed_server.set_file("/rss.xml", "rss20.xml")
    result = fetch(feed_server.url("/rss.xml"))
    assert result.outcome == "ok" and result.status == 200 and result.error is None
    assert result.body == fixture("rss20.xml")
    assert result.etag and result.last_modified
    assert result.final_url == feed_server.url("/rss.xml")
    sent = feed_server.requests("/rss.xml")[0]
    assert sent["user-agent"] == f"tracker/{__version__}"
    assert sent["accept-encoding"] == "gzip, deflate"


def test_conditional_get_returns_not_modified_until_the_body_changes(
    feed_server: FeedServer,
) -> None:
    feed_server.set_file("/rss.xml", "rss20.xml")
    first = fetch(feed_server.url("/rss.xml"))
    by_etag = fetch(feed_server.url("/rss.xml"), etag=first.etag)
    assert by_etag.outcome == "not_modified" and by_etag.status == 304
    assert by_etag.body is None and by_etag.etag == first.etag
    by_date = fetch(feed_server.url("/rss.xml"), last_modified=first.last_modified)
    assert by_date.outcome == "not_modified" and by_date.last_modified == first.last_modified
    assert feed_server.requests("/rss.xml")[1]["if-none-match"] == first.etag
    assert feed_server.requests("/rss.xml")[2]["if-modified-since"] == first.last_modified

    feed_server.set_file("/rss.xml", "atom10.xml")
    changed = fetch(feed_server.url("/rss.xml"), etag=first.etag)
    assert changed.outcome == "ok" and changed.body == fixture("atom10.xml")
    assert changed.etag != first.etag
    assert feed_server.hits("/rss.xml") == 4


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw-deflate"])
def test_compressed_bodies_are_decompressed(feed_server: FeedServer, encoding: str) -> None:
    body = fixture("cyrillic.xml")
    if encoding == "gzip":
        feed_server.set("/c.xml", body, gzip=True)
    else:
        packer = zlib.compressobj(wbits=zlib.MAX_WBITS if encoding == "deflate" else -15)
        packed = packer.compress(body) + packer.flush()
        feed_server.set("/c.xml", packed, headers={"Content-Encoding": "deflate"})
    result = fetch(feed_server.url("/c.xml"))
    assert result.outcome == "ok" and result.body == body


def test_corrupt_gzip_is_an_error(feed_server: FeedServer) -> None:
    feed_server.set(
        "/c.xml", b"\x1f\x8b" + b"not really gzip" * 10, headers={"Content-Encoding": "gzip"}
    )
    result = fetch(feed_server.url("/c.xml"))
    assert result.outcome == "error" and result.error is not None
    assert result.error.startswith("bad gzip body")


@pytest.mark.parametrize(
    ("status", "outcome", "error"),
    [(404, "error", "HTTP 404"), (410, "gone", "HTTP 410"), (500, "error", "HTTP 500")],
)
def test_http_status_faults(feed_server: FeedServer, status: int, outcome: str, error: str) -> None:
    feed_server.set_fault("/f.xml", status=status)
    result = fetch(feed_server.url("/f.xml"))
    assert (result.outcome, result.status, result.error) == (outcome, status, error)
    assert result.body is None and not result.network_error


def test_retry_after_holds_the_whole_host(feed_server: FeedServer) -> None:
    feed_server.set_fault("/busy.xml", status=429, retry_after="120")
    feed_server.set_file("/other.xml", "rss20.xml")

    async def run() -> tuple[FetchResult, FetchResult]:
        async with Fetcher() as fetcher:
            busy = await fetcher.fetch(feed_server.url("/busy.xml"))
            other = await fetcher.fetch(feed_server.url("/other.xml"))
            return busy, other

    before = datetime.now(UTC)
    busy, other = asyncio.run(run())
    assert busy.outcome == "error" and busy.error == "HTTP 429" and busy.retry_after
    assert before + timedelta(seconds=119) <= busy.retry_after
    assert busy.retry_after <= datetime.now(UTC) + timedelta(seconds=121)
    assert other.outcome == "error" and other.retry_after == busy.retry_after
    assert other.error == f"host asked to wait until {when(busy.retry_after)}"
    assert feed_server.hits("/other.xml") == 0
    # a new Fetcher (the next poll) asks again: the poller keeps the time, not the Fetcher
    assert fetch(feed_server.url("/other.xml")).outcome == "ok"


def test_503_retry_after_as_http_date(feed_server: FeedServer) -> None:
    when = (datetime.now(UTC) + timedelta(minutes=10)).replace(microsecond=0)
    feed_server.set_fault("/down.xml", status=503, retry_after=format_datetime(when, usegmt=True))
    result = fetch(feed_server.url("/down.xml"))
    assert result.outcome == "error" and result.error == "HTTP 503"
    assert result.retry_after == when


def test_retry_after_parsing() -> None:
    now = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    assert _retry_after("30", now) == now + timedelta(seconds=30)
    assert _retry_after("Mon, 05 Jan 2026 12:05:00 GMT", now) == now + timedelta(minutes=5)
    assert _retry_after("Mon, 05 Jan 2026 11:00:00 GMT", now) == now  # already past
    assert _retry_after("99999999", now) == now + timedelta(hours=24)  # capped at a day
    assert _retry_after("soon", now) is None
    assert _retry_after(None, now) is None


def test_redirect_is_followed_and_reported(feed_server: FeedServer) -> None:
    feed_server.set_fault("/old.xml", redirect="/new.xml")
    feed_server.set_file("/new.xml", "atom10.xml")
    result = fetch(feed_server.url("/old.xml"))
    assert result.outcome == "ok" and result.body == fixture("atom10.xml")
    assert result.url == feed_server.url("/old.xml")
    assert result.final_url == feed_server.url("/new.xml")


def test_redirect_loop_stops_after_five_redirects(feed_server: FeedServer) -> None:
    feed_server.set_fault("/a.xml", redirect=feed_server.url("/b.xml"))
    feed_server.set_fault("/b.xml", redirect=feed_server.url("/a.xml"))
    result = fetch(feed_server.url("/a.xml"))
    assert result.outcome == "error" and result.error == "too many redirects"
    assert feed_server.hits("/a.xml") + feed_server.hits("/b.xml") == 6


def test_redirect_to_another_scheme_is_refused(feed_server: FeedServer) -> None:
    feed_server.set_fault("/a.xml", redirect="file:///etc/passwd")
    result = fetch(feed_server.url("/a.xml"))
    assert result.outcome == "error" and result.error == "redirect to a file URL refused"


def test_redirect_from_public_to_loopback_is_refused(feed_server: FeedServer) -> None:
    # "localhost" reaches this server but is declared public; the hop lands on 127.0.0.1
    feed_server.set_fault("/hop.xml", redirect=feed_server.url("/secret.xml"))
    feed_server.set_file("/secret.xml", "rss20.xml")
    result = fetch(feed_server.url("/hop.xml", host="localhost"), public_hosts={"localhost"})
    assert result.outcome == "error"
    assert result.error == "redirect to a private address 127.0.0.1 refused"
    assert feed_server.hits("/hop.xml") == 1 and feed_server.hits("/secret.xml") == 0
    # what the operator configured is trusted: the same hop from a loopback origin is fine
    assert fetch(feed_server.url("/hop.xml", host="localhost")).outcome == "ok"


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("0.0.0.0", False),
        ("::1", False),
        ("fe80::1%eth0", False),
        ("fd00::1", False),
        ("::ffff:127.0.0.1", False),
        ("93.184.216.34", True),
        ("2606:4700:4700::1111", True),
    ],
)
def test_public_address_classification(address: str, public: bool) -> None:
    assert _is_public_address(address) is public


def test_connection_refused_is_a_network_error() -> None:
    result = fetch(f"http://127.0.0.1:{closed_port()}/feed.xml")
    assert result.outcome == "error" and result.error == "connection refused"
    assert result.network_error and result.status is None


def test_dns_failure_is_a_network_error() -> None:
    result = fetch("http://no-such-host.invalid/feed.xml")
    assert result.outcome == "error" and result.network_error
    assert result.error == "DNS lookup failed for no-such-host.invalid"


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("ftp://example.com/feed", "unsupported URL scheme 'ftp'"),
        ("not a url", "invalid URL: no http:// or https://"),
        ("http://", "invalid URL: no host"),
        ("http://[::1/feed", "invalid URL: Invalid port: ':1'"),
    ],
)
def test_invalid_urls(url: str, error: str) -> None:
    result = fetch(url)
    assert (result.outcome, result.error, result.network_error) == ("error", error, False)


def test_trickling_body_stops_at_the_whole_fetch_deadline(feed_server: FeedServer) -> None:
    feed_server.set_fault("/slow.xml", trickle=True, trickle_interval=0.2)
    started = time.monotonic()
    result = fetch(feed_server.url("/slow.xml"), total_timeout=1.5)
    assert time.monotonic() - started < 3
    assert result.outcome == "error" and result.error == "timed out after 1.5 s"
    assert result.status == 200 and not result.network_error  # it answered, it is not offline


def test_silent_server_hits_the_read_timeout(feed_server: FeedServer) -> None:
    feed_server.set_file("/late.xml", "rss20.xml")
    feed_server.set_fault("/late.xml", delay=3)
    result = fetch(feed_server.url("/late.xml"), read_timeout=0.5)
    assert result.outcome == "error" and result.error == "read timed out after 0.5 s"
    assert result.network_error


def test_connection_closed_without_response(feed_server: FeedServer) -> None:
    feed_server.set_fault("/gone.xml", close=True)
    result = fetch(feed_server.url("/gone.xml"))
    assert result.outcome == "error"
    assert result.error == "server closed the connection without a response"


def test_body_over_cap(feed_server: FeedServer) -> None:
    feed_server.set("/big.xml", b"x" * (6 * 1024 * 1024))
    result = fetch(feed_server.url("/big.xml"))
    assert result.outcome == "error" and result.error == "body over 5 MB cap"
    assert result.body is None
    feed_server.set("/big.xml", b"x" * 2000, gzip=True)  # the cap holds after decompression
    assert fetch(feed_server.url("/big.xml"), max_bytes=1000).error == "body over 1000 bytes cap"


def test_gzip_bomb_is_never_inflated(feed_server: FeedServer) -> None:
    bomb = gzip_bomb()  # 200 MB of zeros in about 200 KB
    feed_server.set("/bomb.xml")
    feed_server.set_fault("/bomb.xml", encoded=bomb)
    tracemalloc.start()
    try:
        result = fetch(feed_server.url("/bomb.xml"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.outcome == "error" and result.error == "body over 5 MB cap"
    assert peak < 50 * 1024 * 1024, f"peak {peak / 1e6:.0f} MB"


def test_gzip_with_two_members_is_read_whole(feed_server: FeedServer) -> None:
    feed_server.set("/two.xml")
    feed_server.set_fault("/two.xml", encoded=gzip.compress(b"<rss>") + gzip.compress(b"</rss>"))
    assert fetch(feed_server.url("/two.xml")).body == b"<rss></rss>"


def test_cancellation_propagates_promptly(feed_server: FeedServer) -> None:
    feed_server.set_fault("/slow.xml", trickle=True, trickle_interval=0.2)

    async def run() -> None:
        async with Fetcher() as fetcher:
            task = asyncio.create_task(fetcher.fetch(feed_server.url("/slow.xml")))
            await asyncio.sleep(0.3)
            task.cancel()
            await task

    started = time.monotonic()
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(run())
    assert time.monotonic() - started < 2


def test_at_most_per_host_requests_at_a_time(feed_server: FeedServer) -> None:
    feed_server.set_file("/a.xml", "rss20.xml")
    feed_server.set_fault("/a.xml", delay=0.3)

    async def run() -> list[FetchResult]:
        async with Fetcher(per_host=2) as fetcher:
            url = feed_server.url("/a.xml")
            return await asyncio.gather(*(fetcher.fetch(url) for _ in range(6)))

    started = time.monotonic()
    results = asyncio.run(run())
    assert [r.outcome for r in results] == ["ok"] * 6
    assert time.monotonic() - started >= 0.85  # three rounds of two, not one round of six


def test_connections_to_a_host_are_kept_across_answers_and_304s(feed_server: FeedServer) -> None:
    for i in range(12):
        feed_server.set_file(f"/f{i}.xml", "rss20.xml")
    urls = [feed_server.url(f"/f{i}.xml") for i in range(12)]

    async def run() -> list[FetchResult]:
        async with Fetcher(per_host=2) as fetcher:
            first = await asyncio.gather(*(fetcher.fetch(u) for u in urls))
            return await asyncio.gather(
                *(fetcher.fetch(r.url, etag=r.etag) for r in first))

    again = asyncio.run(run())
    assert [r.outcome for r in again] == ["not_modified"] * 12
    # 24 requests, 12 of them answered 304, over no more connections than the host may have
    assert sum(feed_server.hits(f"/f{i}.xml") for i in range(12)) == 24
    assert feed_server.connections() <= 2


def test_a_proxy_from_the_environment_carries_the_request(
    feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the local server plays the proxy: it is asked for the absolute URL of a host that
    # does not exist, which only a proxy can answer
    feed_server.set_file("/rss.xml", "rss20.xml")
    monkeypatch.setenv("HTTP_PROXY", feed_server.url("/").rstrip("/"))
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    result = fetch("http://feeds.invalid/rss.xml")
    assert result.outcome == "ok" and result.body == fixture("rss20.xml")
    assert feed_server.requests("/rss.xml")[0]["host"] == "feeds.invalid"


def test_no_proxy_names_hosts_reached_directly(
    feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed_server.set_file("/rss.xml", "rss20.xml")
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("NO_PROXY", "example.org, 127.0.0.1")
    direct = fetch(feed_server.url("/rss.xml"))
    assert direct.outcome == "ok" and feed_server.hits("/rss.xml") == 1
    monkeypatch.setenv("NO_PROXY", "example.org")
    proxied = fetch(feed_server.url("/rss.xml"))
    assert proxied.outcome == "error" and proxied.error == "connection refused"
    assert feed_server.hits("/rss.xml") == 1
