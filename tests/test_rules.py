"""The analyst's rule loop through the CLI: `tracker try`, the sync preview, `tracker rematch`
(withdrawn and new sightings in F(t) and history), the matched sentence in `evidence`, and
bad match settings refused. SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from tests.conftest import SMALL_YAML, Tracker, snapshot
from tests.feedserver import FeedServer

A = ("Uzbekistan to return to the CSTO, officials in Tashkent say", "Sun, 01 Aug 2021 09:00:00 GMT")
B = ("Uzbekistan seeks observer status at the CSTO", "Fri, 01 Oct 2021 09:00:00 GMT")
C = ("Uzbekistan does not plan to return to the CSTO", "Mon, 01 Nov 2021 09:00:00 GMT")


def rss(items: list[tuple[str, str]]) -> bytes:
    body = "".join(f"<item><title>{t}</title><guid>g{i}</guid><pubDate>{d}</pubDate>"
                   f"<description>Officials spoke on Monday.</description></item>"
                   for i, (t, d) in enumerate(items))
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>t</title>'
            f"{body}</channel></rss>").encode()


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as srv:
        srv.set("/uz.xml", rss([A, B, C]))
        yield srv


def scenarios(path: Path, url: str, any_terms: str = "[rejoin*, return*, вступ*]") -> Path:
    text = (SMALL_YAML.replace("http://127.0.0.1:9/feed.xml", url)
            .replace("any: [rejoin*, return*, вступ*]", f"any: {any_terms}"))
    path.write_text(text, encoding="utf-8")
    return path


def as_json(t: Tracker, *args: str) -> dict:
    data: dict = json.loads(t.ok(*args, "--json").output)
    return data


def test_try_shows_matches_and_blocked_matches_and_stores_nothing(
        db_url: str, tmp_path: Path, server: FeedServer) -> None:
    t = Tracker(db_url, scenarios(tmp_path / "s.yaml", server.url("/uz.xml")))
    t.ok("init")
    before = snapshot(db_url)

    out = t.ok("try", "Mirziyoyev spoke.\nUzbekistan is ready to rejoin the CSTO if asked. "
               "Tashkent discussed a return to the CSTO.").output
    assert ("match    uzbekistan-rejoins/uz-csto-talks: [Tashkent] discussed a [return] to the "
            "[CSTO].") in out
    data = as_json(t, "try", "Uzbekistan does not plan to return to the CSTO")
    assert data == {"matches": [], "blocked": [{
        "question": "uzbekistan-rejoins", "indicator": "uz-csto-talks",
        "sentence": "Uzbekistan does not plan to return to the CSTO", "cue": "not",
        "kind": "negation", "terms": ["Uzbekistan", "CSTO", "return*"],
        "entry": "Uzbekistan does not plan to return to the CSTO", "link": None}]}

    # One feed fetched now: every entry tried, in order.
    data = as_json(t, "try", "--url", server.url("/uz.xml"))
    assert [(m["entry"], m["terms"]) for m in data["matches"]] == [
        (A[0], ["Uzbekistan", "Tashkent", "CSTO", "return*"])]
    assert [(b["entry"], b["cue"]) for b in data["blocked"]] == [(C[0], "not")]
    feed = tmp_path / "feed.xml"
    feed.write_bytes(rss([B]))
    assert "no indicator matches" in t.ok("try", "--file", str(feed)).output
    assert snapshot(db_url) == before

    t.refused("try", message="give a TEXT, --file F or --url URL")
    t.refused("try", "--file", str(tmp_path / "missing.txt"), message="missing.txt")


@pytest.mark.parametrize("opening", [b"\xef\xbb\xbf", b"<!-- generated -->\n",
                                     b'<?xml version="1.0"?>\n<!DOCTYPE rss>\n'],
                         ids=["byte-order mark", "comment", "doctype"])
def test_try_reads_a_feed_as_the_poller_does(db_url: str, tmp_path: Path, server: FeedServer,
                                             opening: bytes) -> None:
    """What opens a feed before its root does not make `try` read it as plain text."""
    t = Tracker(db_url, scenarios(tmp_path / "s.yaml", server.url("/uz.xml")))
    t.ok("init")
    body = rss([A, C])
    if opening.startswith(b"<?xml"):
        body = body.split(b"?>", 1)[1]
    feed = tmp_path / "feed.xml"
    feed.write_bytes(opening + body)
    data = as_json(t, "try", "--file", str(feed))
    assert [m["entry"] for m in data["matches"]] == [A[0]]
    server.set("/odd.xml", opening + body)
    data = as_json(t, "try", "--url", server.url("/odd.xml"))
    assert [m["entry"] for m in data["matches"]] == [A[0]]


def test_try_url_on_a_web_page_says_it_is_no_feed(db_url: str, tmp_path: Path,
                                                  server: FeedServer) -> None:
    """The poller would count a failure: `try` says so instead of matching the page's text."""
    t = Tracker(db_url, scenarios(tmp_path / "s.yaml", server.url("/uz.xml")))
    t.ok("init")
    page = (f"<!DOCTYPE html><html><head><title>{A[0]}</title></head><body><p>{A[0]}</p>"
            "</body></html>").encode()
    server.set("/page.html", page, content_type="text/html")
    t.refused("try", "--url", server.url("/page.html"),
              message="not a usable feed: not a feed (HTML page)")
    # the same page as a file is tried as text, as any file that is not a feed
    path = tmp_path / "page.html"
    path.write_bytes(page)
    assert as_json(t, "try", "--file", str(path))["matches"]
    path.write_text(f"<p>{A[0]}</p>\n<p>Officials spoke.", encoding="utf-8")  # not even XML
    assert as_json(t, "try", "--file", str(path))["matches"]
    path.write_text('<rss version="2.0"><channel><title>t</title></chan', encoding="utf-8")
    t.refused("try", "--file", str(path), message="not a usable feed: malformed XML")


def test_rematch_withdraws_one_sighting_and_adds_another(
        db_url: str, tmp_path: Path, server: FeedServer) -> None:
    path = scenarios(tmp_path / "s.yaml", server.url("/uz.xml"))
    t = Tracker(db_url, path)
    t.ok("init")
    out = t.ok("poll").output
    assert "1 blocked" in out  # C: "does not plan to return"
    (kept,) = as_json(t, "evidence", "blocked")["blocked"]
    assert (kept["indicator"], kept["cue"], kept["kind"], kept["title"]) == (
        "uz-csto-talks", "not", "negation", C[0])
    assert 'blocked by "not" (negation)' in t.ok("evidence", "blocked", "uzbekistan-rejoins").output
    (a,) = as_json(t, "evidence")["evidence"]
    assert a["hits"][0]["title"] == A[0] and a["observed_at"] == "2021-08-01T09:00:00Z"
    assert a["hits"][0]["sentence"] == A[0]
    assert [A[0][m[0]:m[1]] for m in a["hits"][0]["marks"]] == [
        "Uzbekistan", "return", "CSTO", "Tashkent"]
    assert "[Uzbekistan] to [return] to the [CSTO], officials in [Tashkent] say" in " ".join(
        t.ok("evidence").output.split())

    # The analyst narrows the rule to observer talk: A stops matching, B starts.
    scenarios(path, server.url("/uz.xml"), any_terms="[observer]")
    out = t.ok("sync").output
    assert "indicator uz-csto-talks: 1 stored entry would newly match, 1 would stop" in out
    assert len(as_json(t, "evidence")["evidence"]) == 1  # sync only says so

    out = t.ok("rematch").output
    assert "uzbekistan-rejoins/uz-csto-talks: 1 new hit, 1 withdrawn" in out
    assert "1 new evidence, 1 withdrawn" in out
    items = {e["id"]: e for e in as_json(t, "evidence")["evidence"]}
    assert items[a["id"]]["state"] == "withdrawn"
    assert items[a["id"]]["factor"] == {"rejoins": 1.0, "stays-out": 1.0}
    (b,) = [e for e in items.values() if e["id"] != a["id"]]
    assert b["state"] == "auto" and b["observed_at"] == "2021-10-01T09:00:00Z"

    # F(t): the prior moved by B alone (auto weight 0.5), floor 0.001 not reached.
    raw = {"rejoins": 0.04 * (0.5 * 0.9 + 0.5), "stays-out": 0.96 * (0.5 * 0.2 + 0.5)}
    want = {s: v / sum(raw.values()) for s, v in raw.items()}
    shown = as_json(t, "show", "uzbekistan-rejoins")["probabilities"]
    assert shown == pytest.approx(want, abs=1e-12)
    history = as_json(t, "history", "uzbekistan-rejoins", "--format", "json")["forecasts"]
    assert [(h["at"][:10], h["source"]) for h in history] == [
        ("2021-07-09", "prior"), ("2021-08-01", "withdrawn"), ("2021-10-01", "evidence")]
    assert history[1]["probabilities"] == history[0]["probabilities"]
    assert "rule changed" in history[1]["note"] and history[1]["evidence"] == [a["id"]]
    assert history[2]["probabilities"] == pytest.approx(want, abs=1e-12)
    t.refused("evidence", "confirm", str(a["id"]), message="was withdrawn")
    # the table shows what a withdrawn item was, and why (it showed the factor line alone)
    table = t.ok("evidence", "uzbekistan-rejoins").output
    block = table.split(f"#{a['id']} ")[1].split("\n#")[0]
    assert "withdrawn" in block and "rule changed" in block, table
    assert "Uzbekistan to return to the CSTO" in block, table

    # Applying again changes nothing; the old rule back brings A back as a new sighting.
    assert "0 new evidence, 0 withdrawn" in t.ok("rematch").output
    scenarios(path, server.url("/uz.xml"))
    t.ok("sync")
    t.ok("rematch")
    states = sorted(e["state"] for e in as_json(t, "evidence")["evidence"])
    assert states == ["auto", "withdrawn", "withdrawn"]


def test_rematch_keeps_reviewed_sightings(db_url: str, tmp_path: Path,
                                          server: FeedServer) -> None:
    path = scenarios(tmp_path / "s.yaml", server.url("/uz.xml"))
    t = Tracker(db_url, path)
    t.ok("init")
    t.ok("poll")
    (a,) = as_json(t, "evidence")["evidence"]
    t.ok("evidence", "confirm", str(a["id"]), "--note", "real")
    scenarios(path, server.url("/uz.xml"), any_terms="[observer]")
    t.ok("sync")
    assert "1 kept (reviewed)" in t.ok("rematch").output
    items = {e["id"]: e["state"] for e in as_json(t, "evidence")["evidence"]}
    assert items[a["id"]] == "confirmed"


@pytest.mark.parametrize(("edit", "message"), [
    ("near: many", "s.yaml:23: questions[0].indicators[0].match.near: near 'many'"),
    ("near: -3", "match.near: near -3: expected a whole number of words"),
    ("scope: paragraph", "match.scope: scope 'paragraph'"),
    ("negation: off", "match.negation: expected check or ignore"),
])
def test_bad_match_settings_are_refused(initialized: Tracker, tmp_path: Path, edit: str,
                                        message: str) -> None:
    path = tmp_path / "s.yaml"
    line = "          any: [rejoin*, return*, вступ*]\n"
    assert line in SMALL_YAML
    path.write_text(SMALL_YAML.replace(line, f"{line}          {edit}\n"), encoding="utf-8")
    Tracker(initialized.db_url, path).refused("sync", message=message)


def test_bad_cue_lists_are_refused(initialized: Tracker, tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SMALL_YAML.replace(
        "  scoring: {auto_weight: 0.5, floor: 0.001}\n",
        "  scoring: {auto_weight: 0.5, floor: 0.001}\n  matching:\n    window: 0\n"
        "    cues:\n      negation: {add: ['*']}\n      sarcasm: [yeah right]\n"), encoding="utf-8")
    result = Tracker(initialized.db_url, path).refused(
        "sync", message="s.yaml:5: settings.matching.window: window 0")
    assert "s.yaml:7: settings.matching.cues.negation.add[0]: cue '*' has no text" in result.output
    assert "settings.matching.cues.sarcasm: unknown key 'sarcasm'" in result.output


def test_the_report_quotes_the_sentence_escaped_with_its_terms_marked(
        db_url: str, tmp_path: Path) -> None:
    # The summary carries markup written as text (double-escaped in the XML): it must come out
    # of the report as text, and only the matched terms inside <mark>.
    title = "Regional news"
    summary = ("Tashkent will rejoin the CSTO, said &amp;lt;img src=x onerror=alert(1)&amp;gt; "
               "a minister &amp;amp; an &amp;lt;b&amp;gt;aide&amp;lt;/b&amp;gt;.")
    body = (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>t</title>'
            f"<item><title>{title}</title><guid>x1</guid>"
            f"<pubDate>{format_datetime(datetime.now(UTC) - timedelta(days=1))}</pubDate>"
            f"<description>{summary}</description></item></channel></rss>").encode()
    with FeedServer() as srv:
        srv.set("/x.xml", body)
        t = Tracker(db_url, scenarios(tmp_path / "s.yaml", srv.url("/x.xml")))
        t.ok("init")
        t.ok("poll")
    (item,) = as_json(t, "evidence")["evidence"]
    sentence = item["hits"][0]["sentence"]
    assert "<img src=x onerror=alert(1)>" in sentence  # text, kept as the feed wrote it
    out = tmp_path / "r.html"
    t.ok("report", "--period", "current", "--out", str(out))
    html = out.read_text(encoding="utf-8")
    assert "<mark>Tashkent</mark> will <mark>rejoin</mark> the <mark>CSTO</mark>" in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<b>aide</b>" not in html and "&lt;b&gt;aide&lt;/b&gt;" in html
