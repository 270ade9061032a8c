"""Evaluation: the tracker with no analyst over one half of the project's corpus of real
2021-2025 headlines (tests/data/corpus), end to end through the `tracker` command.

Serves the half's headlines as one RSS feed from a local HTTP server, runs `tracker init`,
`tracker poll --all`, resolves each shipped question as the world resolved it
(resolutions.yaml), then reads `tracker evidence --json` and `tracker scores --json`. Prints:
- precision and recall of sightings: a sighting is (headline, indicator); expected ones are
  the corpus labels (`fires`), found ones the hits the poll stored;
- per question, the time-averaged Brier score and skill of the evidence track and the prior.

Tune on the dev half only; report the test half. `--root` runs another checkout's code (for
"before" figures: e.g. a worktree of the commit before a change), with its own scenarios.yaml.

    python bench/evidence.py --split test [--root DIR] [--scenarios FILE] [--show-errors]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
from collections import defaultdict
from datetime import UTC, datetime
from email.utils import format_datetime
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent.parent
CORPUS = HERE / "tests" / "data" / "corpus"


def feed(items: list[dict[str, Any]]) -> bytes:
    """The items as an RSS 2.0 feed, one entry each, published on its date at noon UTC."""
    out = ['<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>corpus'
           "</title>"]
    for item in items:
        day = datetime.fromisoformat(str(item["date"])).replace(hour=12, tzinfo=UTC)
        out.append(f"<item><guid>{escape(item['id'])}</guid><title>{escape(item['title'])}"
                   f"</title><description>{escape(item.get('summary') or '')}</description>"
                   f"<pubDate>{format_datetime(day)}</pubDate></item>")
    out.append("</channel></rss>")
    return "".join(out).encode()


def serve(body: bytes) -> tuple[ThreadingHTTPServer, str]:
    """A local HTTP server answering every GET with the feed."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server name
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/corpus.xml"


class Run:
    """`tracker` commands of one checkout against one fresh SQLite database."""

    def __init__(self, root: Path, db: Path, scenarios: Path) -> None:
        self.root, self.db, self.scenarios = root, db, scenarios

    def __call__(self, *args: str) -> str:
        env = {**os.environ, "PYTHONPATH": str(self.root)}
        cmd = [sys.executable, "-m", "tracker", "--db", f"sqlite:///{self.db}",
               "--scenarios", str(self.scenarios), *args]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=self.root,
                              check=False)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("dev", "test"), required=True)
    parser.add_argument("--root", type=Path, default=HERE, help="the checkout to run")
    parser.add_argument("--scenarios", type=Path, help="default: ROOT/scenarios.yaml")
    parser.add_argument("--keep", type=Path, help="keep the database in this file")
    parser.add_argument("--show-errors", action="store_true",
                        help="list missed and false sightings (never for the test half "
                             "while tuning)")
    parser.add_argument("--ids", metavar="FIRST-LAST",
                        help="also give precision and recall of the items with ids in this "
                             "range (e.g. 434-560, a batch), from the same run")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    items = [i for i in yaml.safe_load((CORPUS / "headlines.yaml").read_text("utf-8"))
             if i["split"] == args.split]
    resolutions = yaml.safe_load((CORPUS / "resolutions.yaml").read_text("utf-8"))
    spec_text = (args.scenarios or root / "scenarios.yaml").read_text("utf-8")
    spec = yaml.safe_load(spec_text)

    if args.keep:
        args.keep.unlink(missing_ok=True)
    server, url = serve(feed(items))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            spec["feeds"] = [{"id": "corpus", "url": url}]
            scenarios = Path(tmp) / "scenarios.yaml"
            scenarios.write_text(yaml.safe_dump(spec, allow_unicode=True), "utf-8")
            run = Run(root, (args.keep or Path(tmp) / "eval.sqlite3").resolve(), scenarios)
            init_help = run("init", "--help")
            run("init", *(["--no-record"] if "--no-record" in init_help else []))
            run("poll", "--all")
            evidence = json.loads(run("evidence", "--json"))["evidence"]
            for r in resolutions:
                run("resolve", r["question"], r["scenario"], "--at", str(r["at"]),
                    "--note", "evaluation: as the world resolved it")
            scores = json.loads(run("scores", "--json"))["questions"]
    finally:
        server.shutdown()

    by_title = {i["title"]: i for i in items}
    found: set[tuple[str, str]] = set()
    for e in evidence:
        for h in e["hits"]:
            if not h.get("withdrawn_at") and h["title"] in by_title:
                found.add((by_title[h["title"]]["id"], e["indicator"]))
    expected = {(i["id"], ind) for i in items for ind in i.get("fires") or ()}
    tp, fp, fn = len(found & expected), len(found - expected), len(expected - found)
    precision = tp / (tp + fp) if tp + fp else float("nan")
    recall = tp / (tp + fn) if tp + fn else float("nan")
    if args.ids:
        first, last = (int(x) for x in args.ids.split("-"))
        inside = {i["id"] for i in items if first <= int(i["id"][1:]) <= last}
        f, x = {p for p in found if p[0] in inside}, {p for p in expected if p[0] in inside}
        right = len(f & x)
        print(f"ids {args.ids}: {len(inside)} headlines, {len(x)} expected sightings; "
              f"found {len(f)}: {right} right, {len(f - x)} false, {len(x - f)} missed; "
              f"precision {right / len(f) if f else float('nan'):.3f}  "
              f"recall {right / len(x) if x else float('nan'):.3f}")
    print(f"{args.split} half: {len(items)} headlines, {len(expected)} expected sightings; "
          f"found {len(found)}: {tp} right, {fp} false, {fn} missed")
    print(f"precision {precision:.3f}  recall {recall:.3f}")
    if args.show_errors:
        if args.split == "test":
            print("(errors of the test half are not shown: tune on the dev half)")
        else:
            per: dict[str, list[str]] = defaultdict(list)
            for item_id, ind in sorted(found - expected):
                per[item_id].append(f"false {ind}")
            for item_id, ind in sorted(expected - found):
                per[item_id].append(f"missed {ind}")
            titles = {i["id"]: i["title"] for i in items}
            for item_id, what in sorted(per.items()):
                print(f"  {item_id} {titles[item_id][:70]}: {', '.join(what)}")

    print(f"{'question':<28} {'resolved':<24} {'evidence':>9} {'skill':>7} {'prior':>7}")
    skills = []
    for q in scores:
        ev, prior = q["tracks"]["evidence"], q["tracks"]["prior"]
        skill = ev["skill"]
        skills.append(skill)
        shown = "-" if skill is None else f"{skill:+.3f}"
        print(f"{q['id']:<28} {q['resolved_to']:<24} {ev['brier']:>9.4f} {shown:>7} "
              f"{prior['brier']:>7.4f}")
    valid = [s for s in skills if s is not None]
    if valid:
        print(f"mean evidence skill {sum(valid) / len(valid):+.3f}, worst {min(valid):+.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
