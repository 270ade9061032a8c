"""The house: everyday commands start without the renderer, the mailer or the poller; the CLI
does no database work of its own; one feed state for `status`, the report and the daemon's
log; the settings in force, secrets masked."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import Tracker, feeds_yaml
from tests.feedserver import FeedServer

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("matplotlib", "tracker.mail", "tracker.reports", "tracker.charts", "jinja2", "smtplib",
         "tracker.poll", "tracker.fetch", "tracker.parse", "tracker.sandbox", "httpx",
         "feedparser", "tracker.daemon", "alembic")

# Runs one command in a fresh interpreter, then says which of HEAVY it loaded.
PROBE = textwrap.dedent("""\
    import json, sys
    from tracker.cli import main
    main.main(sys.argv[2:], prog_name="tracker", standalone_mode=False)
    print(json.dumps(sorted(m for m in json.loads(sys.argv[1]) if m in sys.modules)))
    """)


@pytest.mark.parametrize("command", [
    ["show"], ["show", "uzbekistan-rejoins"], ["status"], ["status", "--json"],
    ["update", "uzbekistan-rejoins", "rejoins=10%", "--note", "a new envoy"], ["evidence"],
])
def test_everyday_commands_load_no_renderer_mailer_or_poller(initialized: Tracker,
                                                            command: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(HEAVY), "--db", initialized.db_url,
         "--scenarios", str(initialized.scenarios), *command],
        capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    *output, loaded = done.stdout.splitlines()
    assert json.loads(loaded) == []
    assert output  # the command did its work and said so


def test_a_dry_run_of_a_text_loads_no_database_layer_or_fetcher(scenarios_file: Path) -> None:
    """`try TEXT` reads the rules from scenarios.yaml and matches: no ORM models, no rematch
    or evidence code, no httpx (only `--url` fetches), no feedparser (only a feed is parsed).
    Those were 0.2 s of its start-up."""
    unwanted = ["tracker.models", "tracker.rematch", "tracker.evidence",
                *(m for m in HEAVY if m != "tracker.parse")]  # its text cleaning is used
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(unwanted), "--scenarios", str(scenarios_file),
         "try", "Tashkent weighs a return to the CSTO"],
        capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    *output, loaded = done.stdout.splitlines()
    assert json.loads(loaded) == []
    assert any("uz-csto-talks" in line for line in output), output


@pytest.mark.parametrize("command", [["--help"], ["report", "--help"], ["daemon", "--help"]])
def test_help_loads_no_chart_renderer(command: list[str]) -> None:
    """Help imports each command's module (for its summary), but draws no chart: matplotlib
    is loaded when a chart is first drawn (it was half of `tracker --help`'s 1.3 s)."""
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(["matplotlib"]), *command],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    *output, loaded = done.stdout.splitlines()
    assert json.loads(loaded) == []
    assert any("Usage: tracker" in line for line in output)


def test_help_lists_every_command_with_its_summary() -> None:
    done = subprocess.run([sys.executable, "-m", "tracker", "--help"], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0
    for name in ("init", "sync", "show", "update", "history", "void", "import", "poll",
                 "evidence", "score", "resolve", "unresolve", "scores", "indicators", "report",
                 "daemon", "status", "try", "rematch"):
        assert f"  {name} " in done.stdout


def test_the_cli_package_imports_no_select() -> None:
    for path in sorted((ROOT / "tracker" / "cli").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
                names = {alias.name for alias in node.names}
                assert "select" not in names, f"{path.name} imports select: database work " \
                                              "belongs in the core"


def test_the_schema_head_read_from_the_scripts_is_alembics() -> None:
    from tracker.db import _head_from_scripts, head_revision

    assert _head_from_scripts() == head_revision()


@pytest.fixture
def busy_host(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Three feeds: one whose host answers 429 with Retry-After, one that fails (404), one
    that works; polled once."""
    monkeypatch.delenv("TRACKER_SMTP_HOST", raising=False)
    monkeypatch.setenv("TRACKER_REPORTS_DIR", str(tmp_path / "reports"))
    with FeedServer() as server:
        server.set_fault("/busy.xml", status=429, retry_after="3600")
        server.set_fault("/broken.xml", status=404)
        server.set_file("/good.xml", "rss20.xml")
        path = tmp_path / "scenarios.yaml"
        path.write_text(feeds_yaml({"busy": server.url("/busy.xml", host="localhost"),
                                    "broken": server.url("/broken.xml"),
                                    "good": server.url("/good.xml")}), encoding="utf-8")
        tracker = Tracker(db_url, path)
        tracker.ok("init")
        tracker("poll")
        yield tracker


def test_status_and_the_report_agree_on_a_held_feed_and_a_failing_one(busy_host: Tracker
                                                                       ) -> None:
    feeds = {f["id"]: f for f in json.loads(busy_host.ok("status", "--json").output)["feeds"]}
    busy, broken = feeds["busy"], feeds["broken"]
    assert busy["state"] == "held" and broken["state"] == "failing"
    held_until = datetime.fromisoformat(busy["held_until"])
    assert datetime.now(UTC) + timedelta(minutes=50) < held_until
    assert held_until <= datetime.now(UTC) + timedelta(hours=2)
    assert broken["held_until"] is None and feeds["good"]["state"] == "ok"

    text = busy_host.ok("status").output
    shown = held_until.strftime('%Y-%m-%dT%H:%M:%SZ')  # to the second, in status and report
    assert f"held until {shown}" in text
    assert "failing x1: HTTP 404" in text

    report = busy_host.ok("report", "--period", "current").output
    attention = report[report.index("Feeds failing or silent:"):]
    busy_line = next(line for line in attention.splitlines() if "- busy:" in line)
    broken_line = next(line for line in attention.splitlines() if "- broken:" in line)
    assert f"held until {shown} " in busy_line and "failing" not in busy_line
    assert "failing" in broken_line and "404" in broken_line
    assert "- good:" not in attention


def test_status_shows_the_settings_in_force_with_secrets_masked(
        initialized: Tracker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKER_SMTP_HOST", "mail.example.org")
    monkeypatch.setenv("TRACKER_SMTP_USER", "tracker")
    monkeypatch.setenv("TRACKER_SMTP_PASSWORD", "s3cret-pw")
    monkeypatch.setenv("TRACKER_MAIL_TO", "a@example.org, b@example.org")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxyuser:proxy-pw@proxy.example.org:3128")
    result = initialized.ok("status", "--json")
    assert "s3cret-pw" not in result.output and "proxy-pw" not in result.output
    shown = json.loads(result.output)["settings"]
    assert shown["settings"]["auto_weight"] == 0.5  # scenarios.yaml's scoring settings
    assert shown["recipients"] == ["a@example.org", "b@example.org"]
    smtp = shown["delivery"]["smtp"]
    assert (smtp["host"], smtp["port"], smtp["security"], smtp["user"], smtp["password"]) == (
        "mail.example.org", 587, "starttls", "tracker", "***")
    assert shown["environment"]["TRACKER_SMTP_PASSWORD"] == "***"
    assert shown["proxies"]["https"] == "http://proxyuser:***@proxy.example.org:3128"
    assert shown["database_url"] == initialized.db_url  # no password in it to mask


def test_a_bad_setting_in_the_environment_is_refused_with_a_hint(
        initialized: Tracker, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKER_SMTP_HOST", "mail.example.org")
    monkeypatch.setenv("TRACKER_SMTP_SECURITY", "tls1.0")
    result = initialized("status", "--json")
    assert result.exit_code == 2
    assert "bad TRACKER_SMTP_SECURITY 'tls1.0'" in result.output
    assert "starttls, ssl or none" in result.output


def test_every_tracker_variable_is_documented() -> None:
    from tracker.config import VARIABLES

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    example = (ROOT / "deploy" / "tracker.env.example").read_text(encoding="utf-8")
    read = set()
    for path in (ROOT / "tracker").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                    re.fullmatch(r"TRACKER_[A-Z_]+", node.value):
                read.add(node.value)
    assert read and read <= set(VARIABLES)
    for name in VARIABLES:
        assert re.search(rf"`{name}[`=]", readme), name
        assert name in example, name


def test_held_is_what_the_host_said_and_a_plain_503_is_a_failure(
        db_url: str, tmp_path: Path) -> None:
    """Held is the host's Retry-After, stored with the feed, not guessed from the error: a 503
    without Retry-After is a failure with its back-off, not a hold; a success ends a hold."""
    with FeedServer() as server:
        server.set_fault("/busy.xml", status=429, retry_after="7200")
        server.set_fault("/down.xml", status=503)
        path = tmp_path / "scenarios.yaml"
        path.write_text(feeds_yaml({"busy": server.url("/busy.xml", host="localhost"),
                                    "down": server.url("/down.xml")}), encoding="utf-8")
        tracker = Tracker(db_url, path)
        tracker.ok("init")
        tracker("poll")
        feeds = {f["id"]: f for f in json.loads(tracker.ok("status", "--json").output)["feeds"]}
        now = datetime.now(UTC)
        assert feeds["busy"]["state"] == "held", feeds["busy"]
        until = datetime.fromisoformat(feeds["busy"]["held_until"])
        assert now + timedelta(minutes=110) < until <= now + timedelta(hours=2, minutes=1)
        assert feeds["down"]["state"] == "failing" and feeds["down"]["held_until"] is None
        assert "HTTP 503" in (feeds["down"]["last_error"] or "")
        assert "held" not in tracker.ok("status").output.split("down", 1)[1].split("\n")[0]

        # The host answers again: the hold ends with the next success.
        server.set_file("/busy.xml", "rss20.xml")
        tracker.ok("poll", "--all")
        feeds = {f["id"]: f for f in json.loads(tracker.ok("status", "--json").output)["feeds"]}
        assert feeds["busy"]["state"] == "ok" and feeds["busy"]["held_until"] is None
