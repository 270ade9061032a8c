"""init, sync, show, update, history through the CLI (DESIGN §3, §4)."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path

import click
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import SMALL_YAML, Tracker, snapshot
from tracker.cli import main
from tracker.cli.core import parse_assignments
from tracker.forecast import check_update, manual_update

Q = "csto-response"


def probs(t: Tracker, question: str = Q) -> dict[str, float]:
    return json.loads(t.ok("show", question, "--json").output)["probabilities"]


def test_init_is_idempotent(initialized: Tracker) -> None:
    first = snapshot(initialized.db_url)
    result = initialized.ok("init")
    assert "up to date" in result.output and "0 added" in result.output
    assert snapshot(initialized.db_url) == first


def test_show_json_shapes(initialized: Tracker) -> None:
    data = json.loads(initialized.ok("show", "--json").output)
    assert [q["id"] for q in data["questions"]] == ["uzbekistan-rejoins", Q]
    q = data["questions"][1]
    assert set(q) >= {"id", "title", "status", "opens", "closes", "probabilities", "resolved_to"}
    assert q["status"] == "open" and q["opens"] == "2021-07-09" and q["resolved_to"] is None
    assert q["probabilities"] == {"deploys": 0.2, "drills": 0.5, "nothing": 0.3}
    one = json.loads(initialized.ok("show", Q, "--json").output)
    assert [s["id"] for s in one["scenarios"]] == ["deploys", "drills", "nothing"]
    assert one["scenarios"][0] == {"id": "deploys", "label": "Collective deployment",
                                   "probability": 0.2}
    assert one["indicators"] == [{"id": "csto-border-drills",
                                  "description": "CSTO drills near the Afghan border",
                                  "last_sighted": None}]
    # In text: "not sighted yet", not "never": the world may have seen what no feed has shown.
    text = initialized.ok("show", Q).output
    assert "CSTO drills near the Afghan border (not sighted yet)" in text


def test_show_table_lists_every_question(initialized: Tracker) -> None:
    out = initialized.ok("show").output
    assert "uzbekistan-rejoins" in out and "96.0%" in out and "stays-out" in out


def test_update_shares_the_rest_in_proportion_and_records_who_when_why(
    initialized: Tracker,
) -> None:
    result = initialized.ok("update", Q, "deploys=40%", "--note", "Dushanbe asks for help",
                            "--by", "ana")
    # drills and nothing share 0.6 in proportion 0.5 : 0.3.
    assert probs(initialized) == pytest.approx({"deploys": 0.4, "drills": 0.375,
                                                "nothing": 0.225}, abs=1e-12)
    assert probs(initialized)["deploys"] == 0.4
    assert "deploys: 20.0% -> 40.0%" in result.output
    assert "drills: 50.0% -> 37.5%" in result.output
    hist = json.loads(initialized.ok("history", Q, "--format", "json").output)
    assert hist["question"] == Q
    assert [f["source"] for f in hist["forecasts"]] == ["prior", "manual"]
    manual = hist["forecasts"][1]
    assert manual["by"] == "ana" and manual["note"] == "Dushanbe asks for help"
    at = datetime.fromisoformat(manual["at"].replace("Z", "+00:00"))
    assert abs((datetime.now(UTC) - at).total_seconds()) < 60
    assert set(manual) >= {"at", "source", "probabilities", "by", "note", "evidence"}


def test_update_all_named_and_backdated(initialized: Tracker) -> None:
    initialized.ok("update", Q, "deploys=0.1", "drills=0.6", "nothing=0.3", "--note", "n",
                   "--at", "2022-01-05T10:00:00Z")
    assert probs(initialized) == {"deploys": 0.1, "drills": 0.6, "nothing": 0.3}
    initialized.ok("update", Q, "nothing=0", "--note", "later", "--at", "2023-01-01")
    assert probs(initialized) == pytest.approx({"deploys": 0.1 / 0.7, "drills": 0.6 / 0.7,
                                                "nothing": 0.0})
    rows = json.loads(initialized.ok("history", Q, "--json").output)["forecasts"]
    assert [r["at"] for r in rows] == ["2021-07-09T00:00:00Z", "2022-01-05T10:00:00Z",
                                       "2023-01-01T00:00:00Z"]
    csv_out = initialized.ok("history", Q, "--format", "csv").output.splitlines()
    assert csv_out[0] == "at,deploys,drills,nothing,source,by,note,evidence,voided_by,id,voids"
    assert csv_out[2].startswith("2022-01-05T10:00:00Z,0.100000,0.600000,0.300000,manual")


def test_update_when_the_others_are_all_zero_shares_equally(initialized: Tracker) -> None:
    initialized.ok("update", Q, "deploys=1", "drills=0", "nothing=0", "--note", "certain")
    initialized.ok("update", Q, "deploys=0.4", "--note", "less so")
    assert probs(initialized) == pytest.approx({"deploys": 0.4, "drills": 0.3, "nothing": 0.3})


UPDATE_REFUSALS = [
    (["nope", "a=0.1", "--note", "x"], "unknown question 'nope'"),
    ([Q, "joins=0.1", "--note", "x"], "valid scenarios: deploys, drills, nothing"),
    ([Q, "deploys=1.2", "--note", "x"], "outside [0, 1]"),
    ([Q, "deploys=120%", "--note", "x"], "outside [0, 1]"),
    ([Q, "deploys=-0.1", "--note", "x"], "probability -0.1 for deploys is outside [0, 1]"),
    ([Q, "deploys=0.7", "drills=0.5", "--note", "x"], "over 1"),
    ([Q, "deploys=0.2", "drills=0.2", "nothing=0.2", "--note", "x"], "must sum to 1"),
    ([Q, "deploys=0.2"], "missing option '--note'"),
    ([Q, "deploys=0.2", "--note", "   "], "a note is required"),
    ([Q, "deploys=half", "--note", "x"], "bad assignment"),
    ([Q, "deploys=0.2", "--note", "x", "--at", "2999-01-01"], "in the future"),
    ([Q, "deploys=0.2", "--note", "x", "--at", "2020-01-01"], "before the question opens"),
    ([Q, "deploys=0.2", "--note", "x", "--at", "yesterday"], "bad time"),
]


@pytest.mark.parametrize(("args", "message"), UPDATE_REFUSALS,
                         ids=[m for _, m in UPDATE_REFUSALS])
def test_update_refusals_leave_the_database_unchanged(
    initialized: Tracker, args: list[str], message: str
) -> None:
    initialized.ok("update", Q, "deploys=0.25", "--note", "first")
    initialized.refused("update", *args, message=message)


def test_update_of_a_resolved_question_is_refused(initialized: Tracker) -> None:
    from sqlalchemy import create_engine, update

    from tracker.models import Question

    engine = create_engine(initialized.db_url)
    with engine.begin() as conn:
        conn.execute(update(Question).where(Question.id == Q).values(
            resolved_to="drills", resolved_at=datetime(2024, 1, 1)))
    engine.dispose()
    initialized.refused("update", Q, "deploys=0.2", "--note", "x", message="resolved")


def test_unknown_question_in_show_and_history(initialized: Tracker) -> None:
    for cmd in (["show", "nope"], ["history", "nope"]):
        result = initialized(*cmd)
        assert result.exit_code == 2
        assert "unknown question 'nope'" in result.output and "uzbekistan-rejoins" in result.output


def test_verbose_shows_the_traceback_and_keeps_the_exit_status(initialized: Tracker,
                                                               tmp_path: Path) -> None:
    """-v adds the traceback; bad input still exits 2 (a unit's RestartPreventExitStatus=2
    relies on it). It used to raise out of the command: exit 1."""
    result = initialized("-v", "show", "nope")
    assert result.exit_code == 2, result.output
    assert "Traceback" in result.output and "error: unknown question 'nope'" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(initialized.scenarios.read_text(encoding="utf-8").replace(
        "prior: 0.04", "prior: 4"), encoding="utf-8")
    result = Tracker(initialized.db_url, bad)("-v", "sync")
    assert result.exit_code == 2, result.output
    assert "Traceback" in result.output and "outside [0, 1]" in result.output


def test_sync_retires_and_keeps_history(initialized: Tracker) -> None:
    initialized.ok("update", "uzbekistan-rejoins", "rejoins=0.05", "--note", "kept")
    text = SMALL_YAML.split("  - id: csto-response")[0].replace(
        "Will Uzbekistan rejoin", "Will Uzbekistan really rejoin")
    initialized.scenarios.write_text(text, encoding="utf-8")
    out = initialized.ok("sync").output
    assert "retired question csto-response" in out
    assert "retired indicator csto-border-drills" in out
    assert "updated question uzbekistan-rejoins" in out
    visible = json.loads(initialized.ok("show", "--json").output)["questions"]
    assert [q["id"] for q in visible] == ["uzbekistan-rejoins"]
    assert visible[0]["title"] == "Will Uzbekistan really rejoin the CSTO before 2028?"
    assert visible[0]["probabilities"]["rejoins"] == 0.05
    everything = json.loads(initialized.ok("show", "--all", "--json").output)["questions"]
    assert {q["id"]: q["status"] for q in everything}[Q] == "retired"
    # Bringing it back restores it, nothing lost; what did not change is not "updated".
    initialized.scenarios.write_text(SMALL_YAML, encoding="utf-8")
    out = initialized.ok("sync").output
    assert out.splitlines()[1:] == ["  updated question uzbekistan-rejoins",  # its title
                                    "  restored question csto-response",
                                    "  restored indicator csto-border-drills"], out
    assert len(json.loads(initialized.ok("show", "--json").output)["questions"]) == 2


def test_an_indicator_moved_in_the_file_is_not_updated(initialized: Tracker) -> None:
    """Adding an indicator before others used to report each of those as updated."""
    text = SMALL_YAML.replace("    indicators:\n", "    indicators:\n"
                              "      - id: uz-first\n"
                              "        description: A new first indicator\n"
                              "        match: {any: [Tashkent]}\n"
                              "        likelihood: {rejoins: 0.5, stays-out: 0.5}\n", 1)
    assert text != SMALL_YAML
    initialized.scenarios.write_text(text, encoding="utf-8")
    out = initialized.ok("sync").output
    assert out.splitlines()[1:] == ["  added indicator uz-first"], out


def test_sync_names_the_settings_it_changed(initialized: Tracker) -> None:
    """Settings come into force at sync; an edit used to go unmentioned, and `status` kept
    showing the old value with nothing to say a sync was needed."""
    initialized.scenarios.write_text(SMALL_YAML.replace(
        "settings:\n", "settings:\n  timezone: Asia/Tashkent\n  polling: {interval: 1h}\n", 1),
        encoding="utf-8")
    assert json.loads(initialized.ok("status", "--json").output)["settings"]["settings"][
        "timezone"] == "UTC"  # not synced yet
    out = initialized.ok("sync").output
    assert ("settings changed: timezone (UTC -> Asia/Tashkent), poll_interval (30m -> 1h)"
            in out), out
    assert json.loads(initialized.ok("status", "--json").output)["settings"]["settings"][
        "timezone"] == "Asia/Tashkent"
    assert "settings changed" not in initialized.ok("sync").output  # nothing changed


def test_changing_scenarios_with_history_is_refused(initialized: Tracker) -> None:
    changed = SMALL_YAML.replace(
        "      - {id: nothing, label: No response, prior: 0.3}\n", "").replace(
        "prior: 0.5}", "prior: 0.8}").replace(", nothing: 0.1}", "}")
    initialized.scenarios.write_text(changed, encoding="utf-8")
    # No forecast beyond the prior yet: the change is allowed.
    initialized.ok("sync")
    assert probs(initialized) == {"deploys": 0.2, "drills": 0.8}
    initialized.ok("update", Q, "deploys=0.3", "--note", "x")
    initialized.scenarios.write_text(SMALL_YAML, encoding="utf-8")
    initialized.refused("sync", message="scenarios changed")


def test_commands_before_init_name_init(tracker: Tracker) -> None:
    result = tracker("show")
    assert result.exit_code == 1
    assert "tracker init" in result.output and "Traceback" not in result.output


def test_unreachable_database_exits_1(scenarios_file) -> None:
    t = Tracker("postgresql+psycopg://nobody@127.0.0.1:1/none", scenarios_file)
    result = t("show")
    assert result.exit_code == 1
    assert "cannot reach the database" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("url", ["bogus://x", "not a url", "mysql://u@h/db"])
def test_a_bad_database_url_is_bad_input(scenarios_file, url: str) -> None:
    result = Tracker(url, scenarios_file)("show")
    assert result.exit_code == 2
    assert "database" in result.output and "Traceback" not in result.output


def test_init_makes_the_database_folder_but_not_a_mistyped_path(scenarios_file,
                                                                tmp_path: Path) -> None:
    """`init` made every missing folder of the path: a typo created folders anywhere."""
    Tracker(f"sqlite:///{tmp_path / 'db' / 'tracker.sqlite3'}", scenarios_file).ok("init")
    assert (tmp_path / "db" / "tracker.sqlite3").is_file()
    typo = tmp_path / "nowhere" / "db" / "tracker.sqlite3"
    result = Tracker(f"sqlite:///{typo}", scenarios_file)("init")
    assert result.exit_code == 2 and f"no folder {tmp_path / 'nowhere'}" in result.output
    assert not (tmp_path / "nowhere").exists()


def test_an_unopenable_sqlite_file_names_the_file_not_a_server(scenarios_file,
                                                               tmp_path: Path) -> None:
    """The hint was "check … that the server is running", which SQLite has none of."""
    (tmp_path / "adir").mkdir()  # a folder where the database file should be
    result = Tracker(f"sqlite:///{tmp_path / 'adir'}", scenarios_file)("show")
    assert result.exit_code == 1, result.output
    assert "cannot reach the database" in result.output and "server" not in result.output
    assert "that the file and its folder can be read and written" in result.output


def test_help_describes_the_tool_and_every_command_has_help() -> None:
    from click.testing import CliRunner

    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0 and "geopolitical questions" in result.output
    ctx = click.Context(main)
    names = main.list_commands(ctx)
    assert len(names) >= 19
    for name in names:
        command = main.get_command(ctx, name)
        assert command is not None and command.help, f"tracker {name} has no help text"
        assert name in result.output
    # `tracker` alone shows the same help as it is, not squeezed into one error line
    bare = CliRunner().invoke(main, [])
    assert bare.exit_code == 2 and not bare.output.startswith("error:")
    assert "Commands:\n" in bare.output and "\n  show " in bare.output, bare.output


# --- the arithmetic of `tracker update`, as properties ---------------------------------------

vectors = st.lists(st.floats(0, 1), min_size=2, max_size=5).filter(lambda v: sum(v) > 0).map(
    lambda v: {f"s{i}": x / sum(v) for i, x in enumerate(v)})


@settings(max_examples=300, deadline=None)
@given(vectors, st.data())
def test_manual_update_properties(current: dict[str, float], data: st.DataObject) -> None:
    ids = list(current)
    chosen = data.draw(st.lists(st.sampled_from(ids), unique=True, min_size=1,
                                max_size=len(ids) - 1))
    values = data.draw(st.lists(st.floats(0, 1), min_size=len(chosen), max_size=len(chosen)))
    named = dict(zip(chosen, values, strict=True))
    if sum(named.values()) > 1 + 1e-9:  # the same rounding allowance as check_update
        assert check_update(ids, named) is not None
        return
    assert check_update(ids, named) is None
    new = manual_update(current, named)
    for s in chosen:
        assert new[s] == named[s]  # named values are exact
    assert math.isclose(sum(new.values()), 1.0, abs_tol=1e-9)
    others = [s for s in ids if s not in named]
    left = max(0.0, 1 - sum(named.values()))
    base = sum(current[s] for s in others)
    for s in others:
        expected = left * (current[s] / base) if base > 0 else left / len(others)
        assert math.isclose(new[s], expected, abs_tol=1e-12)
        # proportions among the others are kept
        for o in others:
            if min(current[o], current[s]) > 1e-300 and left > 1e-9:
                assert math.isclose(new[s] / new[o], current[s] / current[o], rel_tol=1e-9)


@given(st.floats(0, 1), st.booleans())
def test_probabilities_parse_as_fraction_or_percent(p: float, percent: bool) -> None:
    text = f"{p * 100!r}%" if percent else repr(p)
    assert parse_assignments((f"x={text}",))["x"] == pytest.approx(p, abs=1e-12)


@pytest.mark.parametrize("command", [["history", Q], ["evidence"], ["indicators"], ["scores"]])
def test_json_and_csv_at_once_are_refused(initialized, command):
    initialized.refused(*command, "--format", "csv", "--json",
                        message="--json and --format csv ask for two formats: give one")
