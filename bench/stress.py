"""Concurrent `tracker` commands on one database, invariants checked after every round.

Serves seven RSS feeds from a thread (each GET: 2-5 new items dated at random over 200 days,
most matching an indicator), writes the shipped scenarios.yaml with them, repeat_decay 0.99
and a question stress-q (1 s cooldowns) to a temporary folder, runs `tracker init`. Each round
reopens the stressed questions, then runs 3-7 commands from --mix at once (poll, poll2 = two
polls, review, update, resolve, rematch, sync, score) and checks: no database or unexpected
error, traceback, deadlock, serialization failure, failed feed or exit 1 (a lone poll may);
reported reviews and manual forecasts stored (none after a concurrent resolution); one
resolution in force; `show` unchanged by a later `tracker score`; items equal the active hits
regrouped by cooldown; no item without an active hit; no withdrawal. Exits 1 on any problem.
Database: --db (SQLite too), else a scratch PostgreSQL one via --admin-url, dropped unless --keep.

    /work/venv/bin/python bench/stress.py --rounds 40 --seed 7
    /work/venv/bin/python bench/stress.py --db sqlite:////tmp/x.sqlite3 --rounds 15
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import create_engine, make_url, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tracker.db import make_engine, normalize_url  # noqa: E402

ACTIONS = ("poll", "poll2", "review", "update", "resolve", "rematch", "sync", "score")
QUESTIONS = ("uzbekistan-rejoins", "csto-afghanistan-response", "stress-q")
FEEDS = ("f0", "f1", "f2", "f3", "f4", "f5", "plain")
HEADLINES = ("Zetaup report", "Zetadown report", "Zetaup report", "Zetadown report",
             "Uzbekistan discusses a return to the CSTO", "Tashkent weighs CSTO membership again",
             "CSTO holds exercises in Tajikistan near Dushanbe",
             "Mirziyoyev talks of a return to the Collective Security Treaty")
STRESS_QUESTION = {
    "id": "stress-q", "title": "A question for the concurrency stress", "opens": "2021-07-09",
    "closes": "2027-12-31", "resolution": "Resolves a or b.",
    "scenarios": [{"id": "a", "label": "A", "prior": 0.5}, {"id": "b", "label": "B", "prior": 0.5}],
    "indicators": [
        {"id": "zeta-up", "description": "zetaup sighted", "match": {"all": [["zetaup"]]},
         "likelihood": {"a": 0.5, "b": 0.45}, "cooldown": "1s"},
        {"id": "zeta-down", "description": "zetadown sighted", "match": {"all": [["zetadown"]]},
         "likelihood": {"a": 0.45, "b": 0.5}, "cooldown": "1s"}]}


def serve_feeds(seed: int) -> tuple[ThreadingHTTPServer, Counter[str]]:
    """A threaded server on a free loopback port: each GET gets fresh items (new guids)."""
    served: Counter[str] = Counter()
    lock, start, base = threading.Lock(), int(time.time()), datetime(2025, 8, 1, tzinfo=UTC)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

        def do_GET(self) -> None:
            with lock:
                served["requests"] += 1
                n = served["requests"]
            rng, name, items = random.Random(seed * 1_000_003 + n), self.path.strip("/"), []
            for k in range(rng.randint(2, 5)):
                published = format_datetime(base + timedelta(days=rng.uniform(0, 200)))
                head = rng.choice(HEADLINES) if name != "plain" else f"Weather {rng.random()}"
                guid = f"{name}-{start}-{n}-{k}"
                items.append(f"<item><title>{head} ({guid})</title><guid>{guid}</guid>"
                             f"<link>http://example.org/{guid}</link><description>{head}."
                             f"</description><pubDate>{published}</pubDate></item>")
            time.sleep(rng.uniform(0, 0.3))
            body = ("<?xml version='1.0'?><rss version='2.0'><channel><title>t</title><link>"
                    "http://example.org/</link><description>d</description>"
                    + "".join(items) + "</channel></rss>").encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, served


def scenarios(port: int) -> dict[str, Any]:
    """The shipped questions with the local feeds, repeat_decay 0.99 and the stress question."""
    spec = yaml.safe_load((ROOT / "scenarios.yaml").read_text(encoding="utf-8"))
    spec["settings"]["scoring"]["repeat_decay"] = 0.99
    spec["feeds"] = [{"id": f, "url": f"http://127.0.0.1:{port}/{f}", "interval": "1m"}
                     for f in FEEDS]
    spec["questions"].append(STRESS_QUESTION)
    return spec


class Stress:
    def __init__(self, db: str, scenarios_file: Path, seed: int, mix: list[str]) -> None:
        self.base = [sys.executable, "-m", "tracker", "--db", db, "--scenarios",
                     str(scenarios_file)]
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
        self.cwd = scenarios_file.parent
        self.engine = make_engine(db)
        self.rng, self.mix = random.Random(seed), mix
        self.counts: Counter[str] = Counter()
        self.problems: list[str] = []
        self.withdrawn = self.commands = 0
        spec = yaml.safe_load(scenarios_file.read_text(encoding="utf-8"))
        self.scen = {q["id"]: [s["id"] for s in q["scenarios"]] for q in spec["questions"]}

    def run(self, args: list[str], delay: float = 0.0) -> dict[str, Any]:
        time.sleep(delay)
        p = subprocess.run([*self.base, *args], cwd=self.cwd, env=self.env, capture_output=True,
                           text=True, timeout=300)
        self.commands += 1
        return {"args": args, "rc": p.returncode, "out": p.stdout, "err": p.stderr}

    def checked(self, n: int, args: list[str]) -> dict[str, Any]:
        """A command run between the concurrent ones: it must succeed."""
        r = self.run(args)
        if r["rc"]:
            self.problem(n, f"{' '.join(args)} rc={r['rc']}: {r['err'].strip()[:400]}")
        return r

    def q(self, sql: str, **kw: Any) -> list[Any]:
        with self.engine.connect() as c:
            return list(c.execute(text(sql), kw).all())

    def problem(self, n: int, msg: str) -> None:
        self.problems.append(f"round {n}: {msg}")
        print(f"PROBLEM: round {n}: {msg}", flush=True)

    def reset(self, n: int) -> None:
        """Reopen the stressed questions: unresolve, or void the resolution if that fails."""
        for qid in QUESTIONS:
            if self.q("select resolved_to from questions where id=:i", i=qid)[0][0] is None:
                continue
            if self.run(["unresolve", qid, "--note", "stress reset"])["rc"]:
                fid = self.q("select max(id) from forecasts where question_id=:i and "
                             "source='resolution'", i=qid)[0][0]
                self.checked(n, ["void", str(fid), "--note", "reset"])

    def plan(self) -> list[tuple[str, list[str], float, Any]]:
        rng = self.rng
        items = self.q("select id, question_id from evidence where state='auto' and question_id "
                       "in (" + ", ".join(f"'{q}'" for q in QUESTIONS) + ")")
        rng.shuffle(items)
        acts = [rng.choice(self.mix) for _ in range(rng.randint(3, 7))]
        if not any(a.startswith("poll") for a in acts):
            acts.append("poll")
        plan: list[tuple[str, list[str], float, Any]] = []
        for a in acts:
            d = rng.uniform(0, 1.5)
            if a == "poll2":  # two polls at (nearly) once
                plan += [(a, ["poll", "--all"], d, None),
                         (a, ["poll", "--all"], d + rng.uniform(0, 0.05), None)]
            elif a == "review" and items:
                eid, _ = items.pop()
                st = rng.choice(["confirm", "dismiss"])
                plan.append((a, ["evidence", st, str(eid), "--by", "stress"], d, (eid, st)))
            elif a == "update":
                qid, note = rng.choice(QUESTIONS), f"stress-{uuid.uuid4().hex[:10]}"
                value = f"{self.scen[qid][0]}={rng.uniform(0.05, 0.5):.3f}"
                plan.append((a, ["update", qid, value, "--note", note, "--by", "stress"], d,
                             (qid, note)))
            elif a == "resolve":
                qid = rng.choice(QUESTIONS)
                plan.append((a, ["resolve", qid, self.scen[qid][-1], "--note", "stress", "--by",
                                 "stress"], d, qid))
            elif a in ("poll", "rematch", "sync", "score"):
                plan.append((a, [a, "--all"] if a == "poll" else [a], d, None))
        return plan

    def round(self, n: int) -> None:
        self.reset(n)
        plan = self.plan()
        with ThreadPoolExecutor(len(plan)) as ex:
            futures = [(kind, meta, ex.submit(self.run, args, d)) for kind, args, d, meta in plan]
            results = [(kind, meta, f.result()) for kind, meta, f in futures]
        for kind, _, r in results:
            self.counts[kind] += 1
            if r["rc"]:
                self.counts[f"{kind}:rc{r['rc']}"] += 1
            if re.search(r"database error|unexpected error|Traceback|deadlock|serializ", r["err"],
                         re.I) or (r["rc"] == 1 and kind != "poll"):
                self.problem(n, f"{' '.join(r['args'])} rc={r['rc']}: {r['err'].strip()[:400]}")
            if kind.startswith("poll") and "failed" in r["out"] and " 0 failed" not in r["out"]:
                self.problem(n, f"poll had failed feeds: {r['out'].strip()[-600:]}")
            if "being polled by another process" in r["out"]:
                self.counts["poll:leased-skip"] += 1
        self.check_commands(n, results)
        before = {qid: self.show(n, qid) for qid in QUESTIONS}
        self.checked(n, ["score"])
        for qid in QUESTIONS:
            after = self.show(n, qid)
            if before[qid] is None or after is None:
                continue  # the failed `show` is a problem already
            drift = max(abs(before[qid][s] - after[s]) for s in before[qid])
            if drift > 1e-9:
                self.problem(n, f"{qid} stored forecast stale by {drift:.3g}: {before[qid]} vs "
                                f"fresh {after}")
        self.check_grouping(n)

    def show(self, n: int, qid: str) -> dict[str, float] | None:
        r = self.checked(n, ["show", qid, "--json"])
        return None if r["rc"] else json.loads(r["out"])["probabilities"]

    def check_commands(self, n: int, results: list[tuple[str, Any, dict[str, Any]]]) -> None:
        """What the CLI reported done is in the database."""
        ok = [(kind, meta, r) for kind, meta, r in results if r["rc"] == 0]
        resolved = {meta for kind, meta, _ in ok if kind == "resolve"}
        for kind, meta, r in ok:
            if kind == "review" and "already" not in r["out"]:
                eid, st = meta
                want = {"confirm": "confirmed", "dismiss": "dismissed"}[st]
                row = self.q("select state from evidence where id=:i", i=eid)
                if not row:
                    self.problem(n, f"evidence #{eid} {want} (CLI said so) no longer exists")
                elif row[0][0] != want:
                    self.problem(n, f"evidence #{eid} CLI said {want}, database has {row[0][0]}")
            elif kind == "update" and "manual forecast by" in r["out"]:
                qid, note = meta
                h = self.checked(n, ["history", qid, "--json"])
                if h["rc"] == 0 and not any(f.get("note") == note
                                            for f in json.loads(h["out"])["forecasts"]):
                    self.problem(n, f"manual forecast {note} of {qid} recorded by the CLI is not "
                                    f"in history")
                if qid in resolved:
                    res = self.q("select at from forecasts where question_id=:i and "
                                 "source='resolution' order by id desc limit 1", i=qid)[0][0]
                    man = self.q("select at from forecasts where note=:n", n=note)[0][0]
                    if man > res:
                        self.problem(n, f"{qid}: update and resolve both succeeded; the manual "
                                        f"forecast at {man} is after the resolution at {res}")
        for qid in resolved:
            live = self.q("select count(*) from forecasts f where question_id=:i and source="
                          "'resolution' and not exists (select 1 from forecasts v where "
                          "v.voids=f.id)", i=qid)[0][0]
            if live != 1:
                self.problem(n, f"{qid} has {live} resolutions in force")
            self.counts["resolve:ok"] += 1
        if sum(kind == "resolve" for kind, _, _ in ok) > len(resolved):
            self.counts["resolve:double-ok"] += 1

    def check_grouping(self, n: int) -> None:
        """Items equal the active hits regrouped by cooldown; no empty item; no withdrawal."""
        cooldown = dict(self.q("select id, cooldown_seconds from indicators"))
        by_indicator = defaultdict(list)
        for hid, ind, evid, at, entry, state, evat in self.q(
                "select h.id, h.indicator_id, h.evidence_id, e.observed_at, e.id, ev.state, "
                "ev.observed_at from hits h join entries e on e.id=h.entry_id join evidence ev "
                "on ev.id=h.evidence_id where h.withdrawn_at is null"):
            at, evat = (datetime.fromisoformat(t) if isinstance(t, str) else t for t in (at, evat))
            by_indicator[ind].append((at, entry, evid, state, evat))
            if state == "withdrawn":
                self.problem(n, f"active hit {hid} in withdrawn item {evid}")
        for ind, hits in by_indicator.items():
            groups: list[list[tuple[Any, ...]]] = []
            for h in sorted(hits):
                if groups and h[0] - groups[-1][0][0] < timedelta(seconds=cooldown[ind]):
                    groups[-1].append(h)
                else:
                    groups.append([h])
            for g in groups:
                ids = {h[2] for h in g}
                if len(ids) != 1:
                    self.problem(n, f"{ind}: one cooldown group split over items {sorted(ids)}")
                elif g[0][4] != g[0][0]:
                    self.problem(n, f"{ind}: item {g[0][2]} observed_at {g[0][4]} != first hit "
                                    f"{g[0][0]}")
            firsts = [g[0][2] for g in groups]
            if len(firsts) != len(set(firsts)):
                self.problem(n, f"{ind}: an item spans two cooldown groups")
        for eid, state in self.q("select id, state from evidence ev where state <> 'withdrawn' "
                                 "and not exists (select 1 from hits h where h.evidence_id=ev.id "
                                 "and h.withdrawn_at is null)"):
            self.problem(n, f"evidence {eid} ({state}) has no active hit")
        withdrawn = self.q("select count(*) from evidence where state='withdrawn'")[0][0]
        if withdrawn > self.withdrawn:
            self.withdrawn = withdrawn
            self.problem(n, f"{withdrawn} items withdrawn although no rule changed")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", help="database URL (default: a scratch PostgreSQL database)")
    parser.add_argument("--admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/"
                        "postgres", help="where the scratch database is created and dropped")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--mix", default=",".join(ACTIONS),
                        help=f"comma list of actions to draw from (default: all of {ACTIONS})")
    args = parser.parse_args()
    mix = args.mix.split(",")
    if set(mix) - set(ACTIONS):
        parser.error(f"--mix: choose from {', '.join(ACTIONS)}")

    admin, db = None, args.db
    if db is None:
        admin = create_engine(normalize_url(args.admin_url), isolation_level="AUTOCOMMIT")
        name = f"tracker_stress_{secrets.token_hex(4)}"
        with admin.connect() as c:
            c.execute(text(f'create database "{name}"'))
        db = make_url(normalize_url(args.admin_url)).set(database=name).render_as_string(False)
    server, served = serve_feeds(args.seed)
    work = Path(tempfile.mkdtemp(prefix="tracker-stress-"))
    scenarios_file = work / "scenarios.yaml"
    scenarios_file.write_text(yaml.safe_dump(scenarios(server.server_port), allow_unicode=True,
                                             sort_keys=False), encoding="utf-8")
    print(f"stress: {args.rounds} rounds, seed {args.seed}, mix {','.join(mix)}; database {db}; "
          f"feeds on port {server.server_port}; work folder {work}", flush=True)
    stress = Stress(db, scenarios_file, args.seed, mix)
    started = time.monotonic()
    try:
        if stress.checked(0, ["init"])["rc"]:
            return 1
        for n in range(1, args.rounds + 1):
            stress.round(n)
            if n % 5 == 0:
                print(f"round {n}: {dict(stress.counts)}; problems so far "
                      f"{len(stress.problems)}", flush=True)
        elapsed = time.monotonic() - started
        tables = {t: stress.q(f"select count(*) from {t}")[0][0]
                  for t in ("entries", "hits", "evidence", "forecasts")}
    finally:
        server.shutdown()
        stress.engine.dispose()
        if admin is not None:
            if not args.keep:
                with admin.connect() as c:
                    c.execute(text(f'drop database "{name}" with (force)'))
            admin.dispose()
    print(f"done: {args.rounds} rounds, {stress.commands} tracker commands in "
          f"{elapsed:.0f} s ({elapsed / args.rounds:.1f} s a round); {served['requests']} feed "
          f"requests served; rows: " + ", ".join(f"{t} {c}" for t, c in tables.items()))
    print(f"counts: {dict(stress.counts)}")
    print(f"{len(stress.problems)} problems")
    for p in stress.problems:
        print("  - " + p)
    return 1 if stress.problems else 0


if __name__ == "__main__":
    sys.exit(main())
