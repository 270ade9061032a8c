"""Benchmark polling against feeds served locally, as a user times it: the `tracker` command.

Serves N generated feeds (realistic items, some matching the shipped scenarios.yaml) from
threaded HTTP servers with ETag on --hosts loopback addresses, in another process. Each round
makes a fresh SQLite database and runs `tracker poll --all --json` as a subprocess three
times: cold (storing and matching everything), warm (every answer 304) and changed (--changed
of the feeds, 10 % by default, have new entries). Whole process: start-up included; CPU is
that of the whole process tree (parse workers under the forkserver included: the command runs
under a child subreaper that reaps every descendant, so RUSAGE_CHILDREN has them all); peak
is the largest sum of proportional set sizes (PSS) over the tree, sampled every 20 ms from
/proc (the largest sum of RSS, which counts shared pages once per process, is shown too).

Then, unless told not to, the same cold and warm polls in this process (`tracker.poll.poll`,
no start-up) and the peers' way (`feedparser.parse(url)` one feed after another, as rss2email
does, storing nothing). Each figure is the median of --repeat runs, every run printed.

    .venv/bin/python bench/poll.py --feeds 300 --entries 50
    .venv/bin/python bench/poll.py --feeds 7000 --entries 20 --hosts 50 --repeat 1 --no-peers
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import random
import resource
import shutil
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
from typing import Any, NamedTuple
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


def make_feed(index: int, entries: int, rng: random.Random, now: datetime,
              edition: int = 0) -> bytes:
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
            f"<guid isPermaLink=\"false\">feed{index}-{edition}-{j}</guid>"
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
    """The server process: generate the feeds, serve them, print the feed URLs as JSON; then
    answer commands on stdin ("change FRACTION EDITION": new entries in that share of the
    feeds) until it closes."""
    rng = random.Random(args.seed)
    now = datetime.now(UTC)
    servers = serve(args.hosts)
    urls = []

    def publish(i: int, edition: int) -> None:
        body = make_feed(i, args.entries, rng, now, edition)
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        Handler.feeds[f"/feed{i}.xml"] = (body, etag)

    for i in range(args.feeds):
        publish(i, 0)
        urls.append(servers[i % len(servers)][1] + f"/feed{i}.xml")
    print(json.dumps(urls), flush=True)
    for line in sys.stdin:
        _, fraction, edition = line.split()
        changed = rng.sample(range(args.feeds), round(args.feeds * float(fraction)))
        for i in changed:
            publish(i, int(edition))
        print(len(changed), flush=True)
    for server, _ in servers:
        server.shutdown()


class Measured(NamedTuple):
    """One whole-process run: wall and CPU seconds, peak MB of the process tree (PSS sum and,
    for comparison, RSS sum)."""

    wall: float
    cpu: float
    peak_mb: float
    peak_rss_mb: float
    output: str


def _tree(pid: int) -> list[int]:
    """pid and its descendants, from /proc/<pid>/task/<tid>/children."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except OSError:
            continue
    return out


def _pss_mb(pids: list[int]) -> float:
    """The proportional set size of the processes: each page shared by n of them counts 1/n
    in each, so the sum is the memory the tree takes (a sum of RSS counts shared pages, such
    as those the parse workers share with their forkserver, once per process)."""
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                total += next(int(line.split()[1]) for line in f if line.startswith("Pss:"))
        except (OSError, StopIteration, ValueError):
            continue
    return total / 1024


def _rss_mb(pids: list[int]) -> float:
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure_command(command: list[str]) -> None:
    """The --measure process: run `command` as a child subreaper, so that every descendant
    (the forkserver and its parse workers, orphaned when the command exits) is reaped here and
    its CPU counted in RUSAGE_CHILDREN; print a Measured as JSON."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_child_subreaper = 36
    if libc.prctl(pr_set_child_subreaper, 1, 0, 0, 0) != 0:
        sys.exit("prctl(PR_SET_CHILD_SUBREAPER) failed")
    with tempfile.TemporaryFile("w+") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out)
        peak = peak_rss = 0.0
        while proc.poll() is None:
            tree = _tree(proc.pid)
            peak, peak_rss = max(peak, _pss_mb(tree)), max(peak_rss, _rss_mb(tree))
            time.sleep(0.02)
        wall = time.perf_counter() - t0
        while True:  # what the command left behind, reparented to us
            try:
                os.wait4(-1, 0)
            except ChildProcessError:
                break
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        out.seek(0)
        text = out.read()
    if proc.returncode != 0:
        sys.exit(f"{command} exited {proc.returncode}: {text[-2000:]}")
    cpu = usage.ru_utime + usage.ru_stime
    print(json.dumps(Measured(wall, cpu, peak, peak_rss, text)._asdict()))


def measured(command: list[str]) -> Measured:
    done = subprocess.run([sys.executable, __file__, "--measure", "--", *command],
                          capture_output=True, text=True, check=True)
    return Measured(**json.loads(done.stdout))


def tracker_command() -> list[str]:
    """The `tracker` script beside this interpreter, as a user runs it."""
    script = Path(sys.executable).with_name("tracker")
    if script.exists():
        return [str(script)]
    found = shutil.which("tracker")
    return [found] if found else [sys.executable, "-m", "tracker"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=300)
    parser.add_argument("--entries", type=int, default=50)
    parser.add_argument("--hosts", type=int, default=8,
                        help="loopback addresses the feeds are spread over (politeness is "
                             "per host: at most 2 requests at a time to one)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3,
                        help="rounds of cold, warm and changed polls, and runs of the peers")
    parser.add_argument("--changed", type=float, default=0.1,
                        help="share of the feeds with new entries in the third poll")
    parser.add_argument("--no-peers", action="store_true", help="skip feedparser in turn")
    parser.add_argument("--no-in-process", action="store_true",
                        help="skip the polls in this process")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("command", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure_command(args.command)
        return
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
        assert server.stdout is not None and server.stdin is not None
        urls = json.loads(server.stdout.readline())
        edition = 0

        def change() -> int:
            nonlocal edition
            edition += 1
            assert server.stdin is not None and server.stdout is not None
            server.stdin.write(f"change {args.changed} {edition}\n")
            server.stdin.flush()
            return int(server.stdout.readline())

        run(args, urls, change)
    finally:
        server.communicate("")


def fresh_database(tmp: str, urls: list[str]) -> tuple[str, Path]:
    """A migrated SQLite database synced with the shipped scenarios and these feeds."""
    url = f"sqlite:///{tmp}/bench.sqlite3"
    engine = make_engine(url)
    migrate(engine)
    spec = load_scenarios(ROOT / "scenarios.yaml")
    feeds = tuple(FeedSpec(f"feed-{i}", u, None) for i, u in enumerate(urls))
    with transaction(make_sessionmaker(engine)) as session:
        sync(session, dataclasses.replace(spec, feeds=feeds))
    engine.dispose()
    return url, ROOT / "scenarios.yaml"


def outcomes(m: Measured) -> dict[str, int]:
    counts: dict[str, int] = {}
    for f in json.loads(m.output)["feeds"]:
        counts[f["outcome"]] = counts.get(f["outcome"], 0) + 1
    return counts


def whole_process_round(urls: list[str], change: Any) -> tuple[Measured, Measured, Measured]:
    """`tracker poll --all --json` cold, warm and after `change()`, on a fresh database."""
    with tempfile.TemporaryDirectory() as tmp:
        db, scenarios = fresh_database(tmp, urls)
        command = [*tracker_command(), "--db", db, "--scenarios", str(scenarios),
                   "poll", "--all", "--json"]
        cold = measured(command)
        if outcomes(cold) != {"ok": len(urls)}:
            sys.exit(f"cold poll: not every feed stored: {outcomes(cold)}")
        warm = measured(command)
        if outcomes(warm) != {"not_modified": len(urls)}:
            sys.exit(f"warm poll: not every feed answered 304: {outcomes(warm)}")
        n = change()
        changed = measured(command)
        if outcomes(changed) != {"ok": n, "not_modified": len(urls) - n}:
            sys.exit(f"changed poll: {outcomes(changed)}, expected {n} ok")
    return cold, warm, changed


def in_process_round(urls: list[str]) -> tuple[float, PollSummary, float, PollSummary]:
    """A cold poll into a fresh SQLite database, then a warm one, in this process."""
    with tempfile.TemporaryDirectory() as tmp:
        db, _ = fresh_database(tmp, urls)
        engine = make_engine(db)
        sessions = make_sessionmaker(engine)
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


def runs(values: list[float], unit: str = "", digits: int = 3) -> str:
    return ", ".join(f"{v:.{digits}f}{unit}" for v in values)


def run(args: argparse.Namespace, urls: list[str], change: Any) -> None:
    """Rounds of whole-process polls, in-process polls, then the peers; print the figures.

    Each figure is the median of its runs: one run on a shared two-core machine can be off by
    a tenth either way.
    """
    rounds = [whole_process_round(urls, change) for _ in range(args.repeat)]
    med = statistics.median
    print(f"feeds {args.feeds} x {args.entries} entries on {args.hosts} loopback hosts; "
          f"median of {args.repeat} runs each, every run shown")
    print("whole process, `tracker poll --all` (start-up included; CPU and peak of the "
          "whole process tree):")
    figures = {}
    for i, name in enumerate(("cold", "warm", f"changed {args.changed:.0%}")):
        ms = [r[i] for r in rounds]
        wall, cpu, peak, rss = ([getattr(m, k) for m in ms]
                                for k in ("wall", "cpu", "peak_mb", "peak_rss_mb"))
        figures[name.split()[0]] = (med(wall), med(cpu), med(peak))
        print(f"  {name:11}: wall {med(wall):7.3f} s  CPU {med(cpu):7.3f} s  peak PSS "
              f"{med(peak):4.0f} MB (RSS {med(rss):4.0f})   runs: wall {runs(wall)}; "
              f"CPU {runs(cpu)}; PSS {runs(peak, '', 0)}; RSS {runs(rss, '', 0)}")
    cold_wall, warm_wall = figures["cold"][0], figures["warm"][0]
    print(f"  warm / cold (wall) = {warm_wall / cold_wall:.3f} (target <= 0.10); "
          f"warm CPU per 30-minute cycle = {figures['warm'][1] / 1800:.2%} of a core "
          f"(target < 5 %); peak cold {figures['cold'][2]:.0f} MB (target < 300)")

    if not args.no_in_process:
        colds, warms = [], []
        for _ in range(args.repeat):
            cold_s, cold, warm_s, warm = in_process_round(urls)
            colds.append(cold_s)
            warms.append(warm_s)
            if not all(o.outcome == "ok" for o in cold.feeds):
                sys.exit(f"cold poll: not every feed stored: {cold.feeds}")
            if not all(o.outcome == "not_modified" for o in warm.feeds):
                sys.exit(f"warm poll: not every feed answered 304: {warm.feeds}")
        print(f"in process, tracker.poll.poll: cold {med(colds):.3f} s (runs: {runs(colds)}), "
              f"warm {med(warms):.3f} s (runs: {runs(warms)}); warm / cold = "
              f"{med(warms) / med(colds):.3f} (target <= 0.05)")

    if not args.no_peers:
        peers, peer_entries = [], 0
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            peer_entries = sum(len(feedparser.parse(url).entries) for url in urls)
            peers.append(time.perf_counter() - t0)
        print(f"peers' way: {med(peers):7.3f} s  (feedparser.parse(url) in turn, {peer_entries} "
              f"entries, nothing stored)   runs: {runs(peers)}")
        print(f"cold whole process / peers = {cold_wall / med(peers):.2f} (target <= 0.6)")


if __name__ == "__main__":
    main()
