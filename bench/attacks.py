"""Re-run the attacks of issue 12 against real `tracker` processes and print what each cost.

Entity bombs and the slow-to-strip feed are served by tests/feedserver.py and polled by a
`tracker poll` process: wall time, peak resident memory of it and its parse workers (wait4),
and CPU. The YAML alias bomb is loaded by `tracker init`: exit status and time. SIGTERM is sent
to a `tracker daemon` one second into the worst parse: time to exit.

    .venv/bin/python bench/attacks.py
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import SMALL_YAML  # noqa: E402
from tests.feedserver import FeedServer  # noqa: E402
from tests.test_hostile_feeds import entity_bomb  # noqa: E402
from tests.test_hostile_input import HOSTILE  # noqa: E402
from tests.test_recovery import slow_to_parse  # noqa: E402


def tracker(folder: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "tracker", "--db", f"sqlite:///{folder / 'db.sqlite3'}",
            "--scenarios", str(folder / "scenarios.yaml"), *args]


def run(command: list[str], signal_after: float | None = None) -> tuple[int, float, float, int]:
    """(exit status, wall s, CPU s, peak MB of the process and its reaped children)."""
    started = time.monotonic()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if signal_after is not None:
        time.sleep(signal_after)
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - started
    return (os.waitstatus_to_exitcode(status), wall, usage.ru_utime + usage.ru_stime,
            usage.ru_maxrss // 1024)


def prepare(folder: Path, server: FeedServer, feeds: dict[str, bytes]) -> None:
    """scenarios.yaml naming the served feeds, and `tracker init`."""
    lines = ["version: 1", "feeds:"]
    for name, body in feeds.items():
        server.set(f"/{name}.xml", body, content_type="application/xml")
        lines.append(f'  - {{id: {name}, url: "{server.url(f"/{name}.xml")}"}}')
    questions = SMALL_YAML[SMALL_YAML.index("questions:"):]
    (folder / "scenarios.yaml").write_text("\n".join(lines) + "\n" + questions)
    subprocess.run(tracker(folder, "init"), check=True, stdout=subprocess.DEVNULL)


def main() -> None:
    feeds = {
        "bomb-after-doctype": entity_bomb("after a doctype without a subset", 60_000, 20_000),
        "bomb-utf16": entity_bomb("utf-16 subset", 60_000, 20_000),
        "bomb-no-doctype": entity_bomb("no doctype at all", 60_000, 20_000),
        "redos": slow_to_parse(),
        # the baseline: what any `tracker poll` process costs (start-up, one small feed)
        "plain": slow_to_parse(items=1, size=10),
    }
    with FeedServer() as server, tempfile.TemporaryDirectory() as tmp:
        polls, daemon = Path(tmp) / "polls", Path(tmp) / "daemon"
        polls.mkdir()
        daemon.mkdir()
        prepare(polls, server, feeds)
        for name in feeds:
            code, wall, cpu, peak = run(tracker(polls, "poll", name))
            print(f"poll {name:<20} {len(feeds[name]) // 1024:>5} KB: exit {code}, "
                  f"{wall:.2f} s, {cpu:.2f} s CPU, peak {peak} MB")
        prepare(daemon, server, feeds)
        code, wall, _, _ = run(tracker(daemon, "daemon"), signal_after=3.0)
        print(f"daemon SIGTERM 3 s into its first poll: exit {code} after {wall:.2f} s")
        bomb, _, _ = HOSTILE["alias bomb"]
        (polls / "scenarios.yaml").write_text(bomb)
        code, wall, cpu, peak = run(tracker(polls, "sync"))
        print(f"sync of the YAML alias bomb: exit {code}, {wall:.2f} s, peak {peak} MB")


if __name__ == "__main__":
    main()
