"""Soak the daemon: many feeds, a short tick, minutes on end; memory must stay flat.

Serves N generated feeds from threaded HTTP servers on a few loopback addresses (each feed
gains an item every --change seconds, and answers 304 in between), runs `tracker daemon` as a
subprocess on a temporary SQLite database with the shipped questions, samples the daemon's
resident memory (VmRSS in /proc/<pid>/status) every few seconds, then stops it with SIGTERM.
Prints memory after the first minute and at the end, their ratio, the requests served, the
job runs recorded, and every ERROR or Traceback line of the daemon's log.

    /work/venv/bin/python bench/soak.py --feeds 200 --tick 2 --minutes 10
"""

from __future__ import annotations

import argparse
import hashlib
import os
import signal
import sqlite3
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

import yaml

ROOT = Path(__file__).resolve().parent.parent
HOSTS = ("127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4")
TITLES = (
    "Uzbekistan weighs a return to the CSTO, officials say",
    "CSTO holds drills near the Afghan border",
    "Azerbaijan and the CSTO: Baku rules out membership",
    "Cotton harvest begins in the Ferghana valley",
    "Tashkent hosts a regional trade fair",
    "New rail link between Kazakhstan and Uzbekistan opens",
)


class Feeds:
    """N feeds whose items grow with time: feed k gains an item every `change` seconds."""

    def __init__(self, count: int, change: float, window: int = 20) -> None:
        self.count, self.change, self.window = count, change, window
        self.start = time.time()
        self.requests = 0
        self.lock = threading.Lock()

    def body(self, k: int) -> bytes:
        # Feeds are staggered so that some feed changes at every moment, not all at once.
        newest = int((time.time() - self.start + k * self.change / self.count) // self.change)
        base = datetime(2026, 1, 5, tzinfo=UTC)
        items = []
        for i in range(max(0, newest - self.window + 1), newest + 1):
            title = f"{TITLES[(i + k) % len(TITLES)]} ({k}-{i})"
            published = format_datetime(base + timedelta(hours=i))
            items.append(f"<item><title>{title}</title><guid>soak-{k}-{i}</guid>"
                         f"<link>http://example.org/{k}/{i}</link><pubDate>{published}</pubDate>"
                         f"<description>Item {i} of feed {k}.</description></item>")
        return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
                f"<title>Soak feed {k}</title><link>http://example.org/{k}</link>"
                f"{''.join(items)}</channel></rss>").encode()


def serve(feeds: Feeds) -> list[ThreadingHTTPServer]:
    """One threaded server per loopback address, all serving the same feeds."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

        def do_GET(self) -> None:
            with feeds.lock:
                feeds.requests += 1
            try:
                k = int(self.path.strip("/").removesuffix(".xml").removeprefix("feed"))
            except ValueError:
                k = -1
            if not 0 <= k < feeds.count:
                self._send(404, b"not found")
                return
            body = feeds.body(k)
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            if self.headers.get("If-None-Match") == etag:
                self._send(304, b"", etag)
                return
            self._send(200, body, etag)

        def _send(self, status: int, body: bytes, etag: str | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
            if etag:
                self.send_header("ETag", etag)
            if status != 304:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if status != 304:
                self.wfile.write(body)

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            """A client leaving mid-answer (a stopped poll) is not the server's error."""
            if not isinstance(sys.exc_info()[1], ConnectionError):
                super().handle_error(request, client_address)

    servers: list[ThreadingHTTPServer] = []
    for host in HOSTS:
        server = Server((host, 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    return servers


def scenarios(servers: list[ThreadingHTTPServer], count: int, tick: float, interval: str) -> str:
    """The shipped questions with generated feeds and a short tick."""
    spec = yaml.safe_load((ROOT / "scenarios.yaml").read_text(encoding="utf-8"))
    spec.setdefault("settings", {}).setdefault("polling", {})["tick"] = f"{int(tick)}s"
    spec["feeds"] = []
    for k in range(count):
        host, port = HOSTS[k % len(HOSTS)], servers[k % len(servers)].server_port
        spec["feeds"].append({"id": f"soak-{k}", "url": f"http://{host}:{port}/feed{k}.xml",
                              "interval": interval})
    return yaml.safe_dump(spec, allow_unicode=True, sort_keys=False)


def rss_kib(pid: int) -> int:
    """The resident memory of a process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--tick", type=float, default=2.0, help="seconds between polls")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--interval", default="10s", help="each feed's poll interval")
    parser.add_argument("--change", type=float, default=60.0,
                        help="seconds between new items of one feed")
    parser.add_argument("--sample", type=float, default=5.0, help="seconds between samples")
    args = parser.parse_args()

    feeds = Feeds(args.feeds, args.change)
    servers = serve(feeds)
    work = Path(tempfile.mkdtemp(prefix="tracker-soak-"))
    (work / "scenarios.yaml").write_text(scenarios(servers, args.feeds, args.tick,
                                                   args.interval), encoding="utf-8")
    db = work / "tracker.sqlite3"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    base = [sys.executable, "-m", "tracker", "--db", f"sqlite:///{db}", "--scenarios",
            str(work / "scenarios.yaml")]
    subprocess.run([*base, "init"], check=True, cwd=work, env=env, capture_output=True)
    log = work / "daemon.log"
    print(f"soak: {args.feeds} feeds, tick {args.tick:g} s, feed interval {args.interval}, "
          f"{args.minutes:g} min; work folder {work}", flush=True)
    with log.open("wb") as handle:
        proc = subprocess.Popen([*base, "daemon"], cwd=work, env=env, stdout=handle,
                                stderr=subprocess.STDOUT)
        started = time.monotonic()
        samples: list[tuple[float, int]] = []
        try:
            while (elapsed := time.monotonic() - started) < args.minutes * 60:
                if proc.poll() is not None:
                    print(f"the daemon exited early with status {proc.returncode}")
                    break
                samples.append((elapsed, rss_kib(proc.pid)))
                if len(samples) % 12 == 0:
                    print(f"  {elapsed / 60:5.1f} min  RSS {samples[-1][1] / 1024:6.1f} MiB  "
                          f"requests {feeds.requests}", flush=True)
                time.sleep(args.sample)
        finally:
            stop_at = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            try:
                status = proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                status = proc.wait()
            stopped_in = time.monotonic() - stop_at
    for server in servers:
        server.shutdown()

    first = next((kib for t, kib in samples if t >= 60), samples[-1][1] if samples else 0)
    last = samples[-1][1] if samples else 0
    with sqlite3.connect(db) as conn:
        runs = conn.execute("SELECT job, outcome, count(*) FROM job_runs GROUP BY job, outcome "
                            "ORDER BY job, outcome").fetchall()
        entries = conn.execute("SELECT count(*) FROM entries").fetchone()[0]
        evidence = conn.execute("SELECT count(*) FROM evidence").fetchone()[0]
    bad = [line for line in log.read_text(errors="replace").splitlines()
           if " ERROR " in line or "Traceback" in line]
    ratio = last / first if first else float("nan")
    print(f"memory after minute 1: {first / 1024:.1f} MiB; at the end: {last / 1024:.1f} MiB; "
          f"ratio {ratio:.3f} ({'within' if abs(ratio - 1) <= 0.10 else 'OUTSIDE'} 10 %)")
    print(f"requests served: {feeds.requests}; entries stored: {entries}; "
          f"evidence items: {evidence}")
    print("job runs: " + ", ".join(f"{job} {outcome} x{n}" for job, outcome, n in runs))
    print(f"stopped with SIGTERM in {stopped_in:.2f} s, exit status {status}")
    print(f"errors in the log: {len(bad)}")
    for line in bad[:20]:
        print("  " + line)
    return 0 if status == 0 and not bad and abs(ratio - 1) <= 0.10 else 1


if __name__ == "__main__":
    sys.exit(main())
