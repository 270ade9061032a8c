"""Hostile local input: a scenarios file built to exhaust the loader, a database from a newer
tracker. Each is refused with exit 2 and one line naming the place."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import SMALL_YAML, Tracker


def test_a_database_from_a_newer_tracker_is_refused_by_name(initialized: Tracker) -> None:
    engine = create_engine(initialized.db_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'f00dfeed9999'"))
    engine.dispose()
    for command in ("show", "init", "status"):
        result = initialized.refused(
            command, message="this database was made by a newer tracker (revision f00dfeed9999)")
        assert "upgrade the tracker package" in result.output
        assert "unexpected error" not in result.output


def _bomb(levels: int = 9) -> str:
    """The billion-laughs of YAML: each level lists the previous one nine times."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


HOSTILE = {
    # 9^9 strings once expanded: gigabytes, from a file of 800 bytes
    "alias bomb": (SMALL_YAML + "x-bomb:\n" + "".join(f"  {line}\n" for line in
                   _bomb().splitlines()), "anchors and aliases", SMALL_YAML.count("\n") + 2),
    "self-reference": (SMALL_YAML.replace("feeds:\n", "feeds: &f\n  - *f\n", 1),
                       "anchors and aliases", 4),
    "deep nesting": ("version: 1\nquestions: " + "[" * 20_000 + "]" * 20_000 + "\n",
                     "nested more than", 2),
    "huge interval": (SMALL_YAML.replace("feeds:\n", "settings:\n  polling: {interval: "
                                         "99999999999d}\nfeeds:\n", 1), "more than 3650d", None),
    "infinite tick": (SMALL_YAML.replace("feeds:\n", "settings:\n  polling: {tick: .inf}\n"
                                         "feeds:\n", 1), "bad duration inf", None),
    "infinite cooldown": (SMALL_YAML.replace("cooldown: 7d", "cooldown: .inf"),
                          "bad duration", None),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_scenarios_file_exits_2_with_the_place(
    tracker: Tracker, tmp_path: Path, case: str
) -> None:
    body, message, line = HOSTILE[case]
    tracker.scenarios.write_text(body, encoding="utf-8")
    started = time.monotonic()
    result = tracker.refused("init", message=message)
    # generous: the bomb ran for a minute and took 6 GB before
    assert time.monotonic() - started < 10
    assert "unexpected error" not in result.output
    if line is not None:
        assert f"scenarios.yaml:{line}:" in result.output


def test_a_scenarios_file_over_5_mb_is_refused(tracker: Tracker) -> None:
    tracker.scenarios.write_text(SMALL_YAML + "#" * (6 * 1024 * 1024) + "\n", encoding="utf-8")
    tracker.refused("init", message="over 5 MB")


def test_notes_and_names_cannot_drive_the_terminal(initialized: Tracker) -> None:
    """A note or a name (from a command line, a journal someone else wrote) with an escape
    sequence or a bidi override is shown with U+FFFD in its place by history and show."""
    note = "esc \x1b[2J\x1b]0;TITLE\x07 done \u202egpj.exe"
    initialized.ok("update", "uzbekistan-rejoins", "rejoins=0.1", "--note", note,
                   "--by", "bob\x1b[31m")
    for command in (["history", "uzbekistan-rejoins"], ["show", "uzbekistan-rejoins"]):
        out = initialized.ok(*command).output
        assert "\ufffdgpj.exe" in out and "bob\ufffd[31m" in out, command
        assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out, command
