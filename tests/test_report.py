"""The report: periods, what it says, and `tracker report` to the terminal and to a file."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tracker.config import Settings
from tracker.db import make_engine, make_sessionmaker, transaction
from tracker.ledger import get_question, record_manual, rescore
from tracker.models import Entry, Evidence, Feed, Hit, Question, Report
from tracker.reports import latest_due_period, make_report, period_bounds, period_of

from .conftest import SMALL_YAML, Tracker

REPO = Path(__file__).resolve().parent.parent
W10_START = datetime(2026, 2, 23, 7, tzinfo=UTC)
W10_END = datetime(2026, 3, 2, 7, tzinfo=UTC)


def add_evidence(session: Session, question: str, indicator: str, *, title: str, at: datetime,
                 link: str | None = "https://news.example/a", state: str = "auto",
                 feed: str = "local", sentence: str | None = None,
                 marks: list[list[int]] | None = None) -> Evidence:
    """A sighting as the poller would store it: an entry, its evidence item and the hit (with
    the sentence it quotes and the spans of its terms there, when given)."""
    key = hashlib.sha256(f"{title}{at}{indicator}".encode()).hexdigest()[:32]
    entry = Entry(feed_id=feed, key=key, link=link, title=title, summary="", published=at,
                  fetched_at=at, observed_at=at)
    evidence = Evidence(question_id=question, indicator_id=indicator, observed_at=at,
                        state=state, created_at=at)
    session.add_all([entry, evidence])
    session.flush()
    session.add(Hit(entry_id=entry.id, indicator_id=indicator, evidence_id=evidence.id,
                    terms=[], created_at=at, sentence=sentence, marks=marks))
    session.flush()
    rescore(session, [question], at)
    return evidence



class Tags(HTMLParser):
    """Every start tag with its attributes, for 'no forbidden element'."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def assert_inert(html: str, *, images: str = "cid:") -> None:
    """No script, SVG, style sheet, event handler, external image or javascript: link."""
    for tag, attrs in Tags(html).tags:
        assert tag not in ("script", "svg", "style", "link", "iframe", "object", "embed"), tag
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            assert not (value or "").strip().lower().startswith(("javascript:", "data:")), value
        if tag == "img":
            assert (attrs.get("src") or "").startswith(images), attrs
        if tag == "a":
            assert (attrs.get("href") or "").startswith(("https://", "http://")), attrs


def test_periods_of_the_default_schedule() -> None:
    s = Settings()
    assert period_of(datetime(2026, 2, 25, tzinfo=UTC), s) == "2026-W10"
    assert period_bounds("2026-W10", s) == (W10_START, W10_END)
    assert period_of(W10_END, s) == "2026-W11"
    assert period_of(W10_END - timedelta(seconds=1), s) == "2026-W10"
    assert latest_due_period(W10_END, s) == "2026-W10"
    assert latest_due_period(W10_END - timedelta(seconds=1), s) == "2026-W09"
    assert period_bounds("2026-W01", s)[1] == datetime(2025, 12, 29, 7, tzinfo=UTC)


@pytest.mark.parametrize("settings", [
    Settings(timezone="Europe/Berlin", report_cron="30 8 * * fri"),
    Settings(timezone="America/New_York", report_cron="0 6 * * *"),
    Settings(timezone="Asia/Tokyo", report_cron="0 0 * * mon,thu"),
])
def test_every_moment_falls_in_the_period_it_is_keyed_to(settings: Settings) -> None:
    moment = datetime(2026, 3, 1, tzinfo=UTC)
    for _ in range(60):
        period = period_of(moment, settings)
        start, end = period_bounds(period, settings)
        assert start <= moment < end
        assert abs(end - start - timedelta(days=7)) <= timedelta(hours=1)  # DST shifts
        assert latest_due_period(end, settings) == period
        moment += timedelta(hours=29, minutes=13)


def test_berlin_period_follows_daylight_saving() -> None:
    s = Settings(timezone="Europe/Berlin")
    assert period_bounds("2026-W14", s)[1] == datetime(2026, 3, 30, 5, tzinfo=UTC)
    assert period_bounds("2026-W13", s)[1] == datetime(2026, 3, 23, 6, tzinfo=UTC)


def test_report_says_what_moved_each_question(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        add_evidence(session, "uzbekistan-rejoins", "uz-csto-talks", state="confirmed",
                     title="Tashkent weighs a return to the CSTO",
                     at=datetime(2026, 2, 25, 9, tzinfo=UTC))
        add_evidence(session, "csto-response", "csto-border-drills",
                     title="CSTO drills near Termez", at=datetime(2026, 2, 26, 9, tzinfo=UTC))
        add_evidence(session, "csto-response", "csto-border-drills", state="dismissed",
                     title="A football match", at=datetime(2026, 2, 27, 9, tzinfo=UTC))
        record_manual(session, get_question(session, "csto-response"), {"deploys": 0.3},
                      note="Moscow signals readiness", by="ana",
                      at=datetime(2026, 2, 28, 9, tzinfo=UTC))
        report = make_report(session, "2026-W10", now=datetime(2026, 3, 5, tzinfo=UTC))
        text, html = report.text, report.html
        assert report.period_start == W10_START and report.period_end == W10_END
        assert set(report.probabilities) == {"uzbekistan-rejoins", "csto-response"}
    assert "tracker report 2026-W10: 2 questions moved" in report.subject
    assert "Tashkent weighs a return to the CSTO (local, 2026-02-25) https://news.example/a" in text
    assert "Sighted: Uzbek officials discuss returning to the CSTO" in text
    assert "factor: Uzbekistan rejoins x0.90, Uzbekistan stays outside x0.20" in text
    # The drills item is auto; its indicator has one dismissal (the football match), so its
    # reliability is (4·0.5 + 0) / (4 + 0 + 1) = 0.4 (docs/model.md). The text is filled to
    # 100 columns: a phrase may span two lines.
    assert "not reviewed yet: counted as right with probability 0.4" in " ".join(text.split())
    assert "A football match" not in text
    assert "ana set the forecast by hand" in text and '"Moscow signals readiness"' in text
    assert "Collective deployment: 20.0% -> 30.0%" in text or "30.0%" in text
    assert "1 sighting awaiting review" in text
    assert "Uzbek officials discuss returning to the CSTO: sighted 1x this period" in text
    assert "No earlier report was sent" in text
    assert "30.0%" in html and "Moscow signals readiness" in html
    assert '<a href="https://news.example/a"' in html
    assert_inert(html)
    assert len(report.images) == 2
    assert all(i.content.startswith(b"\x89PNG") and f"cid:{i.cid}" in html for i in report.images)


def test_change_is_against_the_last_report_sent(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        make_report(session, "2026-W10", now=W10_END).state = "sent"
        record_manual(session, get_question(session, "uzbekistan-rejoins"), {"rejoins": 0.1},
                      note="New talks", by="ana", at=datetime(2026, 3, 4, tzinfo=UTC))
        report = make_report(session, "2026-W11", now=datetime(2026, 3, 10, tzinfo=UTC))
    assert "Changes are against the report of 2026-W10." in report.text
    assert "10.0%  Uzbekistan rejoins  (↑ +6.0 pts)" in report.text
    assert "(↓ -6.0 pts)" in report.text and "(=)" in report.text
    assert "▲ +6.0 pts" in report.html and "▼ -6.0 pts" in report.html
    assert "1 question moved, most: Will Uzbekistan rejoin the CSTO before 2028?" \
        in report.subject


def test_with_no_report_sent_the_subject_names_the_question_that_moved_most(
        sessions: sessionmaker[Session]) -> None:
    """With no earlier report, every change was unknown and the subject named the first
    question that moved at all, not the one that moved most."""
    with transaction(sessions) as session:
        record_manual(session, get_question(session, "uzbekistan-rejoins"), {"rejoins": 0.05},
                      note="a little", by="ana", at=W10_START + timedelta(hours=1))
        record_manual(session, get_question(session, "csto-response"), {"deploys": 0.8},
                      note="a lot", by="ana", at=W10_START + timedelta(hours=2))
        report = make_report(session, "2026-W10", now=W10_END)
        most = get_question(session, "csto-response").title
    assert "No earlier report was sent" in report.text
    assert report.subject == f"tracker report 2026-W10: 2 questions moved, most: {most}"


def test_attention_lists_and_resolved_scores(tracker: Tracker, tmp_path: Path) -> None:
    tracker.scenarios.write_text(
        SMALL_YAML.replace("closes: 2026-12-31", "closes: 2025-12-31"), encoding="utf-8")
    tracker.ok("init")
    engine = make_engine(tracker.db_url)
    sessions = make_sessionmaker(engine)
    with transaction(sessions) as session:
        session.add(Feed(id="broken", url="https://broken.example/rss", failures=3,
                         last_error="HTTP 500 from server"))
        session.add(Feed(id="quiet", url="https://quiet.example/rss",
                         last_polled=datetime(2026, 2, 28, tzinfo=UTC)))
        session.flush()
        add_evidence(session, "csto-response", "csto-border-drills", feed="quiet",
                     title="Old news", at=datetime(2026, 1, 5, tzinfo=UTC))
        q = session.get_one(Question, "uzbekistan-rejoins")
        q.resolved_to, q.resolved_at = "stays-out", datetime(2026, 1, 10, tzinfo=UTC)
        report = make_report(session, "2026-W10", now=W10_END)
    engine.dispose()
    text = report.text
    assert "- broken: failing: 3 failed polls in a row, last: HTTP 500 from server" in text
    assert "- quiet: silent: no new entry since 2026-01-05" in text
    assert "- local: silent: never polled" in text
    flat = " ".join(text.split())  # filled to 100 columns: a phrase may span two lines
    assert "closed 2025-12-31; tracker resolve csto-response" in flat
    assert "no manual forecast since it opened on 2021-07-09" in flat
    assert "resolved 2026-01-10, Uzbekistan stays outside" in text
    assert re.search(r"tracker\s+Brier 0\.\d{3}\s+log -0\.\d{3}\s+skill 0\.000", text)
    assert "uzbekistan-rejoins" not in report.probabilities
    assert_inert(report.html)


def test_a_period_is_rendered_once_unless_forced(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        first = make_report(session, "2026-W10", now=W10_END)
        first.state = "sent"
        mid, html = first.message_id, first.html
    with transaction(sessions) as session:
        add_evidence(session, "csto-response", "csto-border-drills", title="CSTO drills again",
                     at=datetime(2026, 2, 24, tzinfo=UTC))
        again = make_report(session, "2026-W10", now=W10_END + timedelta(days=1))
        assert again.id == first.id and again.html == html
        forced = make_report(session, "2026-W10", now=W10_END, force=True)
        assert forced.id == first.id and "CSTO drills again" in forced.html
        assert forced.message_id == mid and forced.state == "sent"
        assert session.scalars(select(Report)).all() == [forced]
    assert re.fullmatch(r"<report-2026-W10\.[0-9a-f]{12}@tracker>", mid)


def test_cli_prints_writes_and_refuses(initialized: Tracker, tmp_path: Path) -> None:
    printed = initialized.ok("report", "--period", "2026-W10").output
    assert printed.startswith("Tracker report 2026-W10: the week ending Mon 02 Mar 2026 07:00 "
                              "UTC\n")
    out = tmp_path / "site" / "week.html"
    result = initialized.ok("report", "--period", "2026-W10", "--out", str(out))
    assert f"wrote {out}" in result.output
    html = out.read_text(encoding="utf-8")
    srcs = re.findall(r'<img[^>]* src="([^"]+)"', html)
    assert srcs == ["week-2026-W10-uzbekistan-rejoins.png", "week-2026-W10-csto-response.png"]
    assert all((out.parent / src).read_bytes().startswith(b"\x89PNG") for src in srcs)
    assert_inert(html, images="week-2026-W10-")
    bad = initialized("report", "--period", "2026-W99")
    assert bad.exit_code == 2 and "bad period '2026-W99'" in bad.output
    future = initialized("report", "--period", "2099-W10")
    assert future.exit_code == 2 and "is not over" in future.output
    assert "--force" in initialized.ok("report", "--help").output


def test_an_earlier_period_is_rendered_but_not_queued(
    initialized: Tracker, sessions: sessionmaker[Session], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Looking at an earlier week again must not mail it later: only the latest period's
    report goes to the outbox (the daemon sends it on schedule); an earlier one is queued only
    by --send, which sends it at once."""
    monkeypatch.delenv("TRACKER_SMTP_HOST", raising=False)
    monkeypatch.setenv("TRACKER_REPORTS_DIR", str(tmp_path / "sent"))

    def outbox() -> list[tuple[str, str]]:
        with sessions() as session:
            return [(r.period, r.state) for r in session.scalars(
                select(Report).order_by(Report.period))]

    out = tmp_path / "w10.html"
    said = initialized.ok("report", "--period", "2026-W10", "--out", str(out)).output
    assert "not queued for sending" in said and "--send" in said
    assert "Tracker report 2026-W10" in out.read_text(encoding="utf-8")
    assert initialized.ok("report", "--period", "2026-W10").output.startswith(
        "Tracker report 2026-W10")
    assert outbox() == []
    latest = latest_due_period(datetime.now(UTC), Settings())
    initialized.ok("report")
    assert outbox() == [(latest, "pending")]
    sent = initialized.ok("report", "--period", "2026-W10", "--send").output
    assert "report 2026-W10 sent" in sent
    assert outbox() == [("2026-W10", "sent"), (latest, "pending")]
    assert (tmp_path / "sent" / "2026-W10.html").exists()


def test_force_without_send_keeps_the_copy_that_was_sent(
    initialized: Tracker, sessions: sessionmaker[Session], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`--force --out` renders a sent period again to look at; the stored copy stays the one
    sent (later reports' changes are measured against it), until `--send --force`."""
    monkeypatch.delenv("TRACKER_SMTP_HOST", raising=False)
    monkeypatch.setenv("TRACKER_REPORTS_DIR", str(tmp_path / "sent"))
    initialized.ok("report", "--period", "2026-W10", "--send")
    initialized.ok("update", "uzbekistan-rejoins", "rejoins=20%", "--note", "afterthought",
                   "--by", "auditor", "--at", "2026-02-25")
    said = initialized.ok("report", "--period", "2026-W10", "--force", "--out",
                          str(tmp_path / "again.html")).output
    assert "rendered again, not stored" in said
    assert "auditor" in (tmp_path / "again.html").read_text(encoding="utf-8")
    initialized.ok("report", "--period", "2026-W10", "--out", str(tmp_path / "kept.html"))
    kept = (tmp_path / "kept.html").read_text(encoding="utf-8")
    assert "auditor" not in kept
    # the same report; its charts are named after the file they sit beside
    assert kept.replace('src="kept-', 'src="') == (
        tmp_path / "sent" / "2026-W10.html").read_text(encoding="utf-8")
    with sessions() as session:
        assert session.scalars(select(Report)).one().state == "sent"


def test_shipped_scenarios_report_is_under_gmails_limit(db_url: str, tmp_path: Path) -> None:
    shipped = Tracker(db_url, REPO / "scenarios.yaml")
    shipped.ok("init")
    engine = make_engine(db_url)
    with transaction(make_sessionmaker(engine)) as session:
        question = session.scalars(select(Question).order_by(Question.position)).first()
        assert question is not None
        for k, indicator in enumerate(i for i in question.indicators if not i.retired):
            add_evidence(session, question.id, indicator.id, feed=session.scalars(
                select(Feed.id)).first() or "", title=f"Sighting {k} " + "x" * 120,
                at=W10_START + timedelta(hours=5 + k))
        report = make_report(session, "2026-W10", now=W10_END)
        size = len(report.html.encode("utf-8"))
    engine.dispose()
    assert size < 102_400, size
    assert "Shortened" not in report.html  # small enough as it is
    # The other questions' indicators have no sighting: "not sighted yet", not "never" (the
    # shipped record may know of the event, from before the tracker polled anything).
    assert "not sighted yet" in report.text and "not sighted yet" in report.html
    assert not any(line.endswith(": never") for line in report.text.splitlines())
    assert_inert(report.html)


def test_a_week_of_long_sightings_is_shortened_under_gmails_limit(db_url: str) -> None:
    """Three sightings of every shipped indicator in one week, each with a 400-character
    title, a 300-character link and a long quoted sentence carrying a bidi override: the
    report leaves out details until its HTML fits, says so, and quotes no override."""
    shipped = Tracker(db_url, REPO / "scenarios.yaml")
    shipped.ok("init", "--no-record")
    engine = make_engine(db_url)
    with transaction(make_sessionmaker(engine)) as session:
        feed = session.scalars(select(Feed.id)).first() or ""
        sentence = "Tashkent \u202egpj.exe " + "and the bloc said more " * 60
        for question in session.scalars(select(Question)):
            for k, indicator in enumerate(i for i in question.indicators if not i.retired):
                for n in range(3):
                    at = W10_START + timedelta(hours=2 + 50 * n + k)
                    item = add_evidence(session, question.id, indicator.id, feed=feed,
                                        title=f"Sighting {k}.{n} " + "y" * 400, at=at,
                                        link="https://news.example/" + "z" * 300)
                    for hit in item.hits:
                        hit.sentence, hit.marks = sentence, [[0, 8], [1000, 1010]]
        session.flush()
        rescore(session)
        report = make_report(session, "2026-W10", now=W10_END)
        html, text = report.html, report.text
    engine.dispose()
    assert len(html.encode("utf-8")) < 102_400
    assert "Shortened to stay under 102 KB" in html
    assert "Shortened to stay under 102 KB" in text
    assert "\u202e" not in html and "\u202e" not in text
    assert "smaller moves, not shown here (`tracker history" in text
    assert_inert(html)


def test_a_quoted_sentence_carries_no_bidi_override(initialized: Tracker,
                                                     sessions: sessionmaker[Session]) -> None:
    """A feed's sentence is quoted with its terms marked, but an override that would turn
    "gpj.exe" into "exe.jpg" on screen reaches neither the mail nor the terminal."""
    with transaction(sessions) as session:
        add_evidence(session, "uzbekistan-rejoins", "uz-csto-talks",
                     title="Tashkent and the CSTO", at=W10_START + timedelta(hours=3),
                     sentence="Tashkent may return to the CSTO \u202egpj.exe",
                     marks=[[0, 8], [27, 31]])
        report = make_report(session, "2026-W10", now=W10_END)
        html, text = report.html, report.text
    assert "<mark>Tashkent</mark> may return to the <mark>CSTO</mark> \ufffdgpj.exe" in html
    assert "[Tashkent] may return to the [CSTO] \ufffdgpj.exe" in " ".join(text.split())
    assert "\u202e" not in html + text
    shown = initialized.ok("report", "--period", "2026-W10").output
    assert "\ufffdgpj.exe" in shown and "\u202e" not in shown


def test_terms_matched_in_the_headline_are_marked_there(
        sessions: sessionmaker[Session]) -> None:
    """A sighting in the headline itself showed no marks at all: the quote, equal to the
    headline, was left out, and the reader could not see which words matched."""
    with transaction(sessions) as session:
        add_evidence(session, "uzbekistan-rejoins", "uz-csto-talks",
                     title="Tashkent & the CSTO <talk>", at=W10_START + timedelta(hours=3),
                     sentence="Tashkent & the CSTO <talk>", marks=[[0, 8], [15, 19]])
        report = make_report(session, "2026-W10", now=W10_END)
    html = re.sub(r"<mark[^>]*>", "<mark>", report.html)  # inlined style aside
    assert "<mark>Tashkent</mark> &amp; the <mark>CSTO</mark> &lt;talk&gt;</a>" in html, html
    assert "[Tashkent] & the [CSTO] <talk> (local, " in report.text


def test_a_link_with_quotes_is_kept_percent_encoded(sessions: sessionmaker[Session]) -> None:
    """An apostrophe in a slug dropped the link from the report (evidence showed it)."""
    with transaction(sessions) as session:
        add_evidence(session, "uzbekistan-rejoins", "uz-csto-talks", title="Tashkent and the CSTO",
                     at=W10_START + timedelta(hours=3),
                     link="https://news.example/aliyev's-talks?q=\"x\"")
        report = make_report(session, "2026-W10", now=W10_END)
    link = "https://news.example/aliyev%27s-talks?q=%22x%22"
    assert f'href="{link}"' in report.html and link in report.text


def test_a_late_arrival_is_listed_as_late(sessions: sessionmaker[Session]) -> None:
    """A sighting observed weeks before the period but fetched in it (an archive a feed
    republished) is listed, with its old date: it read as this week's news."""
    with transaction(sessions) as session:
        item = add_evidence(session, "uzbekistan-rejoins", "uz-csto-talks",
                            title="Tashkent and the CSTO, an old story",
                            at=W10_START - timedelta(days=40))
        item.created_at = W10_START + timedelta(hours=2)
        text = " ".join(make_report(session, "2026-W10", now=W10_END).text.split())
    assert "Tashkent and the CSTO, an old story" in text
    assert "(arrived in this period, observed as dated: it moved the forecast of then)" in text


def test_the_text_report_quotes_a_sentence_on_its_own_line(
        sessions: sessionmaker[Session]) -> None:
    """The quote came glued to the end of the headline's link line, then a stray blank line."""
    with transaction(sessions) as session:
        add_evidence(session, "uzbekistan-rejoins", "uz-csto-talks",
                     title="Tashkent and the CSTO", at=W10_START + timedelta(hours=3),
                     sentence="Tashkent may return to the CSTO", marks=[[0, 8], [27, 31]])
        text = make_report(session, "2026-W10", now=W10_END).text
    lines = text.splitlines()
    (i,) = [n for n, line in enumerate(lines) if "Tashkent and the CSTO" in line]
    assert lines[i].endswith("https://news.example/a"), lines[i]
    assert lines[i + 1].strip() == '"[Tashkent] may return to the [CSTO]"', lines[i:i + 3]
    assert lines[i + 2].strip() == "", lines[i:i + 3]


def test_an_item_with_many_headlines_lists_three_and_counts_the_rest(
        initialized: Tracker, sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        item = add_evidence(session, "uzbekistan-rejoins", "uz-csto-talks",
                            title="Headline 0", at=W10_START + timedelta(hours=3))
        for n in range(1, 5):
            at = W10_START + timedelta(hours=3, minutes=n)
            entry = Entry(feed_id="local", key=f"more-{n}", link=None, title=f"Headline {n}",
                          summary="", published=at, fetched_at=at, observed_at=at)
            session.add(entry)
            session.flush()
            session.add(Hit(entry_id=entry.id, indicator_id="uz-csto-talks",
                            evidence_id=item.id, terms=[], created_at=at))
        session.flush()
        report = make_report(session, "2026-W10", now=W10_END)
        html, text = report.html, report.text
    assert all(f"Headline {n}" in text for n in range(3)) and "Headline 3" not in text
    assert "and 2 more headlines of this sighting" in html
    assert "and 2 more headlines of this sighting" in " ".join(text.split())


def test_templates_are_package_data() -> None:
    folder = resources.files("tracker.templates")
    assert {"report.html.j2", "report.txt.j2"} <= {p.name for p in folder.iterdir()}
