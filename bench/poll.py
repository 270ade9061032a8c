"""Benchmark `tracker.poll.poll` against feeds served locally.

Serves N generated feeds (realistic items, some matching the shipped scenarios.yaml) from
threaded HTTP servers with ETag on a few loopback addresses, then times, in one run:
a cold poll into a fresh SQLite database (storing and matching everything), a warm poll
(every feed due again, every answer 304), and the peers' way (`feedparser.parse(url)` one
feed after another, as rss2email does, storing nothing). Each is run --repeat times (3) and
its median reported, every run's time printed beside it. Peak memory is this process's
maximum resident set size (resource.getrusage), peers' runs included; the server is
another process.

    /work/venv/bin/python bench/poll.py --feeds 300 --entries 50
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import feedparser
from sqlalchemy import update

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tracker.db import make_engine, make_sessionmaker, migrate, transaction  # noqa: E402
from tracker.models import Feed  # noqa: E402
from tracker.poll import PollSummary, poll  # noqa: E402
from tracker.scenarios import Feed as FeedSpec  # noqa: E402
from tracker.scenarios import load_scenarios  # noqa: E402
from tracker.sync import sync  # noqa: E402

MATCHING = [
    "CSTO holds drills near Dushanbe as Taliban advance",
    "Uzbekistan weighs CSTO observer status, officials say",
    "Armenia freezes its participation in the CSTO",
    "Kyrgyz and Tajik troops exchange gunfire on the border near Batken",
    "CSTO warns of growing threats from Afghanistan",
    "Russia delivers additional tanks to its 201st base in Tajikistan",
    "Azerbaijan rules out CSTO membership, Aliyev says",
]
PLACES = ["Almaty", "Bishkek", "Astana", "Yerevan", "Tbilisi", "Ashgabat", "Samarkand", "Osh",
          "Khorog", "Aktau", "Gyumri", "Batumi", "Nukus", "Termez", "Shymkent"]
TOPICS = ["wheat exports", "a new rail link", "gas prices", "the central bank", "water quotas",
          "a mining licence", "tourism numbers", "an election law", "remittances", "a road toll",
          "cotton harvest", "solar farms", "a media law", "inflation", "a customs dispute"]
VERBS = ["debates", "reviews", "announces", "delays", "expands", "questions", "approves"]


def make_feed(index: int, entries: int, rng: random.Random, now: datetime) -> bytes:
    """An RSS 2.0 feed of `entries` items, about one in ten matching an indicator."""
    items = []
    for j in range(entries):
        if rng.random() < 0.1:
            title = rng.choice(MATCHING)
        else:
            title = f"{rng.choice(PLACES)} {rng.choice(VERBS)} {rng.choice(TOPICS)}"
        published = now - timedelta(minutes=rng.randrange(60 * 24 * 60))
        summary = " ".join(
            f"{rng.choice(PLACES)} officials said {rng.choice(TOPICS)} would be discussed."
            for _ in range(4))
        items.append(
            f"<item><title>{escape(title)}</title>"
            f"<link>https://news{index}.example.com/{j}</link>"
            f"<guid isPermaLink=\"false\">feed{index}-{j}</guid>"
            f"<pubDate>{format_datetime(published)}</pubDate>"
            f"<description><![CDATA[<p>{summary}</p>]]></description></item>")
    head = (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
            f"<title>News {index}</title><link>https://news{index}.example.com/</link>"
            f"<description>Generated</description>")
    return (head + "".join(items) + "</channel></rss>").encode()


class Handler(BaseHTTPRequestHandler):
    """Serves the generated feeds with an ETag, 304 when it matches."""

    protocol_version = "HTTP/1.1"
    feeds: dict[str, tuple[bytes, str]] = {}

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        found = self.feeds.get(self.path)
        if found is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body, etag = found
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
        self.send_header("ETag", etag)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def serve(hosts: int) -> list[tuple[ThreadingHTTPServer, str]]:
    """One threaded server on each of 127.0.0.1 .. 127.0.0.<hosts>."""
    out = []
    for h in range(1, hosts + 1):
        server = ThreadingHTTPServer((f"127.0.0.{h}", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        out.append((server, f"http://127.0.0.{h}:{server.server_address[1]}"))
    return out


def serve_feeds(args: argparse.Namespace) -> None:
    """The server process: generate the feeds, serve them, print the feed URLs as JSON, and
    serve until stdin closes."""
    rng = random.Random(args.seed)
    now = datetime.now(UTC)
    servers = serve(args.hosts)
    urls = []
    for i in range(args.feeds):
        body = make_feed(i, args.entries, rng, now)
        path = f"/feed{i}.xml"
        Handler.feeds[path] = (body, '"' + hashlib.sha256(body).hexdigest()[:16] + '"')
        urls.append(servers[i % len(servers)][1] + path)
    print(json.dumps(urls), flush=True)
    sys.stdin.read()
    for server, _ in servers:
        server.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=300)
    parser.add_argument("--entries", type=int, default=50)
    parser.add_argument("--hosts", type=int, default=8,
                        help="loopback addresses the feeds are spread over (politeness is "
                             "per host: at most 2 requests at a time to one)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3,
                        help="rounds of cold and warm polls, and runs of the peers' way")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_feeds(args)
        return

    # The feeds are served from another process, as they would be from other machines:
    # the server's work must not share this process's interpreter lock or memory.
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--feeds", str(args.feeds), "--entries",
         str(args.entries), "--hosts", str(args.hosts), "--seed", str(args.seed)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        urls = json.loads(server.stdout.readline())
        run(args, urls)
    finally:
        server.communicate("")


def one_round(urls: list[str]) -> tuple[float, PollSummary, float, PollSummary]:
    """A cold poll into a fresh SQLite database, then a warm one: (seconds, summary) each."""
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/bench.sqlite3")
        migrate(engine)
        sessions = make_sessionmaker(engine)
        spec = load_scenarios(ROOT / "scenarios.yaml")
        feeds = tuple(FeedSpec(f"feed-{i}", url, None) for i, url in enumerate(urls))
        with transaction(sessions) as session:
            sync(session, dataclasses.replace(spec, feeds=feeds))

        t0 = time.perf_counter()
        cold = poll(sessions)
        cold_s = time.perf_counter() - t0

        with transaction(sessions) as session:
            session.execute(update(Feed).values(next_poll=None))
        t0 = time.perf_counter()
        warm = poll(sessions)
        warm_s = time.perf_counter() - t0
        engine.dispose()
    return cold_s, cold, warm_s, warm


def run(args: argparse.Namespace, urls: list[str]) -> None:
    """Rounds of cold and warm polls, then the peers' way as many times; print the figures.

    Each figure is the median of its runs: one run on a shared two-core machine can be off by
    a tenth either way.
    """
    colds, warms = [], []
    for _ in range(args.repeat):
        cold_s, cold, warm_s, warm = one_round(urls)
        colds.append(cold_s)
        warms.append(warm_s)
        if not all(o.outcome == "ok" for o in cold.feeds):
            sys.exit(f"cold poll: not every feed stored: {cold.feeds}")
        if not all(o.outcome == "not_modified" for o in warm.feeds):
            sys.exit(f"warm poll: not every feed answered 304: {warm.feeds}")

    peers, peer_entries = [], 0
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        peer_entries = sum(len(feedparser.parse(url).entries) for url in urls)
        peers.append(time.perf_counter() - t0)

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cold_s, warm_s, peers_s = (statistics.median(x) for x in (colds, warms, peers))

    def runs(values: list[float]) -> str:
        return ", ".join(f"{v:.3f}" for v in values)

    print(f"feeds {args.feeds} x {args.entries} entries on {args.hosts} loopback hosts; "
          f"median of {args.repeat} runs each")
    print(f"cold poll : {cold_s:7.3f} s  ({len(cold.feeds)} ok, {cold.new_entries} entries, "
          f"{cold.hits} hits, {cold.new_evidence} evidence items)   runs: {runs(colds)}")
    print(f"warm poll : {warm_s:7.3f} s  ({len(warm.feeds)} not modified)   runs: {runs(warms)}")
    print(f"peers' way: {peers_s:7.3f} s  (feedparser.parse(url) in turn, {peer_entries} "
          f"entries, nothing stored)   runs: {runs(peers)}")
    print(f"cold / peers = {cold_s / peers_s:.2f} (target <= 1)   "
          f"warm / cold = {warm_s / cold_s:.3f} (target < 0.05)")
    print(f"peak memory (max RSS of this process): {peak_mb:.0f} MB (target < 300)")


if __name__ == "__main__":
    main()
