"""A real local HTTP server for tests: fixture feeds by path, conditional GET, and faults.

server = FeedServer().start()
server.set("/a.xml", body=b"<rss ...>")          # ETag and Last-Modified follow the body
server.set_fault("/b.xml", status=410)
fetch(server.url("/a.xml")); assert server.hits("/a.xml") == 1
server.stop()
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import socket
import sys
import threading
import time
import zlib
from dataclasses import dataclass, field, replace
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlsplit

FEEDS = Path(__file__).parent / "data" / "feeds"
RSS = "application/rss+xml; charset=utf-8"


@functools.lru_cache(maxsize=2)
def gzip_bomb(megabytes: int = 200) -> bytes:
    """A gzip stream of `megabytes` MB of zeros, about a thousandth of that compressed."""
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    zeros = bytes(1024 * 1024)
    return b"".join(packer.compress(zeros) for _ in range(megabytes)) + packer.flush()


def fixture(name: str) -> bytes:
    """The bytes of a fixture feed in tests/data/feeds."""
    return (FEEDS / name).read_bytes()


def closed_port() -> int:
    """A local port nothing listens on (for "connection refused")."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Route:
    """What the server answers on one path: a body and, optionally, a fault."""

    body: bytes = b""
    content_type: str = RSS
    etag: str | None = None
    last_modified: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    status: int = 200
    retry_after: str | None = None
    redirect: str | None = None
    gzip: bool = False
    encoded: bytes | None = None  # sent as-is with Content-Encoding: gzip (e.g. a gzip bomb)
    trickle: bool = False
    trickle_interval: float = 1.0
    delay: float = 0.0
    close: bool = False


class FeedServer:
    """A threaded HTTP server on a loopback address (127.0.0.1 unless told) serving routes;
    thread-safe hit counts."""

    def __init__(self, address: str = "127.0.0.1") -> None:
        self.address = address
        self._lock = threading.Lock()
        self._routes: dict[str, Route] = {}
        self._hits: dict[str, int] = {}
        self._requests: dict[str, list[dict[str, str]]] = {}
        self._peers: set[tuple[str, int]] = set()
        self._stopping = threading.Event()
        self._httpd = _Server((address, 0), _Handler)
        self._httpd.feed_server = self
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def start(self) -> Self:
        """Serve in a daemon thread; returns the server for chaining."""
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; trickling and sleeping handlers notice and leave."""
        self._stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(5)
        self._httpd.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def url(self, path: str, host: str | None = None) -> str:
        """The absolute URL of a path (`host` may be e.g. "localhost", same server)."""
        return f"http://{host or self.address}:{self.port}{path}"

    def set(
        self,
        path: str,
        body: bytes = b"",
        *,
        content_type: str = RSS,
        gzip: bool = False,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Serve `body` at `path` (replacing whatever was there); ETag follows the body."""
        route = Route(
            body=body,
            content_type=content_type,
            etag='"' + hashlib.sha256(body).hexdigest()[:16] + '"',
            last_modified=formatdate(time.time(), usegmt=True),
            headers=dict(headers or {}),
            gzip=gzip,
        )
        with self._lock:
            self._routes[path] = route

    def set_file(self, path: str, name: str, **options: Any) -> None:
        """Serve the fixture feed `name` at `path`."""
        self.set(path, fixture(name), **options)

    def set_fault(self, path: str, **fault: Any) -> None:
        """Add a fault to a path: status, retry_after, redirect, trickle, delay, close, encoded."""
        with self._lock:
            current = self._routes.get(path, Route())
            self._routes[path] = replace(current, **fault)

    def hits(self, path: str) -> int:
        """How many requests reached `path`."""
        with self._lock:
            return self._hits.get(path, 0)

    def requests(self, path: str) -> list[dict[str, str]]:
        """The headers (lower-case names) of every request to `path`, in order."""
        with self._lock:
            return list(self._requests.get(path, []))

    def connections(self) -> int:
        """How many distinct client connections (address and port) have sent requests."""
        with self._lock:
            return len(self._peers)

    def _record(self, path: str, headers: dict[str, str], peer: tuple[str, int]) -> Route | None:
        with self._lock:
            self._peers.add(peer)
            self._hits[path] = self._hits.get(path, 0) + 1
            self._requests.setdefault(path, []).append(headers)
            return self._routes.get(path)


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a trickling handler must never hold up the test session's exit
    feed_server: FeedServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that leave early (caps, timeouts) are expected; other errors are shown."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests assert on hits, not on logs."""

    def do_GET(self) -> None:
        owner = self.server.feed_server
        path = urlsplit(self.path).path
        headers = {name.lower(): value for name, value in self.headers.items()}
        route = owner._record(path, headers, self.client_address[:2])
        if route is None:
            self._send(404, b"not found", "text/plain")
            return
        if route.delay and owner._stopping.wait(route.delay):
            return
        if route.close:
            self.close_connection = True
            return
        if route.redirect is not None:
            self._send(302, b"", "text/plain", {"Location": route.redirect})
            return
        if route.status != 200:
            extra = {"Retry-After": route.retry_after} if route.retry_after else {}
            self._send(route.status, b"error", "text/plain", extra)
            return
        if route.trickle:
            self._trickle(route, owner._stopping)
            return
        extra = dict(route.headers)
        if route.etag:
            extra["ETag"] = route.etag
        if route.last_modified:
            extra["Last-Modified"] = route.last_modified
        if _not_modified(route, headers):
            self._send(304, b"", None, extra)
            return
        body = route.body
        if route.encoded is not None:
            body, extra["Content-Encoding"] = route.encoded, "gzip"
        elif route.gzip:
            body, extra["Content-Encoding"] = gzip.compress(body), "gzip"
        self._send(200, body, route.content_type, extra)

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str | None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if status != 304:
            self.wfile.write(body)

    def _trickle(self, route: Route, stopping: threading.Event) -> None:
        """One byte at a time, forever, until the client leaves or the server stops."""
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", route.content_type)
        self.send_header("Connection", "close")
        self.end_headers()
        try:
            self.wfile.write(b'<?xml version="1.0"?><rss version="2.0"><channel>')
            self.wfile.flush()
            while not stopping.wait(route.trickle_interval):
                self.wfile.write(b" ")
                self.wfile.flush()
        except OSError:
            return


def _not_modified(route: Route, headers: dict[str, str]) -> bool:
    match = headers.get("if-none-match")
    if match is not None:
        return route.etag is not None and route.etag in [t.strip() for t in match.split(",")]
    since = headers.get("if-modified-since")
    if since and route.last_modified:
        try:
            return parsedate_to_datetime(route.last_modified) <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
    return False
