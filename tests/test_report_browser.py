"""The report of the shipped scenarios in headless Chromium: it shows, fits 700 px, and its
charts read on a phone 400 px wide.

Set TRACKER_UPDATE_SCREENSHOT=1 to copy the screenshot to docs/report.png."""

from __future__ import annotations

import html as html_lib
import json
import os
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from tracker.db import make_engine, make_sessionmaker, transaction
from tracker.ledger import get_question, record_manual
from tracker.mail import write_html
from tracker.models import Feed, Report
from tracker.reports import make_report

from .conftest import Tracker
from .test_analyst_day import date_labels
from .test_report import REPO, add_evidence

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="needs Debian's chromium at /usr/bin/chromium "
                                       "(apt-get install chromium; .ci/run installs it)")
W09_END = datetime(2026, 2, 23, 7, tzinfo=UTC)
W10_END = datetime(2026, 3, 2, 7, tzinfo=UTC)


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}",
         "--window-size=700,2400", *args],
        capture_output=True, text=True, timeout=90, check=True,
    )


def shipped_report(tmp_path: Path) -> Path:
    """The shipped scenarios with a little sample data; the report of 2026-W10 as a file."""
    url = f"sqlite:///{tmp_path / 'shipped.sqlite3'}"
    Tracker(url, REPO / "scenarios.yaml").ok("init", "--no-record")  # six open questions
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    with transaction(sessions) as session:
        make_report(session, "2026-W09", now=W09_END).state = "sent"
        feeds = session.scalars(select(Feed).order_by(Feed.id)).all()
        feeds[0].failures, feeds[0].last_error = 4, "HTTP 503 Service Unavailable"
        start = W09_END
        add_evidence(session, "csto-afghanistan-response", "csto-exercises-tajikistan",
                     state="confirmed", feed="eurasianet",
                     title="CSTO rapid reaction forces rehearse a border defence near Kulob",
                     link="https://eurasianet.org/example", at=start + timedelta(days=1))
        add_evidence(session, "csto-afghanistan-response", "russia-201-base-reinforced",
                     feed="tass-en", title="Russia sends new drones to its base in Tajikistan",
                     link="https://tass.com/example", at=start + timedelta(days=3))
        add_evidence(session, "uzbekistan-rejoins", "uz-csto-talks", feed="gazeta-uz-en",
                     title="Tashkent says talks on CSTO membership have begun",
                     link="https://www.gazeta.uz/example", at=start + timedelta(days=2))
        for feed in feeds[1:]:
            feed.last_polled = W10_END - timedelta(hours=1)
        record_manual(session, get_question(session, "uzbekistan-rejoins"), {"rejoins": 0.03},
                      note="Mirziyoyev's speech rules out blocs again", by="analyst",
                      at=start + timedelta(days=4))
        report = make_report(session, "2026-W10", now=W10_END)
        out = tmp_path / "site" / "report.html"
        write_html(report, out)
        assert session.scalars(select(Report.state).order_by(Report.period)).all() == [
            "sent", "pending"]
    engine.dispose()
    return out


def test_the_report_renders_and_fits_a_phone_width(tmp_path: Path) -> None:
    page = shipped_report(tmp_path)
    shot = tmp_path / "report.png"
    chromium(tmp_path, f"--screenshot={shot}", page.as_uri())
    with Image.open(shot) as image:
        rgb = image.convert("RGB")
        assert rgb.size == (700, 2400)
        colours = rgb.getcolors(maxcolors=1 << 16)
        assert colours is None or len(colours) > 50, "the screenshot is blank"
        # The charts are there: pixels of the palette's first colour (#0072B2).
        pixels = np.asarray(rgb, dtype=int)
        assert (np.abs(pixels - (0x00, 0x72, 0xB2)).sum(axis=2) < 30).any()
    # A test copy of the page measures itself; the report proper carries no script.
    probe = page.with_name("probe.html")
    probe.write_text(page.read_text(encoding="utf-8").replace(
        "</body>", "<script>document.body.setAttribute('data-width', "
        "document.documentElement.scrollWidth + ' ' + window.innerWidth)</script></body>"),
        encoding="utf-8")
    dom = chromium(tmp_path, "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()).stdout
    found = re.search(r'data-width="(\d+) (\d+)"', dom)
    assert found, dom[:500]
    scroll_width, viewport = map(int, found.groups())
    assert viewport <= 700 and scroll_width <= viewport, (scroll_width, viewport)
    if os.environ.get("TRACKER_UPDATE_SCREENSHOT"):
        shutil.copy(shot, REPO / "docs" / "report.png")


def test_the_charts_read_at_400_px(tmp_path: Path) -> None:
    page = shipped_report(tmp_path)
    probe = page.with_name("probe400.html")
    probe.write_text(page.read_text(encoding="utf-8").replace(
        # Headless Chromium's window is at least 500 px wide: the page is held to 400 inside.
        "</body>", "<script>addEventListener('load', () => {"
        "document.documentElement.style.width = '400px';"
        "document.body.setAttribute('data-charts', JSON.stringify("
        "[...document.querySelectorAll('img.chart')].map(i => [i.getAttribute('src'), "
        "i.getBoundingClientRect().right, i.getBoundingClientRect().width, i.naturalWidth])"
        ".concat([[document.body.scrollWidth, document.documentElement.offsetWidth]])))})"
        "</script></body>"), encoding="utf-8")
    dom = chromium(tmp_path, "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()).stdout
    found = re.search(r"data-charts=\"([^\"]*)\"", dom)
    assert found, dom[:500]
    *charts, (scroll_width, viewport) = json.loads(html_lib.unescape(found.group(1)))
    assert viewport <= 400 and scroll_width <= viewport, (scroll_width, viewport)
    assert len(charts) >= 5
    for src, right, shown, natural in charts:
        assert right <= viewport, src  # nothing cut off at the right
        first, last = date_labels(page.parent / src)[0]
        assert (last - first + 1) * shown / natural >= 9, (src, last - first + 1, shown)
