"""Fetch feeds over HTTP: conditional GET, caps, checked redirects, politeness; no database."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import cache
from typing import Self

import httpx

from tracker import __version__
from tracker.config import proxies
from tracker.text import when

USER_AGENT = f"tracker/{__version__}"
REDIRECTS = (301, 302, 303, 307, 308)
RETRY_AFTER_MAX = timedelta(hours=24)  # the back-off ceiling of §6: no host holds us longer
_INFLATE_STEP = 64 * 1024  # most bytes one decompression step may produce

Resolver = Callable[[str], Awaitable[list[str]]]

# Addresses no redirect from the internet may lead to: IANA's IPv4 and IPv6 special-purpose
# registries (what is not globally reachable), multicast, and the transition prefixes that
# embed an IPv4 address (NAT64, 6to4, IPv4-compatible), which could embed a private one.
_NOT_PUBLIC = tuple(ipaddress.ip_network(net) for net in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.31.196.0/24", "192.52.193.0/24",
    "192.88.99.0/24", "192.168.0.0/16", "192.175.48.0/24", "198.18.0.0/15", "198.51.100.0/24",
    "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
    "::/96", "::ffff:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001::/23",
    "2001:db8::/32", "2002::/16", "2620:4f:8000::/48", "3fff::/20", "5f00::/16", "fc00::/7",
    "fe80::/10", "fec0::/10", "ff00::/8",
))


@dataclass
class FetchResult:
    """What one fetch of a feed URL came to; `outcome` is ok, not_modified, gone or error."""

    url: str
    outcome: str
    status: int | None = None
    body: bytes | None = None
    etag: str | None = None
    last_modified: str | None = None
    error: str | None = None
    network_error: bool = False
    retry_after: datetime | None = None
    final_url: str | None = None


class FetchError(Exception):
    """A fetch failed in a way that has one clear line to say."""

    def __init__(self, message: str, *, network: bool = False) -> None:
        super().__init__(message)
        self.network = network


@cache
def _tls_context() -> ssl.SSLContext:
    """One verifying TLS context per process: loading the CA store costs tens of ms a poll."""
    return ssl.create_default_context()


class Fetcher:
    """Fetches feeds through httpx's transports, a pool per host; create one per poll, then
    `aclose()`.

    Requests go to the transport without an httpx.Client in between: a client's cookie jar,
    auth and event hooks are nothing a feed poller wants, and they were a quarter of the cost
    of a poll answered by 304s. Proxies from the environment (HTTP_PROXY, HTTPS_PROXY,
    ALL_PROXY, NO_PROXY) are honoured as a client would.

    Each host name is resolved once per Fetcher, and the connection goes to an address that
    was resolved (the request carries the name in Host and TLS SNI): what the redirect guard
    checked is what is connected to, whatever DNS answers next (rebinding).

    `public_hosts` and `resolve` are test seams: host names listed there count as public
    addresses whatever they resolve to, so a test on 127.0.0.1 can see a public → loopback
    redirect refused; `resolve` answers for DNS.
    """

    def __init__(
        self,
        *,
        user_agent: str = USER_AGENT,
        concurrency: int = 8,
        per_host: int = 2,
        max_bytes: int = 5 * 1024 * 1024,
        connect_timeout: float = 10.0,
        read_timeout: float = 20.0,
        total_timeout: float = 60.0,
        max_redirects: int = 5,
        public_hosts: Collection[str] = (),
        resolve: Resolver | None = None,
    ) -> None:
        self.max_bytes = max_bytes
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.total_timeout = total_timeout
        self.max_redirects = max_redirects
        self._public_hosts = {host.lower() for host in public_hosts}
        self._resolve = resolve or _getaddrinfo
        self._resolved: dict[str, list[str]] = {}
        self._per_host = per_host
        self._slots = asyncio.Semaphore(concurrency)
        self._host_slots: dict[str, asyncio.Semaphore] = {}
        self._holds: dict[str, datetime] = {}
        self._headers = {"User-Agent": user_agent, "Accept-Encoding": "gzip, deflate"}
        self._timeouts = httpx.Timeout(read_timeout, connect=connect_timeout).as_dict()
        self._pools = _Pools(per_host, proxies())

    def keep_holds(self, other: Fetcher) -> None:
        """Take over the Retry-After holds of the Fetcher this one replaces."""
        self._holds.update(other._holds)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every connection."""
        await self._pools.aclose()

    async def fetch(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> FetchResult:
        """Fetch one feed URL, conditionally when validators are given; never raises.

        Cancellation still propagates, so a daemon can abandon fetches in flight.
        """
        progress = _Progress(url)
        try:
            return await self._fetch(url, etag, last_modified, progress)
        except FetchError as exc:
            return progress.failed(str(exc), network=exc.network)
        except TimeoutError:
            # asyncio's deadline: a server that answered but trickles is not "offline"
            seconds = f"{self.total_timeout:g}"
            return progress.failed(f"timed out after {seconds} s", network=progress.status is None)
        except httpx.HTTPError as exc:
            message, network = _describe_httpx_error(exc, self, progress.host)
            return progress.failed(message, network=network)
        except Exception as exc:  # nothing a server sends may crash the poller
            return progress.failed(f"unexpected error: {type(exc).__name__}: {exc}")

    async def _fetch(
        self, url: str, etag: str | None, last_modified: str | None, progress: _Progress
    ) -> FetchResult:
        headers = dict(self._headers)
        # a validator stored before they were checked must not stop every fetch of the feed
        etag, last_modified = _validator(etag), _validator(last_modified)
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        current = _checked_url(url)
        deadline: float | None = None
        for _hop in range(self.max_redirects + 1):
            host = current.host.lower()
            # host slot before global slot, and neither held between hops: no fetch waiting for
            # a busy host sits on a global slot, and no two fetches wait on each other
            async with self._host_slot(host), self._slots:
                if deadline is None:
                    # the clock starts once we may talk to the host, not while queued
                    deadline = asyncio.get_running_loop().time() + self.total_timeout
                async with asyncio.timeout_at(deadline):
                    held = self._held(host, progress)
                    if held is not None:
                        return held
                    progress.final_url, progress.host = str(current), host
                    response = await self._send(current, headers)
                    try:
                        progress.status = response.status_code
                        if response.status_code not in REDIRECTS:
                            return await self._result(response, etag, last_modified, progress)
                        target = _redirect_target(response, current)
                    finally:
                        await response.aclose()
                    await self._check_hop(current, target)
                    current = target
        raise FetchError("too many redirects")

    async def _send(self, url: httpx.URL, headers: dict[str, str]) -> httpx.Response:
        """Send to an address resolved (and checked) before, trying each in turn."""
        proxy = self._pools.proxy(url)
        extensions = {"timeout": self._timeouts}
        if proxy is not None:  # the proxy resolves the name: there is nothing to pin here
            request = httpx.Request("GET", url, headers=headers, extensions=extensions)
            return await self._pools.send(request, url.host, proxy)
        addresses = await self._addresses(url.host)
        pinned = {**headers, "Host": url.netloc.decode("ascii")}
        for i, address in enumerate(addresses):
            request = httpx.Request("GET", url.copy_with(host=address), headers=pinned,
                                    extensions={**extensions, "sni_hostname": url.host})
            try:
                return await self._pools.send(request, url.host, None)
            except httpx.ConnectError:
                if i == len(addresses) - 1:
                    raise
        raise FetchError(f"DNS lookup failed for {url.host}", network=True)

    async def _result(
        self,
        response: httpx.Response,
        etag: str | None,
        last_modified: str | None,
        progress: _Progress,
    ) -> FetchResult:
        status = response.status_code
        if status == 304:
            # A 304 has no body; reading it to the end lets the connection be reused instead
            # of closed, which is most of the cost of a poll where nothing changed.
            await response.aread()
            # validators stay valid when the server does not repeat them
            return progress.result(
                "not_modified",
                etag=_validator(response.headers.get("etag")) or etag,
                last_modified=_validator(response.headers.get("last-modified")) or last_modified,
            )
        if status == 410:
            return progress.result("gone", error="HTTP 410")
        if status in (429, 503):
            retry_after = _retry_after(response.headers.get("retry-after"))
            if retry_after is not None:
                host = progress.host
                self._holds[host] = max(retry_after, self._holds.get(host, retry_after))
            return progress.result("error", error=f"HTTP {status}", retry_after=retry_after)
        if not 200 <= status < 300:
            return progress.result("error", error=f"HTTP {status}")
        body = await self._read_body(response)
        return progress.result(
            "ok",
            body=body,
            etag=_validator(response.headers.get("etag")),
            last_modified=_validator(response.headers.get("last-modified")),
        )

    async def _read_body(self, response: httpx.Response) -> bytes:
        """Read and decompress the body, stopping as soon as it passes the cap."""
        encoding = response.headers.get("content-encoding", "").strip().lower() or "identity"
        if encoding == "identity":
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self.max_bytes:
                raise FetchError(self._over_cap())
        body = bytearray()
        async for piece in _decoded(response.aiter_raw(), encoding):
            body += piece
            if len(body) > self.max_bytes:
                raise FetchError(self._over_cap())
        return bytes(body)

    def _over_cap(self) -> str:
        mb = self.max_bytes / (1024 * 1024)
        return f"body over {mb:g} MB cap" if mb >= 1 else f"body over {self.max_bytes} bytes cap"

    async def _check_hop(self, source: httpx.URL, target: httpx.URL) -> None:
        """Refuse a redirect from a public address to a loopback, private or link-local one.

        A name with any public address counts as public when it redirects, and a name with any
        other address as private when it is redirected to: a name with both is never a bridge.
        """
        if not await self._is_public(source.host, any):
            return  # what the operator configured, or a hop within it, is trusted
        if not await self._is_public(target.host, all):
            refused = next(a for a in await self._addresses(target.host)
                           if not _is_public_address(a))
            raise FetchError(f"redirect to a private address {refused} refused")

    async def _is_public(self, host: str, quantifier: Callable[[list[bool]], bool]) -> bool:
        if host.lower() in self._public_hosts:
            return True
        return quantifier([_is_public_address(a) for a in await self._addresses(host)])

    async def _addresses(self, host: str) -> list[str]:
        """The addresses of `host`, resolved once for this Fetcher."""
        key = host.lower()
        if key in self._resolved:
            return self._resolved[key]
        found: list[str] = []
        if _is_address(key):
            found = [key]
        else:
            try:
                found = await self._resolve(key)
            except OSError:
                found = []
        if not found:
            raise FetchError(f"DNS lookup failed for {host}", network=True)
        self._resolved[key] = list(dict.fromkeys(found))
        return self._resolved[key]

    def _host_slot(self, host: str) -> asyncio.Semaphore:
        slot = self._host_slots.get(host)
        if slot is None:
            slot = self._host_slots[host] = asyncio.Semaphore(self._per_host)
        return slot

    def _held(self, host: str, progress: _Progress) -> FetchResult | None:
        """A Retry-After from a host holds every fetch to it until that time."""
        until = self._holds.get(host)
        if until is None or until <= datetime.now(UTC):
            return None
        return progress.result(
            "error", error=f"host asked to wait until {when(until)}", retry_after=until
        )


class _Pools:
    """A connection pool per host (and proxy) instead of one for all.

    httpcore's pool walks every connection it holds, checking each socket, whenever a request
    starts or ends; with a couple of connections on each of many hosts, that walk rather than
    the network was most of the cost of a poll answered by 304s. Per host it is one or two.
    The Fetcher's semaphores bound the requests in flight, so a pool only decides how many
    idle connections to keep: `per_host`, the most its host ever has open.
    """

    def __init__(self, per_host: int, proxies: dict[str, str]) -> None:
        self._per_host = per_host
        self._proxies = {k: v for k, v in proxies.items() if k != "no"}
        self._no_proxy = [name.strip().lstrip(".").lower()
                          for name in proxies.get("no", "").split(",") if name.strip()]
        self._pools: dict[tuple[str, str, int | None, str | None], httpx.AsyncHTTPTransport] = {}

    def proxy(self, url: httpx.URL) -> str | None:
        """The proxy for `url` from the environment, or None: NO_PROXY lists names (each with
        its subdomains) or addresses to reach directly, or is `*` for all."""
        if not self._proxies:
            return None
        host = url.host.lower()
        for name in self._no_proxy:
            if name == "*" or host == name or host.endswith("." + name):
                return None
        return self._proxies.get(url.scheme) or self._proxies.get("all")

    async def send(self, request: httpx.Request, host: str, proxy: str | None
                   ) -> httpx.Response:
        """Send through the pool of `host` (the request may name an address of it); the body
        is left to stream."""
        url = request.url
        key = (url.scheme, host, url.port, proxy)
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = httpx.AsyncHTTPTransport(
                verify=_tls_context(),
                limits=httpx.Limits(max_connections=None,
                                    max_keepalive_connections=self._per_host),
                proxy=proxy,
            )
        response = await pool.handle_async_request(request)
        response.request = request
        return response

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.aclose()


class _Progress:
    """What is known so far about one fetch, so a failure can still report it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.status: int | None = None
        self.final_url: str | None = None
        self.host = ""

    def result(
        self,
        outcome: str,
        *,
        body: bytes | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
        error: str | None = None,
        network_error: bool = False,
        retry_after: datetime | None = None,
    ) -> FetchResult:
        return FetchResult(
            self.url,
            outcome,
            self.status,
            body,
            etag,
            last_modified,
            error,
            network_error,
            retry_after,
            self.final_url,
        )

    def failed(self, message: str, *, network: bool = False) -> FetchResult:
        return self.result("error", error=message, network_error=network)


def _checked_url(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError) as exc:
        raise FetchError(f"invalid URL: {exc}") from exc
    if not parsed.scheme:
        raise FetchError("invalid URL: no http:// or https://")
    if parsed.scheme not in ("http", "https"):
        raise FetchError(f"unsupported URL scheme {parsed.scheme!r}")
    if not parsed.host:
        raise FetchError("invalid URL: no host")
    return parsed


def _redirect_target(response: httpx.Response, current: httpx.URL) -> httpx.URL:
    location = response.headers.get("location")
    if not location:
        raise FetchError(f"HTTP {response.status_code} redirect without a Location")
    try:
        target = current.join(location.strip())
    except (httpx.InvalidURL, ValueError) as exc:
        raise FetchError(f"redirect to an invalid URL: {exc}") from exc
    if target.scheme not in ("http", "https"):
        raise FetchError(f"redirect to a {target.scheme or 'schemeless'} URL refused")
    if not target.host:
        raise FetchError("redirect to an invalid URL: no host")
    return target


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def _getaddrinfo(host: str) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _is_public_address(address: str) -> bool:
    """False for loopback, private, link-local, shared, documentation, transition and other
    addresses that are not globally reachable."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in net for net in _NOT_PUBLIC if net.version == ip.version):
        return False
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified)


def _validator(value: str | None) -> str | None:
    """An ETag or Last-Modified worth keeping: visible ASCII and spaces, at most 1 KB. Any other
    would be stored, sent back, and refused by httpx before every later request."""
    if not value or len(value) > 1024 or not all(" " <= c <= "~" for c in value):
        return None
    return value


def _retry_after(value: str | None, now: datetime | None = None) -> datetime | None:
    """Retry-After (seconds or an HTTP date) as an absolute UTC time, at most a day ahead."""
    if not value:
        return None
    now = now or datetime.now(UTC)
    value = value.strip()
    if value.isdigit():
        when = now + timedelta(seconds=min(int(value), int(RETRY_AFTER_MAX.total_seconds())))
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return min(max(when, now), now + RETRY_AFTER_MAX)


async def _decoded(raw: AsyncIterator[bytes], encoding: str) -> AsyncIterator[bytes]:
    """Decompress gzip or deflate in bounded steps, so a bomb never inflates all at once.

    httpx's own decoders inflate a whole network chunk in one call (64 KB of zeros → 64 MB).
    """
    if encoding == "identity":
        async for chunk in raw:
            yield chunk
        return
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise FetchError(f"unsupported Content-Encoding {encoding!r}")
    gzip = encoding != "deflate"
    wbits = zlib.MAX_WBITS | 16 if gzip else zlib.MAX_WBITS
    inflater = zlib.decompressobj(wbits)
    started = False
    async for chunk in raw:
        data = chunk
        while True:
            if inflater.eof:
                # a gzip body may hold several members; other trailing bytes are ignored
                if not (gzip and data.startswith(b"\x1f\x8b")):
                    break
                inflater = zlib.decompressobj(wbits)
            try:
                piece = inflater.decompress(data, _INFLATE_STEP)
            except zlib.error as exc:
                if not gzip and not started:
                    # some servers send raw deflate without the zlib header
                    inflater, started = zlib.decompressobj(-zlib.MAX_WBITS), True
                    continue
                raise FetchError(f"bad {encoding} body: {exc}") from exc
            started = True
            data = inflater.unused_data if inflater.eof else inflater.unconsumed_tail
            if piece:
                yield piece
            # a full step may leave output pending inside zlib even with no input left
            if not data and len(piece) < _INFLATE_STEP:
                break
    if started and not inflater.eof:
        raise FetchError(f"truncated {encoding} body")


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    """Whether `kind` is somewhere in the chain of causes (httpx wraps OS errors twice)."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return False
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _describe_httpx_error(exc: httpx.HTTPError, fetcher: Fetcher, host: str) -> tuple[str, bool]:
    """One clear line for an httpx failure, and whether it is network-level."""
    text = str(exc) or type(exc).__name__
    lowered = text.lower()
    if isinstance(exc, httpx.ConnectTimeout):
        return f"connect timed out after {fetcher.connect_timeout:g} s", True
    if isinstance(exc, httpx.ReadTimeout):
        return f"read timed out after {fetcher.read_timeout:g} s", True
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out: {text}", True
    if isinstance(exc, httpx.ConnectError):
        if "refused" in lowered or _caused_by(exc, ConnectionRefusedError):
            return "connection refused", True
        if _caused_by(exc, socket.gaierror) or "name or service" in lowered:
            return f"DNS lookup failed for {host}", True
        if any(word in lowered for word in ("ssl", "certificate", "tls")):
            return f"TLS error: {text}", False
        return f"connection failed: {text}", True
    if isinstance(exc, httpx.RemoteProtocolError):
        if "without sending" in lowered:
            return "server closed the connection without a response", False
        return f"protocol error: {text}", False
    if isinstance(exc, httpx.ReadError):
        return f"connection lost while reading: {text}", True
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return f"invalid URL: {text}", False
    return f"{type(exc).__name__}: {text}", isinstance(exc, httpx.NetworkError)
