"""After a crash and as the database grows: `kill -9` of `tracker poll` mid-poll, a flood of
entries from one feed, old entries pruned by the daemon, the database size in status."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import Tracker
from tests.feedserver import FeedServer
from tests.test_daemon import (  # noqa: F401 - fixtures
    DB,
    Daemon,
    daemons,
    env,
    feeds,
    rss,
    setup,
    smtp,
    wait_until,
)


def probabilities(t: Tracker) -> dict[str, Any]:
    shown = json.loads(t.ok("show", "--json").output)["questions"]
    return {q["id"]: q["probabilities"] for q in shown}


def test_kill_9_of_tracker_poll_leaves_nothing_stale_or_leased(
    db_url: str, feeds: FeedServer, setup: Callable[..., tuple[Path, DB]],  # noqa: F811
    env: dict[str, str], tmp_path: Path,  # noqa: F811
) -> None:
    feeds.set("/fast.xml", rss("fast", 20, matching=4))
    feeds.set("/slow.xml", rss("slow", 20))
    feeds.set_fault("/slow.xml", delay=60)
    path, db = setup({"fast": (feeds.url("/fast.xml"), "1h"),
                      "slow": (feeds.url("/slow.xml"), "1h")})
    t = Tracker(db_url, path)
    prior = probabilities(t)
    poller = subprocess.Popen(
        [sys.executable, "-m", "tracker", "--db", db_url, "--scenarios", str(path), "poll"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        # fast is stored with its evidence; the poll waits for slow before it rescores
        wait_until(lambda: feeds.hits("/slow.xml") == 1
                   and db.value("SELECT count(*) FROM evidence") == 2, "a poll in flight")
    finally:
        poller.kill()
        poller.wait(10)
    assert probabilities(t) == prior  # stale: the rescore never ran

    feeds.set_fault("/slow.xml", delay=0)
    # slow's lease belongs to a dead process of this host: free at once
    again = t.ok("poll", "slow").output
    assert "slow: 20 new entries" in again and "another process" not in again
    after = probabilities(t)
    assert after != prior
    t.ok("score")
    assert probabilities(t) == after  # the poll left what `tracker score` computes


def test_no_feed_due_says_when_feeds_are_leased(
    db_url: str, feeds: FeedServer, setup: Callable[..., tuple[Path, DB]],  # noqa: F811
) -> None:
    feeds.set("/a.xml", rss("a", 3))
    path, db = setup({"a": (feeds.url("/a.xml"), "1h"), "b": (feeds.url("/a.xml"), "1h")})
    db.run("UPDATE feeds SET lease_owner = 'elsewhere:1', lease_until = :t",
           t="2999-01-01 00:00:00")
    out = Tracker(db_url, path).ok("poll").output
    assert "no feed is due (2 feeds being polled by another process)" in out
