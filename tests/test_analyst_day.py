"""Issue 13, the analyst's day: every command tells the truth, reads well on a terminal and
forgives mistakes. Each test goes through the CLI, as an analyst would."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest

from tests.conftest import Tracker

Q = "csto-response"


def test_send_with_smtp_but_no_recipients_is_a_configuration_error_not_a_retry(
    initialized: Tracker, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRACKER_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("TRACKER_SMTP_PORT", "9")
    monkeypatch.delenv("TRACKER_MAIL_TO", raising=False)
    initialized.refused("report", "--send", message="no recipients")
    status = json.loads(initialized.ok("status", "--json").output)
    assert status["outbox"] == []


BINARY_YAML = """\
version: 1
questions:
  - id: azerbaijan-joins
    title: Will Azerbaijan join the CSTO?
    opens: 2021-07-09
    closes: 2027-12-31
    resolution: Resolves yes if Azerbaijan becomes a member.
    scenarios:
      - {id: yes, label: Azerbaijan joins, prior: 0.02}
      - {id: no, label: Azerbaijan stays out, prior: 0.98}
    indicators:
      - id: az-talks
        description: Baku talks about the CSTO
        match: {all: [[Azerbaijan, Baku], [CSTO]], none: [no, off]}
        likelihood: {yes: 0.8, no: 0.2}
"""


def test_yes_and_no_are_scenario_ids_not_booleans(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "binary.yaml"
    path.write_text(BINARY_YAML, encoding="utf-8")
    t = Tracker(db_url, path)
    t.ok("init")
    t.ok("update", "azerbaijan-joins", "yes=5%", "--note", "Aliyev visits Moscow")
    data = json.loads(t.ok("show", "azerbaijan-joins", "--json").output)
    assert data["probabilities"] == pytest.approx({"yes": 0.05, "no": 0.95})
    assert [s["id"] for s in data["scenarios"]] == ["yes", "no"]


@pytest.mark.parametrize(("args", "said"), [
    (("update", Q, "deploys=0.3"), "missing option '--note' (try `tracker update --help`)"),
    (("update", Q, "deploys=0.3", "--note", "n", "--at", "2999-01-01"), "in the future"),
    (("history", Q, "--format", "xml"), "invalid value for '--format'"),
    (("evidence", "approve", "2"), "'approve' is not an evidence command: use `confirm ID`"),
    (("evidence", "confrim", "2"), "did you mean `confirm`?"),
    (("shw",), "did you mean 'show'?"),
])
def test_usage_errors_are_one_line(initialized: Tracker, args: tuple[str, ...],
                                   said: str) -> None:
    result = initialized.refused(*args, message=said)
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("error: ") and "--help`)" in result.stderr


# Bad input a new user's audit found answered by "unexpected error" or a database error
# (exit 1): each is bad input, refused with exit 2, the database unchanged.
@pytest.mark.parametrize(("args", "said"), [
    (("void", "99999999999999999999999", "--note", "x"), "is no stored row's id"),
    (("void", str(2**31), "--note", "x"), "is no stored row's id"),
    (("void", "abc", "--note", "x"), "'abc' is not an id (a whole number"),
    (("poll", "locl"), "unknown feed locl (did you mean local?"),
    (("evidence", "confirm", str(2**31)), "bad evidence id"),
    (("evidence", "dismiss", "9" * 30), "bad evidence id"),
    (("report", "--period", "0001-W01"), "bad period '0001-W01'"),
    (("report", "--period", "9999-W52"), "bad period '9999-W52'"),
    (("try", "--url", "ftp://example.org/feed.xml"), "only http and https"),
    (("try", "--url", "not a url"), "bad URL"),
])
def test_out_of_range_input_is_refused(initialized: Tracker, args: tuple[str, ...],
                                       said: str) -> None:
    result = initialized.refused(*args, message=said)
    assert "unexpected error" not in result.output


@pytest.mark.parametrize(("url", "said"), [
    ("postgresql+psycopg2://postgres@127.0.0.1/test", "unsupported driver"),
    ("sqlite://", "in-memory database"),
    ("sqlite:///:memory:", "in-memory database"),
])
def test_a_database_url_the_tracker_cannot_keep_or_reach_is_refused(
    url: str, said: str, scenarios_file: Path
) -> None:
    """`init` on an in-memory database used to say it synced 41 rows and exit 0, keeping
    nothing; a psycopg2 URL was an unexpected ModuleNotFoundError."""
    result = Tracker(url, scenarios_file)("init")
    assert result.exit_code == 2 and said in result.output, result.output
    assert "synced" not in result.output


def test_a_question_id_still_lists_its_evidence(initialized: Tracker) -> None:
    assert initialized.ok("evidence", Q, "--state", "auto").output == "no evidence\n"


@pytest.mark.parametrize("command", [("show",), ("status",), ("evidence",), ("history", Q)])
def test_read_commands_create_no_database_file_or_folder(
    command: tuple[str, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from click.testing import CliRunner

    from tracker.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TRACKER_DATABASE_URL", raising=False)
    runner = CliRunner()
    result = runner.invoke(main, list(command), prog_name="tracker")
    assert result.exit_code == 1
    assert result.stderr == (f"error: no database at {Path('db/tracker.sqlite3')} "
                             "(run `tracker init` to create it)\n")
    missing = tmp_path / "nowhere" / "deeper" / "x.db"
    result = runner.invoke(main, ["--db", f"sqlite:///{missing}", *command], prog_name="tracker")
    assert result.exit_code == 1 and str(missing) in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_init_still_creates_the_default_database(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from tests.conftest import SMALL_YAML
    from tracker.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TRACKER_DATABASE_URL", raising=False)
    (tmp_path / "scenarios.yaml").write_text(SMALL_YAML, encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(main, ["init"]).exit_code == 0
    assert (tmp_path / "db" / "tracker.sqlite3").is_file()
    assert "uzbekistan-rejoins" in runner.invoke(main, ["show"]).output


def _inside_latest_period() -> str:
    """A time inside the latest period whose report is due (default schedule)."""
    from datetime import timedelta

    from tracker.config import Settings
    from tracker.reports import latest_due_period, period_bounds
    from tracker.timeutil import iso, utcnow

    _, end = period_bounds(latest_due_period(utcnow(), Settings()), Settings())
    return str(iso(end - timedelta(days=1)))


def test_report_out_renders_afresh_until_sent_and_counts_the_bytes_it_wrote(
    initialized: Tracker, tmp_path: Path,
) -> None:
    first, second = tmp_path / "first.html", tmp_path / "second.html"
    initialized.ok("report", "--out", str(first))
    initialized.ok("update", Q, "deploys=35%", "--note", "Dushanbe asks for a deployment",
                   "--at", _inside_latest_period())
    said = initialized.ok("report", "--out", str(second)).output
    assert "Dushanbe asks for a deployment" not in first.read_text(encoding="utf-8")
    assert "Dushanbe asks for a deployment" in second.read_text(encoding="utf-8")
    assert f"({second.stat().st_size} bytes of HTML)" in said


def test_report_out_of_a_sent_period_is_the_copy_sent(
    initialized: Tracker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TRACKER_SMTP_HOST", raising=False)
    monkeypatch.setenv("TRACKER_REPORTS_DIR", str(tmp_path / "sent"))
    initialized.ok("report", "--send")
    initialized.ok("update", Q, "deploys=35%", "--note", "A late note", "--at",
                   _inside_latest_period())
    out = tmp_path / "again.html"
    said = initialized.ok("report", "--out", str(out)).output
    assert "A late note" not in out.read_text(encoding="utf-8")
    assert "the copy sent" in said and "--force" in said
    initialized.ok("report", "--out", str(out), "--force")
    assert "A late note" in out.read_text(encoding="utf-8")


def test_a_backdated_update_that_is_not_in_force_says_so(initialized: Tracker) -> None:
    initialized.ok("update", "uzbekistan-rejoins", "rejoins=8%", "--note", "talks", "--by",
                   "ana", "--at", "2023-01-01")
    result = initialized.ok("update", "uzbekistan-rejoins", "rejoins=20%", "--note", "older",
                            "--at", "2022-01-01")
    assert "rejoins: 4.0% -> 20.0%" in result.stdout
    assert result.stderr == ("warning: not in force now: the manual forecast of "
                             "2023-01-01T00:00:00Z by ana overrides it; now rejoins=8.0% "
                             "stays-out=92.0%\n")
    assert "rejoins=8.0%" in initialized.ok("show", "uzbekistan-rejoins").output
    # An update that is in force says nothing more.
    assert initialized.ok("update", "uzbekistan-rejoins", "rejoins=10%", "--note",
                          "now").stderr == ""


def test_a_backdated_update_names_the_forecast_in_force_not_a_voided_one(
    initialized: Tracker,
) -> None:
    """It named the first later forecast, voided or not, while another was in force."""
    initialized.ok("update", "uzbekistan-rejoins", "rejoins=8%", "--note", "talks", "--by",
                   "ana", "--at", "2023-01-01")
    initialized.ok("update", "uzbekistan-rejoins", "rejoins=9%", "--note", "more talks", "--by",
                   "bo", "--at", "2024-01-01")
    initialized.ok("update", "uzbekistan-rejoins", "rejoins=12%", "--note", "typo", "--by",
                   "cy", "--at", "2025-01-01")
    rows = json.loads(initialized.ok("history", "uzbekistan-rejoins", "--json").output)
    (typo,) = [r for r in rows["forecasts"] if r.get("note") == "typo"]
    initialized.ok("void", str(typo["id"]), "--note", "wrong question", "--by", "cy")
    result = initialized.ok("update", "uzbekistan-rejoins", "rejoins=20%", "--note", "older",
                            "--at", "2022-01-01")
    assert result.stderr == ("warning: not in force now: 2 later manual forecasts override it, "
                             "in force the one of 2024-01-01T00:00:00Z by bo; now rejoins=9.0% "
                             "stays-out=91.0%\n")
    # and a resolution before them names them all, with the ids `void` takes
    ids = [r["id"] for r in json.loads(initialized.ok("history", "uzbekistan-rejoins",
                                                      "--json").output)["forecasts"]
           if r["source"] == "manual" and "voided_by" not in r and r["at"] > "2022-06"]
    refused = initialized.refused("resolve", "uzbekistan-rejoins", "stays-out", "--at",
                                  "2022-06-01", message="has 2 manual forecasts after this "
                                  "resolution, the last at 2024-01-01T00:00:00Z")
    assert f"(#{ids[0]}, #{ids[1]})" in refused.output, refused.output


def test_a_no_op_update_records_nothing(initialized: Tracker) -> None:
    initialized.ok("update", Q, "deploys=25%", "--note", "first")
    result = initialized.ok("update", Q, "deploys=0.25", "--note", "the same again")
    assert "no change" in result.output and "nothing recorded" in result.output
    history = json.loads(initialized.ok("history", Q, "--json").output)["forecasts"]
    assert [f["source"] for f in history] == ["prior", "manual"]


def test_a_probability_over_1_hints_at_a_percentage(initialized: Tracker) -> None:
    initialized.refused("update", Q, "deploys=8", "--note", "n",
                        message="probability 8 for deploys is outside [0, 1] "
                                "(did you mean deploys=8%?)")


def test_show_and_history_round_the_same_way_halves_up(initialized: Tracker) -> None:
    # deploys and nothing share 86.25 % in proportion 2 : 3: 34.5 % and 51.75 %.
    initialized.ok("update", Q, "drills=13.75%", "--note", "n")
    show = initialized.ok("show", Q).output
    [history] = [line for line in initialized.ok("history", Q).output.splitlines()
                 if " manual " in line]
    assert "51.8%  nothing" in show and "13.8%  drills" in show
    assert "drills=13.8%" in history and "nothing=51.8%" in history


def test_confirming_a_confirmed_sighting_says_already_confirmed(
    db_url: str, tmp_path: Path,
) -> None:
    from tests.feedserver import FeedServer
    from tests.test_evidence import rss
    from tests.test_poll import setup_tracker

    with FeedServer() as server:
        server.set("/a.xml", rss(("a1", "Tashkent may return to the CSTO", "2021-08-02")))
        t = setup_tracker(db_url, tmp_path, {"a": server.url("/a.xml")})
        t.ok("poll")
    [item] = json.loads(t.ok("evidence", "--json").output)["evidence"]
    t.ok("evidence", "confirm", str(item["id"]), "--by", "ana")
    again = t.ok("evidence", "confirm", str(item["id"]))
    assert again.output.startswith(f"evidence #{item['id']} is already confirmed (by ana ")
    assert "->" not in again.output


def test_changing_a_prior_after_forecasts_is_refused(initialized: Tracker) -> None:
    initialized.ok("update", Q, "deploys=30%", "--note", "n")
    yaml_text = initialized.scenarios.read_text(encoding="utf-8")
    initialized.scenarios.write_text(
        yaml_text.replace("prior: 0.2}", "prior: 0.25}").replace("prior: 0.5}", "prior: 0.45}"),
        encoding="utf-8")
    result = initialized.refused("sync", message="question csto-response: the prior of deploys, "
                                                 "drills changed but the question already has "
                                                 "forecasts")
    # with the file, line and path, as every refusal of the file (it had none)
    changed = initialized.scenarios.read_text(encoding="utf-8").splitlines()
    line = next(n for n, text in enumerate(changed, 1) if "prior: 0.25}" in text)
    assert f"scenarios.yaml:{line}: questions[1].scenarios[0].prior: question" in result.output
    # Before any forecast beyond the prior, the priors may still be changed.
    fresh = initialized.scenarios.read_text(encoding="utf-8").replace(
        "prior: 0.04}", "prior: 0.05}").replace("prior: 0.96}", "prior: 0.95}")
    initialized.scenarios.write_text(fresh.replace("prior: 0.25}", "prior: 0.2}").replace(
        "prior: 0.45}", "prior: 0.5}"), encoding="utf-8")
    initialized.ok("sync")
    show = json.loads(initialized.ok("show", "uzbekistan-rejoins", "--json").output)
    assert show["probabilities"] == {"rejoins": 0.05, "stays-out": 0.95}


def test_retired_questions_are_named_and_take_no_forecast(initialized: Tracker) -> None:
    initialized.scenarios.write_text("version: 1\nquestions: []\n", encoding="utf-8")
    initialized.ok("sync")
    assert initialized.ok("show").output == (
        "every question is retired (2): `tracker show --all` lists them\n")
    initialized.refused("update", Q, "deploys=30%", "--note", "n",
                        message="question csto-response is retired")


LONG = ("Resolves to the scenario that matches the largest action the CSTO takes on the "
        "Afghan border before it closes, as reported by two independent outlets, and not "
        "counting exercises announced but never held")


def test_no_line_over_100_columns_at_columns_100(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import re

    from tests.feedserver import FeedServer
    from tests.test_evidence import rss
    from tests.test_poll import setup_tracker

    monkeypatch.setenv("COLUMNS", "100")
    title = "Tashkent may return to the CSTO, " + "says a long headline " * 6
    with FeedServer() as server:
        server.set("/a.xml", rss(("a1", title, "2021-08-02")))
        server.set_fault("/" + "gone-" * 12 + ".xml", status=404)
        t = setup_tracker(db_url, tmp_path, {
            "a": server.url("/a.xml"),
            "a-feed-with-a-rather-long-name": server.url("/" + "gone-" * 12 + ".xml")})
        text = t.scenarios.read_text(encoding="utf-8")
        t.scenarios.write_text(re.sub(r"resolution: .*", f"resolution: {LONG}", text),
                               encoding="utf-8")
        t.ok("sync")
        t("poll")
    question = json.loads(t.ok("evidence", "--json").output)["evidence"][0]["question"]
    t.ok("update", question, f"{_first_scenario(t, question)}=12.5%", "--note",
         "a long reason " * 12, "--at", "2022-03-04T05:06:07.123456Z")
    for args in (("show",), ("show", question), ("status",), ("history", question),
                 ("evidence",)):
        out = t.ok(*args).output
        assert out.strip()
        assert max(len(line) for line in out.splitlines()) <= 100, (args, out)
    assert "2022-03-04T05:06:07Z" in t.ok("history", question).output
    assert ".123456" not in t.ok("show", question).output


def _first_scenario(t: Tracker, question: str) -> str:
    return str(json.loads(t.ok("show", question, "--json").output)["scenarios"][0]["id"])


def test_status_says_whether_a_daemon_runs(initialized: Tracker) -> None:
    from tracker.db import make_engine, make_sessionmaker
    from tracker.jobs import record_job

    out = initialized.ok("status").output
    assert out.startswith("daemon: not running (never run; start it with `tracker daemon`)")
    assert "next" not in out.split("jobs:", 1)[1].split("outbox", 1)[0]
    engine = make_engine(initialized.db_url)
    with record_job(make_sessionmaker(engine), "outbox", owner="host-a:1"):
        pass
    engine.dispose()
    out = initialized.ok("status").output
    assert out.startswith("daemon: running (last job started ")
    assert "; next " in out
    assert json.loads(initialized.ok("status", "--json").output)["daemon"]["running"] is True


def test_report_labels_say_when_it_was_made_and_what_week_it_covers(
    db_url: str, tmp_path: Path,
) -> None:
    from tracker.timeutil import utcnow

    shipped = Path(__file__).resolve().parent.parent / "scenarios.yaml"
    t = Tracker(db_url, shipped)
    t.ok("init")
    t.ok("update", "csto-afghanistan-response", "collective-deployment=35%", "--note",
         "Dushanbe asks for help", "--at", _inside_latest_period())
    text = t.ok("report").output
    first = text.splitlines()[0]
    assert first.startswith("Tracker report 20") and ": the week ending " in first
    assert "probabilities as of" in text
    assert text.rstrip().splitlines()[-1].startswith(
        f"Made by tracker at {utcnow().strftime('%a %d %b %Y')}")
    assert max(len(line) for line in text.splitlines()) <= 100
    # The scenario shifts of a manual update keep their indentation.
    assert any(line.startswith("     CSTO collective forces deployed") and "-> 35.0%" in line
               for line in text.splitlines()), text


def test_report_out_removes_the_period_s_old_charts_only(initialized: Tracker,
                                                         tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    initialized.ok("report", "--out", str(out))
    charts = sorted(p.name for p in tmp_path.glob("*.png"))
    period = charts[0].removeprefix("report-")[:8]  # 2026-W48
    stale = tmp_path / f"report-{period}-retired-question.png"
    stale.write_bytes(b"old")
    other = tmp_path / "report-2020-W01-csto-response.png"
    other.write_bytes(b"another period")
    initialized.ok("report", "--out", str(out))
    assert not stale.exists() and other.exists()
    assert sorted(p.name for p in tmp_path.glob("*.png")) == sorted([*charts, other.name])


def test_two_renderings_in_one_folder_keep_their_own_charts(initialized: Tracker,
                                                            tmp_path: Path) -> None:
    """`report --out again.html --force` beside the sent copy report.html used to write its
    charts under the same names: report.html then showed the other rendering's charts."""
    first, again = tmp_path / "report.html", tmp_path / "again.html"
    initialized.ok("report", "--out", str(first))
    before = {p.name: p.read_bytes() for p in tmp_path.glob("*.png")}
    initialized.ok("report", "--out", str(again), "--force")
    srcs = {f: re.findall(r'<img[^>]* src="([^"]+)"', f.read_text(encoding="utf-8"))
            for f in (first, again)}
    assert srcs[first] and len(srcs[again]) == len(srcs[first])
    assert not set(srcs[first]) & set(srcs[again])
    assert all((tmp_path / src).exists() for f in srcs for src in srcs[f])
    assert {p: (tmp_path / p).read_bytes() for p in srcs[first]} == before


def _ink_bands(rows: list[bool]) -> list[tuple[int, int]]:
    """(first, last) of each run of rows that hold ink."""
    bands: list[tuple[int, int]] = []
    for y, inked in enumerate(rows):
        if inked and bands and bands[-1][1] == y - 1:
            bands[-1] = (bands[-1][0], y)
        elif inked:
            bands.append((y, y))
    return bands


def date_labels(png: Path) -> list[tuple[int, int]]:
    """The bands of ink (first row, last row) under a chart's x axis: the dates, then the
    year; after checking that nothing drawn touches the image's border."""
    import numpy as np
    from PIL import Image

    with Image.open(png) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=int)
    height, png_width, _ = pixels.shape
    ink = (pixels.max(axis=2) < 140)  # text and axes: dark grey or darker
    # Nothing drawn touches the border: a label cut off at the edge would.
    assert not ink[0].any() and not ink[-1].any(), png
    assert not ink[:, 0].any() and not ink[:, -1].any(), png
    axis = max(y for y in range(height) if ink[y].sum() > png_width * 0.5)
    bands = _ink_bands([bool(r.any()) for r in ink[axis + 1:]])
    return [b for b in bands if b[0] > 0 and b[1] - b[0] > 3]  # not the tick marks


def test_chart_end_labels_have_one_decimal_and_fit(initialized: Tracker, tmp_path: Path) -> None:
    """The end labels were whole percents ("28%" beside 28.5 % in the table); with one decimal
    the widest, "100.0%", must still fit inside the image."""
    import numpy as np
    from PIL import Image

    initialized.ok("update", "uzbekistan-rejoins", "rejoins=100%", "--note", "certain", "--at",
                   _inside_latest_period())
    out = tmp_path / "report.html"
    initialized.ok("report", "--out", str(out))
    (png,) = tmp_path.glob("*uzbekistan-rejoins.png")
    with Image.open(png) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=int)
    coloured = pixels.min(axis=2) < 200  # anything drawn, in any colour
    assert not coloured[:, -3:].any(), "an end label runs off the right edge"
    # the label itself: coloured ink right of the plot, in the top rows (the 100 % line)
    assert coloured[: pixels.shape[0] // 4, -int(pixels.shape[1] * 0.12):].any()


def test_charts_read_at_400_px_and_nothing_is_cut_off(initialized: Tracker,
                                                      tmp_path: Path) -> None:
    from PIL import Image

    initialized.ok("update", "uzbekistan-rejoins", "rejoins=2%", "--note", "low", "--at",
                   _inside_latest_period())
    out = tmp_path / "report.html"
    initialized.ok("report", "--out", str(out))
    html = out.read_text(encoding="utf-8")
    for png in sorted(tmp_path.glob("*.png")):
        with Image.open(png) as image:
            png_width = image.size[0]
        css_width = int(html.split(f'src="{png.name}" width="', 1)[1].split('"', 1)[0])
        assert png_width == 2 * css_width  # drawn at twice the density
        labels = date_labels(png)
        first, last = labels[0]
        scale = 400 / png_width  # shown 400 px wide on a phone
        assert (last - first + 1) * scale >= 9, (png.name, last - first + 1)
        assert len(labels) >= 2, "the year is not shown under the dates"


@pytest.mark.parametrize(("args", "said"), [
    (("show", "csto-responce"), "unknown question 'csto-responce' (did you mean csto-response? "
                                "valid questions: uzbekistan-rejoins, csto-response)"),
    (("update", Q, "deploy=30%", "--note", "n"), "unknown scenario 'deploy' of csto-response "
     "(did you mean deploys? valid scenarios: deploys, drills, nothing)"),
    (("resolve", Q, "drill"), "did you mean drills?"),
    (("history", "nothing-like-it"), "unknown question 'nothing-like-it' (valid questions: "),
    (("show", "CSTO-RESPONSE"), "unknown question 'CSTO-RESPONSE' (did you mean csto-response?"),
])
def test_unknown_ids_suggest_the_closest(initialized: Tracker, args: tuple[str, ...],
                                         said: str) -> None:
    initialized.refused(*args, message=said)


def test_moving_opens_after_forecasts_is_refused(initialized: Tracker) -> None:
    """The prior is dated `opens`: moving it under a history would put forecasts before the
    prior, or a resolution before the question opens, and change the scores silently."""
    initialized.ok("update", Q, "deploys=30%", "--note", "n", "--at", "2022-03-17")
    text = initialized.scenarios.read_text(encoding="utf-8")
    start = text.index("  - id: csto-response")
    moved = text[:start] + text[start:].replace("opens: 2021-07-09", "opens: 2023-01-01", 1)
    initialized.scenarios.write_text(moved, encoding="utf-8")
    result = initialized.refused("sync", message="question csto-response: opens changed "
                                                 "(2021-07-09 -> 2023-01-01) but the question "
                                                 "already has forecasts")
    line = moved[:moved.index("opens: 2023-01-01")].count("\n") + 1
    assert f"scenarios.yaml:{line}: questions[1].opens: question" in result.output
    # A question with no history beyond its prior may still move.
    uz = moved[:start].replace("opens: 2021-07-09", "opens: 2021-08-01", 1) + moved[start:]
    initialized.scenarios.write_text(uz.replace("opens: 2023-01-01", "opens: 2021-07-09"),
                                     encoding="utf-8")
    initialized.ok("sync")
    rows = json.loads(initialized.ok("history", "uzbekistan-rejoins", "--json").output)
    assert rows["forecasts"][0]["at"] == "2021-08-01T00:00:00Z"


def test_yaml_typos_suggest_the_key_and_priors_take_percentages(initialized: Tracker) -> None:
    from tests.conftest import SMALL_YAML

    initialized.scenarios.write_text(
        SMALL_YAML.replace("closes: 2027", "clozes: 2027").replace("{rejoins: 0.9",
                                                                     "{rejoin: 0.9"),
        encoding="utf-8")
    result = initialized.refused("sync", message="unknown key 'clozes' (did you mean closes?")
    assert "unknown scenario 'rejoin' (did you mean rejoins?" in result.output
    initialized.scenarios.write_text(
        SMALL_YAML.replace("prior: 0.2}", "prior: 25%}").replace("prior: 0.5}", "prior: 45%}"),
        encoding="utf-8")
    initialized.ok("sync")
    assert json.loads(initialized.ok("show", Q, "--json").output)["probabilities"] == (
        pytest.approx({"deploys": 0.25, "drills": 0.45, "nothing": 0.3}))


def test_history_since_and_limit(initialized: Tracker) -> None:
    for at, p in (("2022-01-01", "10%"), ("2023-01-01", "20%"), ("2024-01-01", "30%")):
        initialized.ok("update", Q, f"deploys={p}", "--note", f"on {at}", "--at", at)
    rows = json.loads(initialized.ok("history", Q, "--json", "--since", "2022-06-01").output)
    assert [f["note"] for f in rows["forecasts"]] == ["on 2023-01-01", "on 2024-01-01"]
    csv_text = initialized.ok("history", Q, "--format", "csv", "--limit", "1").output
    assert csv_text.splitlines()[1].startswith("2024-01-01T00:00:00Z,0.300000,")
    assert len(csv_text.splitlines()) == 2
    initialized.refused("history", Q, "--limit", "0", message="invalid value for '--limit'")


def test_evidence_since_limit_and_csv(db_url: str, tmp_path: Path) -> None:
    import csv
    import io

    from tests.feedserver import FeedServer
    from tests.test_evidence import rss
    from tests.test_poll import setup_tracker

    title = "Tashkent may return to the CSTO"
    with FeedServer() as server:
        server.set("/a.xml", rss(("a1", title, "2021-08-02"), ("a2", title, "2021-10-01"),
                                 ("a3", title, "2022-01-10")))
        t = setup_tracker(db_url, tmp_path, {"a": server.url("/a.xml")})
        t.ok("poll")
    listed = json.loads(t.ok("evidence", "--since", "2021-09-01", "--json").output)["evidence"]
    assert [e["observed_at"][:10] for e in listed] == ["2022-01-10", "2021-10-01"]
    latest = json.loads(t.ok("evidence", "uzbekistan-rejoins", "--limit", "1",
                             "--json").output)["evidence"]
    assert [e["observed_at"][:10] for e in latest] == ["2022-01-10"]
    rows = list(csv.DictReader(io.StringIO(t.ok("evidence", "--format", "csv").output)))
    assert [r["observed_at"][:10] for r in rows] == ["2022-01-10", "2021-10-01", "2021-08-02"]
    assert rows[0]["feed"] == "a" and rows[0]["title"] == title and rows[0]["state"] == "auto"
    newest = json.loads(t.ok("evidence", "--json").output)["evidence"][0]
    assert rows[0]["factor"] == " ".join(f"{s}={v:.6g}" for s, v in newest["factor"].items())
    assert rows[0]["factor"].startswith("rejoins=0.")


def test_scores_as_csv(initialized: Tracker) -> None:
    import csv
    import io

    initialized.ok("resolve", Q, "drills", "--at", "2022-07-09", "--note", "drills only")
    rows = list(csv.DictReader(io.StringIO(initialized.ok("scores", "--format", "csv").output)))
    assert [(r["question"], r["track"]) for r in rows] == [
        (Q, "tracker"), (Q, "analyst"), (Q, "evidence"), (Q, "prior")]
    assert rows[0]["resolved_to"] == "drills" and rows[0]["days"] == "365"
    assert float(rows[3]["brier"]) == pytest.approx(0.2 ** 2 + 0.5 ** 2 + 0.3 ** 2)


def test_a_backdated_update_is_in_the_report_of_the_period_it_was_recorded_in(
    initialized: Tracker,
) -> None:
    """A forecast recorded this week but dated two weeks back was in no report: the report of
    its date had gone out, and this week's left it out by its date."""
    from tracker.timeutil import iso, utcnow

    two_weeks_ago = str(iso(utcnow() - timedelta(days=14)))
    initialized.ok("update", Q, "deploys=35%", "--note", "read it late", "--by", "ana",
                   "--at", two_weeks_ago)
    text = " ".join(initialized.ok("report", "--period", "current").output.split())
    assert "ana set the forecast by hand (backdated: recorded in this period" in text, text
    assert '"read it late"' in text


def test_report_preview_of_the_current_period_is_partial_and_never_stored(
    initialized: Tracker, tmp_path: Path,
) -> None:
    from tests.conftest import snapshot

    before = snapshot(initialized.db_url)
    text = initialized.ok("report", "--period", "current").output
    assert "PARTIAL: a preview of a period that is not over" in text
    out = tmp_path / "preview.html"
    said = initialized.ok("report", "--period", "current", "--out", str(out)).output
    assert said.startswith("wrote a partial report of ")
    assert ">Partial</span>" in out.read_text(encoding="utf-8")
    assert len(list(tmp_path.glob("*.png"))) == 2
    assert snapshot(initialized.db_url) == before
    initialized.refused("report", "--period", "current", "--send",
                        message="the current period is not over")
    # The report of a period that is over says nothing of the kind.
    assert "PARTIAL" not in initialized.ok("report").output


def test_show_as_of_is_the_question_as_it_stood_then(initialized: Tracker) -> None:
    import time

    from tracker.timeutil import iso, utcnow

    initialized.ok("update", Q, "deploys=30%", "--note", "first view")
    time.sleep(0.01)
    between = str(iso(utcnow()))
    time.sleep(0.01)
    initialized.ok("update", Q, "deploys=60%", "--note", "second view")
    initialized.ok("resolve", Q, "deploys", "--note", "it happened")
    then = json.loads(initialized.ok("show", Q, "--as-of", between, "--json").output)
    assert then["as_of"] == between and then["status"] == "open" and then["resolved_to"] is None
    assert then["probabilities"]["deploys"] == pytest.approx(0.3)
    text = initialized.ok("show", Q, "--as-of", between).output
    assert "[open]" in text and "first view" in text and "second view" not in text
    # A backdated forecast recorded later was not known then.
    assert json.loads(initialized.ok("show", Q, "--as-of", "2022-01-01", "--json").output)[
        "probabilities"] == {"deploys": 0.2, "drills": 0.5, "nothing": 0.3}
    initialized.refused("show", "--as-of", "2022-01-01", message="--as-of needs a QUESTION")


def test_show_as_of_names_what_was_recorded_later(initialized: Tracker) -> None:
    """A forecast dated by then but recorded later (a backdated update, an import, the shipped
    record) is left out as it should be; it used to be left out without a word."""
    initialized.ok("update", Q, "deploys=30%", "--note", "late entry", "--at", "2021-12-01")
    then = json.loads(initialized.ok("show", Q, "--as-of", "2022-01-01", "--json").output)
    assert then["recorded_later"] == 1
    assert then["probabilities"] == {"deploys": 0.2, "drills": 0.5, "nothing": 0.3}
    text = " ".join(initialized.ok("show", Q, "--as-of", "2022-01-01").output.split())
    assert "note: 1 forecast dated by then but recorded later" in text, text


def test_void_a_manual_forecast_keeps_both_in_history(initialized: Tracker) -> None:
    from tests.conftest import snapshot

    initialized.ok("update", Q, "deploys=30%", "--note", "good", "--by", "ana")
    initialized.ok("update", Q, "deploys=90%", "--note", "a typo: meant 9%", "--by", "ana")
    rows = json.loads(initialized.ok("history", Q, "--json").output)["forecasts"]
    wrong = rows[-1]["id"]
    said = initialized.ok("void", str(wrong), "--note", "typo", "--by", "ben").output
    assert f"manual #{wrong} of " in said and "voided" in said and "deploys=30.0%" in said
    assert json.loads(initialized.ok("show", Q, "--json").output)["probabilities"][
        "deploys"] == pytest.approx(0.3)
    rows = json.loads(initialized.ok("history", Q, "--json").output)["forecasts"]
    assert [r["source"] for r in rows] == ["prior", "manual", "manual", "void"]
    assert rows[2]["id"] == wrong and rows[2]["voided_by"] == rows[3]["id"]
    assert rows[3]["voids"] == wrong and rows[3]["by"] == "ben" and rows[3]["note"] == "typo"
    assert rows[3]["probabilities"]["deploys"] == pytest.approx(0.3)
    table = initialized.ok("history", Q).output
    assert f"[voided by #{rows[3]['id']}]" in table and f"voids #{wrong}, by ben: typo" in table
    initialized.refused("void", str(wrong), "--note", "again",
                        message=f"forecast #{wrong} was already voided by ben")
    initialized.refused("void", "999", "--note", "x", message="no manual forecast or resolution")
    before = snapshot(initialized.db_url)
    assert initialized("void", str(rows[1]["id"])).exit_code == 2  # --note is required
    assert snapshot(initialized.db_url) == before


def test_unresolve_opens_the_question_again_with_the_trail_kept(initialized: Tracker) -> None:
    initialized.ok("resolve", Q, "nothing", "--at", "2022-07-01", "--note", "misread")
    said = initialized.ok("unresolve", Q, "--note", "it was drills, not nothing").output
    assert said.startswith(f"{Q}: resolution #") and "(nothing) voided" in said
    show = json.loads(initialized.ok("show", Q, "--json").output)
    assert show["status"] == "open" and show["resolved_to"] is None
    assert "no resolved questions yet" in initialized.ok("scores").output
    initialized.ok("resolve", Q, "drills", "--at", "2022-07-02", "--note", "drills only")
    rows = json.loads(initialized.ok("history", Q, "--json").output)["forecasts"]
    assert [r["source"] for r in rows] == ["prior", "resolution", "resolution", "void"]
    assert rows[1]["note"] == "misread" and rows[1]["voided_by"] == rows[3]["id"]
    assert rows[2]["note"] == "drills only" and "voided_by" not in rows[2]
    assert json.loads(initialized.ok("show", Q, "--json").output)["resolved_to"] == "drills"
    initialized.refused("unresolve", "uzbekistan-rejoins", "--note", "x",
                        message="question uzbekistan-rejoins is not resolved")
