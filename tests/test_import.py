"""tracker import (journals of manual forecasts and resolutions) and the shipped record that
`tracker init` loads into a new database, through the CLI on every backend."""

from __future__ import annotations

import csv
import io
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Tracker, empty_database, snapshot

REPO = Path(__file__).resolve().parent.parent
Q = "csto-response"
UZ = "uzbekistan-rejoins"

JOURNAL = textwrap.dedent(
    """\
    version: 1
    entries:
      - question: csto-response
        at: 2021-08-16
        probabilities: {deploys: 0.3, drills: 60%, nothing: "0.1"}
        by: ana
        note: Kabul fell
      - question: uzbekistan-rejoins
        at: 2022-03-17T09:30:00Z
        probabilities: {rejoins: 0.02, stays-out: 0.98}
        note: Kamilov keeps out of the war
        source_url: https://example.org/kamilov
      - question: csto-response
        at: 2024-01-01
        scenario: drills
        note: drills only, by the close
    """
)


def history(t: Tracker, question: str) -> list[dict[str, Any]]:
    return json.loads(t.ok("history", question, "--json").output)["forecasts"]


def write(folder: Path, name: str, text: str) -> str:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_a_yaml_journal_is_imported_once(initialized: Tracker, tmp_path: Path) -> None:
    journal = write(tmp_path, "journal.yaml", JOURNAL)
    out = initialized.ok("import", journal, "--by", "importer").output
    assert "csto-response: 2 added, 0 already present" in out
    assert "uzbekistan-rejoins: 1 added, 0 already present" in out
    rows = history(initialized, Q)
    assert [(r["at"], r["source"], r["by"], r["note"]) for r in rows] == [
        ("2021-07-09T00:00:00Z", "prior", None, None),
        ("2021-08-16T00:00:00Z", "manual", "ana", "Kabul fell"),
        ("2024-01-01T00:00:00Z", "resolution", "importer", "drills only, by the close"),
    ]
    assert rows[1]["probabilities"] == {"deploys": 0.3, "drills": 0.6, "nothing": 0.1}
    (uz,) = [r for r in history(initialized, UZ) if r["source"] == "manual"]
    assert uz["note"] == "Kamilov keeps out of the war (https://example.org/kamilov)"
    assert uz["by"] == "importer" and uz["at"] == "2022-03-17T09:30:00Z"
    shown = json.loads(initialized.ok("show", "--json").output)["questions"]
    assert [q["resolved_to"] for q in shown] == [None, "drills"]

    before = snapshot(initialized.db_url)
    again = json.loads(initialized.ok("import", journal, "--json").output)
    assert again["questions"] == [{"id": Q, "added": 0, "present": 2, "unchanged": 0},
                                  {"id": UZ, "added": 0, "present": 1, "unchanged": 0}]
    assert snapshot(initialized.db_url) == before


def test_a_dry_run_reports_and_writes_nothing(initialized: Tracker, tmp_path: Path) -> None:
    before = snapshot(initialized.db_url)
    out = initialized.ok("import", write(tmp_path, "j.yaml", JOURNAL), "--dry-run").output
    assert "csto-response: 2 would be added" in out and "dry run: nothing written" in out
    assert snapshot(initialized.db_url) == before


def test_history_csv_round_trips_into_a_fresh_database(
    initialized: Tracker, scenarios_file: Path, tmp_path: Path, db_url: str
) -> None:
    initialized.ok("update", Q, "deploys=0.3333333333",
                   "--note", 'Dushanbe asks, "quietly"', "--by", "ana", "--at", "2021-08-16")
    initialized.ok("update", Q, "nothing=7%", "--note", "a second, partial update",
                   "--at", "2022-01-07T06:30:15.123456Z")
    initialized.ok("resolve", Q, "drills", "--at", "2024-01-01", "--note", "by the close")
    exported = initialized.ok("history", Q, "--format", "csv").output
    backend = "sqlite" if db_url.startswith("sqlite") else "postgresql"
    with empty_database(backend, tmp_path, "fresh") as url:
        fresh = Tracker(url, scenarios_file)
        fresh.ok("init")
        result = fresh("import", "-", "--format", "csv", "--question", Q, input=exported)
        assert result.exit_code == 0, result.output
        out = result.output
        assert "csto-response: 3 added" in out and "1 history row(s) ignored" in out
        original, copied = history(initialized, Q), history(fresh, Q)
        assert [(r["at"], r["source"], r["by"], r["note"]) for r in copied] == [
            (r["at"], r["source"], r["by"], r["note"]) for r in original]
        for a, b in zip(original, copied, strict=True):
            assert b["probabilities"] == pytest.approx(a["probabilities"], abs=1e-6)
        assert fresh.ok("history", Q, "--format", "csv").output == exported
    # The export adds nothing to the database it came from: equal to the 6 decimals written.
    before = snapshot(initialized.db_url)
    csv_file = write(tmp_path, "history.csv", exported)
    assert "0 added, 3 already present" in initialized.ok("import", csv_file, "--question",
                                                          Q).output
    assert snapshot(initialized.db_url) == before


def test_a_forecast_made_at_the_instant_of_the_resolution_stays_in_history(
    initialized: Tracker, tmp_path: Path
) -> None:
    """A journal may date a forecast and the resolution alike (the day both were written
    down). History used to hide the forecast: it could not be found there to void, and
    `history --format csv` lost it. F from that instant on is still the outcome."""
    journal = write(tmp_path, "same.yaml", textwrap.dedent("""\
        version: 1
        entries:
          - {question: csto-response, at: 2024-01-01, probabilities: {deploys: 0.1, drills: 0.8,
             nothing: 0.1}, by: ana, note: last look}
          - {question: csto-response, at: 2024-01-01, scenario: drills, by: ana, note: closed}
        """))
    assert "csto-response: 2 added" in initialized.ok("import", journal).output
    rows = history(initialized, Q)
    assert [(r["at"], r["source"], r["note"]) for r in rows] == [
        ("2021-07-09T00:00:00Z", "prior", None),
        ("2024-01-01T00:00:00Z", "manual", "last look"),
        ("2024-01-01T00:00:00Z", "resolution", "closed"),
    ]
    assert rows[1]["probabilities"] == pytest.approx({"deploys": 0.1, "drills": 0.8,
                                                      "nothing": 0.1}, abs=1e-12)
    assert json.loads(initialized.ok("show", Q, "--json").output)["probabilities"] == {
        "deploys": 0.0, "drills": 1.0, "nothing": 0.0}
    exported = initialized.ok("history", Q, "--format", "csv").output
    assert "last look" in exported
    again = initialized("import", "-", "--format", "csv", "--question", Q, input=exported)
    assert again.exit_code == 0 and "0 added, 2 already present" in again.output, again.output
    initialized.ok("void", str(rows[1]["id"]), "--note", "typo", "--by", "ana")
    after = history(initialized, Q)
    assert [(r["source"], r.get("voided_by") is not None) for r in after] == [
        ("prior", False), ("manual", True), ("resolution", False), ("void", False)]


def test_a_csv_with_a_question_column_holds_several_questions(
    initialized: Tracker, tmp_path: Path
) -> None:
    text = ("question,at,rejoins,stays-out,deploys,drills,nothing,source,by,note\n"
            "uzbekistan-rejoins,2022-01-08,2%,98%,,,,manual,ana,stayed out of Kazakhstan\n"
            "csto-response,2021-10-18,,,0.1,0.8,0.1,manual,,Harb-Maidon drills\n")
    out = initialized.ok("import", write(tmp_path, "j.csv", text), "--by", "bo").output
    assert "uzbekistan-rejoins: 1 added" in out and "csto-response: 1 added" in out
    assert [r["by"] for r in history(initialized, Q)] == [None, "bo"]


# A valid entry first: a refusal must leave it unwritten too (nothing written on error).
VALID = """\
version: 1
entries:
  - question: csto-response
    at: 2021-08-16
    probabilities: {deploys: 0.3, drills: 0.6, nothing: 0.1}
    note: valid
"""
REFUSALS = [
    ("bad date", "  - {question: csto-response, at: 2022-13-01, scenario: drills}\n",
     "journal.yaml:7: entries[1].at: bad time '2022-13-01'"),
    ("future date", "  - {question: csto-response, at: 2099-01-01, scenario: drills}\n",
     "journal.yaml:7: entries[1].at: time '2099-01-01' is in the future"),
    ("unknown question",
     "  - {question: nope, at: 2022-01-01, probabilities: {a: 1}, note: x}\n",
     "journal.yaml:7: entries[1]: unknown question 'nope' (valid questions: "
     "uzbekistan-rejoins, csto-response)"),
    ("unknown scenario",
     "  - {question: csto-response, at: 2022-01-01, scenario: deployed}\n",
     "journal.yaml:7: entries[1]: unknown scenario 'deployed' for csto-response"),
    ("unknown scenario in a forecast",
     "  - {question: csto-response, at: 2022-01-01, note: x,\n"
     "     probabilities: {deploys: 0.5, drils: 0.5, nothing: 0}}\n",
     "journal.yaml:7: entries[1]: unknown scenario 'drils' of csto-response"),
    ("sums", "  - {question: csto-response, at: 2022-01-01, note: x,\n"
             "     probabilities: {deploys: 0.5, drills: 0.5, nothing: 0.2}}\n",
     "journal.yaml:7: entries[1]: the probabilities of every scenario must sum to 1, got 1.2"),
    ("partial forecast", "  - {question: csto-response, at: 2022-01-01, note: x,\n"
                         "     probabilities: {deploys: 0.5}}\n",
     "journal.yaml:7: entries[1]: no probability for drills, nothing"),
    ("bad probability", "  - {question: csto-response, at: 2022-01-01, note: x,\n"
                        "     probabilities: {deploys: half, drills: 0.5, nothing: 0}}\n",
     "journal.yaml:8: entries[1].probabilities.deploys: bad probability 'half'"),
    ("before opens", "  - {question: csto-response, at: 2021-07-08, scenario: drills}\n",
     "journal.yaml:7: entries[1]: 2021-07-08T00:00:00Z is before the question opens "
     "(2021-07-09)"),
    ("no note", "  - {question: csto-response, at: 2022-01-01,\n"
                "     probabilities: {deploys: 0.5, drills: 0.5, nothing: 0}}\n",
     "journal.yaml:7: entries[1].note: expected a non-empty text"),
    ("forecast after the resolution",
     "  - {question: csto-response, at: 2023-01-01, scenario: drills}\n"
     "  - {question: csto-response, at: 2023-06-01, note: later,\n"
     "     probabilities: {deploys: 0.5, drills: 0.5, nothing: 0}}\n",
     "journal.yaml:8: entries[2]: question csto-response is resolved (drills); it takes no "
     "more forecasts"),
    ("a resolution, then a forecast in time order",
     "  - {question: csto-response, at: 2021-08-01, scenario: drills}\n",
     "journal.yaml:3: entries[0]: question csto-response is resolved (drills); it takes no "
     "more forecasts"),
    ("a NUL character in a note (PostgreSQL cannot store it)",
     '  - {question: csto-response, at: 2022-01-01, note: "a\\0b",\n'
     "     probabilities: {deploys: 0.5, drills: 0.5, nothing: 0}}\n",
     "journal.yaml:7: entries[1].note: contains a NUL character"),
    ("a probability too large for a float",
     "  - {question: csto-response, at: 2022-01-01, note: x,\n"
     "     probabilities: {deploys: 1" + "0" * 400 + ", drills: 0.5, nothing: 0}}\n",
     "journal.yaml:8: entries[1].probabilities.deploys: bad probability 1000"),
    ("malformed YAML", "  - {question: csto-response, at: [2022\n",
     "journal.yaml:8: malformed YAML"),
    ("unknown key", "  - {question: csto-response, at: 2022-01-01, scenario: drills, "
                    "outcome: 1}\n",
     "journal.yaml:7: entries[1].outcome: unknown key 'outcome'"),
]


@pytest.mark.parametrize(("case", "tail", "message"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refusals_name_the_line_and_write_nothing(
    initialized: Tracker, tmp_path: Path, case: str, tail: str, message: str
) -> None:
    journal = write(tmp_path, "journal.yaml", VALID + tail)
    initialized.refused("import", journal, message=message)


def test_a_resolution_that_contradicts_the_record_is_refused(
    initialized: Tracker, tmp_path: Path
) -> None:
    initialized.ok("resolve", Q, "deploys", "--at", "2023-01-01")
    journal = write(tmp_path, "journal.yaml", VALID.replace("valid", "x") +
                    "  - {question: csto-response, at: 2023-01-01, scenario: drills}\n"
                    "  - {question: csto-response, at: 2023-01-01, scenario: deploys}\n")
    result = initialized.refused("import", journal, message=(
        "journal.yaml:7: entries[1]: contradicts the resolution on record: csto-response "
        "resolved to deploys at 2023-01-01T00:00:00Z"))
    # One list of every problem: the forecast before the resolution, not the same resolution.
    assert "journal.yaml:3: entries[0]: question csto-response is resolved" in result.output
    assert "journal.yaml:8" not in result.output


def test_a_resolution_before_a_stored_forecast_is_refused(
    initialized: Tracker, tmp_path: Path
) -> None:
    initialized.ok("update", Q, "deploys=0.3", "--note", "x", "--at", "2022-01-01")
    journal = write(tmp_path, "journal.yaml", "version: 1\nentries:\n"
                    "  - {question: csto-response, at: 2021-12-01, scenario: drills}\n")
    initialized.refused("import", journal, message=(
        "journal.yaml:3: entries[0]: csto-response has a manual forecast at "
        "2022-01-01T00:00:00Z, after this resolution"))


CSV_REFUSALS = [
    ("bad header", "at,deploys,drills,nothing,by\n2022-01-01,0.2,0.7,0.1,ana\n",
     "journal.csv:1: missing column(s) source, note"),
    ("a column named twice", "at,deploys,deploys,source,note\n",
     "journal.csv:1: column(s) named twice: deploys"),
    ("bad date", "at,deploys,drills,nothing,source,note\n"
                 "2022-01-01,0.2,0.7,0.1,manual,ok\n2022-02-30,0.2,0.7,0.1,manual,x\n",
     "journal.csv:3: bad time '2022-02-30'"),
    ("short row", "at,deploys,drills,nothing,source,note\n2022-01-01,0.2,manual,x\n",
     "journal.csv:2: expected 6 cells, got 4"),
    ("unknown source", "at,deploys,drills,nothing,source,note\n"
                       "2022-01-01,0.2,0.7,0.1,guess,x\n",
     "journal.csv:2: unknown source 'guess'"),
    ("a resolution row without one 1", "at,deploys,drills,nothing,source,note\n"
                                       "2022-01-01,0.5,0.5,0,resolution,x\n",
     "journal.csv:2: a resolution row gives 1 to the scenario it resolves to"),
    ("a NUL character in a note", "at,deploys,drills,nothing,source,note\n"
                                  "2022-01-01,0.2,0.7,0.1,manual,a\x00b\n",
     "journal.csv:2: note contains a NUL character"),
    ("sums on a line after a quoted note", "at,deploys,drills,nothing,source,note\n"
     '2022-01-01,0.2,0.7,0.1,manual,"two\nlines"\n2022-02-01,0.2,0.2,0.1,manual,x\n',
     "journal.csv:4: the probabilities of every scenario must sum to 1, got 0.5"),
]


@pytest.mark.parametrize(("case", "text", "message"), CSV_REFUSALS,
                         ids=[r[0] for r in CSV_REFUSALS])
def test_csv_refusals_name_the_line_and_write_nothing(
    initialized: Tracker, tmp_path: Path, case: str, text: str, message: str
) -> None:
    initialized.refused("import", write(tmp_path, "journal.csv", text), "--question", Q,
                        message=message)


def test_a_journal_s_mistyped_scenario_gets_the_closest_one(initialized: Tracker,
                                                            tmp_path: Path) -> None:
    journal = write(tmp_path, "j.yaml", "version: 1\nentries:\n"
                    "  - {question: csto-response, at: 2022-01-01, scenario: drils, note: x}\n"
                    "  - {question: csto-response, at: 2022-02-01, note: y, probabilities: "
                    "{deploys: 0.2, drils: 0.7, nothing: 0.1}}\n")
    result = initialized.refused("import", journal, message="did you mean drills?")
    assert result.output.count("did you mean drills?") == 2, result.output


def test_question_with_a_yaml_journal_says_how_to_read_csv(initialized: Tracker) -> None:
    """Standard input is read as YAML unless told: the refusal now says so, and the fix."""
    result = initialized("import", "-", "--question", Q, input="at,source,note\n")
    assert result.exit_code == 2
    assert "<stdin> is read as YAML" in result.output and "--format csv" in result.output


def test_csv_needs_a_question(initialized: Tracker, tmp_path: Path) -> None:
    path = write(tmp_path, "j.csv", "at,deploys,drills,nothing,source,note\n")
    initialized.refused("import", path, message="j.csv:1: no question column: add one or "
                                                "pass --question")
    initialized.refused("import", "--record", path, message="give a journal FILE or --record")
    initialized.refused("import", str(tmp_path / "missing.yaml"), message="not found")


def record_entries() -> dict[str, list[dict[str, Any]]]:
    """The shipped record, read as plain YAML, by question."""
    data = yaml.safe_load((REPO / "tracker" / "record.yaml").read_text(encoding="utf-8"))
    out: dict[str, list[dict[str, Any]]] = {}
    for entry in data["entries"]:
        out.setdefault(entry["question"], []).append(entry)
    return out


def test_init_loads_the_shipped_record_into_a_new_database_once(db_url: str) -> None:
    shipped = Tracker(db_url, REPO / "scenarios.yaml")
    out = shipped.ok("init").output
    record = record_entries()
    total = sum(len(v) for v in record.values())
    assert f"shipped record: {total} forecasts and resolutions added to 6 question(s)" in out
    shown = {q["id"]: q for q in json.loads(shipped.ok("show", "--json").output)["questions"]}
    for qid, entries in record.items():
        last = entries[-1]
        if "scenario" in last:
            assert shown[qid]["resolved_to"] == last["scenario"]
        else:
            assert shown[qid]["probabilities"] == pytest.approx(last["probabilities"])
    assert shown["csto-article-4-deployment"]["resolved_to"] == "other-crisis"
    assert shown["kyrgyz-tajik-border"]["resolved_to"] == "major-fighting"
    assert shown["armenia-csto-status"]["resolved_to"] is None
    manual = [r for r in history(shipped, "armenia-csto-status") if r["source"] == "manual"]
    notes = [r["note"] for r in manual]
    assert len(manual) == len(record["armenia-csto-status"])
    assert all(n and "20" in n for n in notes) and any("France 24" in n for n in notes)
    assert {r["by"] for r in manual} == {"tracker record"}

    before = snapshot(db_url)
    again = shipped.ok("init").output
    assert "shipped record" not in again and snapshot(db_url) == before
    assert "0 added" in shipped.ok("import", "--record").output
    assert snapshot(db_url) == before


def test_init_no_record_starts_at_the_priors(db_url: str) -> None:
    shipped = Tracker(db_url, REPO / "scenarios.yaml")
    assert "shipped record" not in shipped.ok("init", "--no-record").output
    shown = json.loads(shipped.ok("show", "armenia-csto-status", "--json").output)
    rows = history(shipped, "armenia-csto-status")
    assert rows[0]["source"] == "prior"
    assert rows[0]["probabilities"] == {"stays-active": 0.85, "freezes": 0.10, "withdraws": 0.05}
    # No forecast by hand: only the weeks without a sighting of an event move it (docs/model.md).
    assert {r["source"] for r in rows[1:]} == {"silence"}
    assert shown["probabilities"] == pytest.approx(rows[-1]["probabilities"], abs=1e-12)
    # A later init does not load it behind the user's back; import --record does.
    assert "shipped record" not in shipped.ok("init").output
    out = shipped.ok("import", "--record").output
    assert "armenia-csto-status: 6 added" in out
    assert json.loads(shipped.ok("show", "kyrgyz-tajik-border", "--json").output)[
        "resolved_to"] == "major-fighting"


def test_the_record_leaves_out_questions_that_do_not_fit(initialized: Tracker,
                                                         db_url: str) -> None:
    # The small file reuses the id uzbekistan-rejoins with two scenarios of its own.
    fresh = snapshot(db_url)
    assert fresh["forecasts"] == []
    out = initialized.ok("import", "--record").output
    assert "left out uzbekistan-rejoins (scenarios or dates" in out and "added" not in out
    # the record's other questions are not in the small file: named too, as missing
    missing = sorted(set(record_entries()) - {"uzbekistan-rejoins"})
    (line,) = [x for x in out.splitlines() if x.endswith("(not in scenarios.yaml)")]
    named = line.removeprefix("shipped record: left out ").removesuffix(
        " (not in scenarios.yaml)").split(", ")
    assert sorted(named) == missing, out
    report = json.loads(initialized.ok("import", "--record", "--json").output)
    assert sorted(report["missing"]) == missing
    assert sorted(report["left_out"]) == sorted([*missing, "uzbekistan-rejoins"])
    assert snapshot(db_url)["forecasts"] == []


def test_the_shipped_record_round_trips_through_history_csv_with_a_void(
    db_url: str, tmp_path: Path
) -> None:
    """`history --format csv | import` on the shipped questions, whose history also has time
    without a sighting (silence) and a voided forecast: into a fresh database it brings every
    live forecast and resolution and nothing voided; into its own it adds nothing."""
    shipped = Tracker(db_url, REPO / "scenarios.yaml")
    shipped.ok("init")
    question = "uzbekistan-rejoins"
    [manual, *_] = [r for r in history(shipped, question) if r["source"] == "manual"]
    shipped.ok("void", str(manual["id"]), "--note", "entered in error")
    exported = shipped.ok("history", question, "--format", "csv").output
    assert ",silence," in exported and ",void," in exported
    assert exported.splitlines()[0].endswith(",evidence,voided_by,id,voids")
    # the void names what it took back, and the voided row its id: the audit trail in CSV
    rows = list(csv.DictReader(io.StringIO(exported)))
    (void_row,) = [r for r in rows if r["source"] == "void"]
    (voided,) = [r for r in rows if r["voided_by"]]
    assert void_row["voids"] == voided["id"] == str(manual["id"])
    assert voided["voided_by"] == void_row["id"] != ""
    backend = "sqlite" if db_url.startswith("sqlite") else "postgresql"
    with empty_database(backend, tmp_path, "fresh") as url:
        fresh = Tracker(url, REPO / "scenarios.yaml")
        fresh.ok("init", "--no-record")
        result = fresh("import", "-", "--format", "csv", "--question", question,
                       input=exported)
        assert result.exit_code == 0, result.output
        live = [(r["at"], r["source"], r["note"]) for r in history(shipped, question)
                if r["source"] in ("manual", "resolution") and "voided_by" not in r]
        copied = [(r["at"], r["source"], r["note"]) for r in history(fresh, question)
                  if r["source"] in ("manual", "resolution")]
        assert copied == live and len(live) >= 1
        assert manual["note"] not in [note for _, _, note in copied]
    before = snapshot(shipped.db_url)
    again = shipped("import", "-", "--format", "csv", "--question", question, input=exported)
    assert again.exit_code == 0 and f"{len(live)} already present" in again.output
    assert snapshot(shipped.db_url) == before


def test_every_problem_of_a_journal_is_named_at_once(initialized: Tracker,
                                                     tmp_path: Path) -> None:
    """A problem of the file (no note, a future time) does not hide those the database finds
    in the other entries (a sum, an unknown scenario): one refusal names them all, in line
    order, and writes nothing. A resolution to an unknown scenario says so (it used to say
    a manual forecast came after it)."""
    initialized.ok("update", "uzbekistan-rejoins", "rejoins=0.1", "--note", "later", "--at",
                   "2023-01-01")
    text = textwrap.dedent("""\
        version: 1
        entries:
          - {question: csto-response, at: 2022-01-01, probabilities: {deploys: 1}}
          - {question: csto-response, at: 2099-01-01, note: x, scenario: drills}
          - {question: csto-response, at: 2022-01-01, note: x,
             probabilities: {deploys: 0.5, drills: 0, nothing: 0}}
          - {question: uzbekistan-rejoins, at: 2022-01-01, note: x, scenario: nope}
        """)
    result = initialized.refused("import", write(tmp_path, "j.yaml", text),
                                 message="4 problem(s)")
    lines = [line.split("j.yaml:", 1)[1] for line in result.output.splitlines()
             if "j.yaml:" in line and "problem(s)" not in line]
    assert [line.split(":")[0] for line in lines] == ["3", "4", "5", "7"], result.output
    assert "note: expected a non-empty text" in lines[0]
    assert "in the future" in lines[1]
    assert "must sum to 1, got 0.5" in lines[2]
    assert "unknown scenario 'nope' for uzbekistan-rejoins" in lines[3]


def test_a_voided_forecast_does_not_block_a_resolution(initialized: Tracker,
                                                        tmp_path: Path) -> None:
    initialized.ok("update", Q, "deploys=0.3", "--note", "x", "--at", "2022-01-01")
    manual = next(r for r in history(initialized, Q) if r["source"] == "manual")
    initialized.ok("void", str(manual["id"]), "--note", "wrong question")
    journal = write(tmp_path, "journal.yaml", "version: 1\nentries:\n"
                    "  - {question: csto-response, at: 2021-12-01, scenario: drills}\n")
    assert "csto-response: 1 added" in initialized.ok("import", journal).output


def test_a_voided_resolution_is_not_brought_back(initialized: Tracker, tmp_path: Path) -> None:
    """Importing a journal again adds nothing, not even what `void` took back."""
    journal = write(tmp_path, "journal.yaml", JOURNAL)
    initialized.ok("import", journal)
    resolution = next(r for r in history(initialized, Q) if r["source"] == "resolution")
    initialized.ok("void", str(resolution["id"]), "--note", "misread the close")
    before = snapshot(initialized.db_url)
    out = json.loads(initialized.ok("import", journal, "--json").output)
    assert out["questions"][0] == {"id": Q, "added": 0, "present": 2, "unchanged": 0}
    assert snapshot(initialized.db_url) == before
    assert json.loads(initialized.ok("show", Q, "--json").output)["resolved_to"] is None


def test_a_forecast_equal_to_the_one_in_force_is_counted_unchanged(
    initialized: Tracker, tmp_path: Path
) -> None:
    """Nothing is recorded for it (as `tracker update`), and it is not called "added"."""
    journal = write(tmp_path, "journal.yaml", textwrap.dedent("""\
        version: 1
        entries:
          - {question: csto-response, at: 2022-09-18T12:00:00+05:00, note: first,
             probabilities: {deploys: 0.1, drills: 0.8, nothing: 0.1}}
          - {question: csto-response, at: 2022-09-19T12:00:00, note: same again,
             probabilities: {deploys: 0.1, drills: 0.8, nothing: 0.1}}
        """))
    for _ in range(2):
        result = initialized.ok("import", journal)
    assert "csto-response: 0 added, 1 already present, 1 unchanged" in result.output
    assert [r["note"] for r in history(initialized, Q) if r["source"] == "manual"] == ["first"]


def test_an_author_longer_than_the_database_keeps_is_refused(initialized: Tracker,
                                                             tmp_path: Path) -> None:
    journal = write(tmp_path, "journal.yaml", "version: 1\nentries:\n"
                    "  - {question: csto-response, at: 2022-01-01, note: x, by: "
                    + "b" * 201 + ", probabilities: {deploys: 0.2, drills: 0.7, "
                    "nothing: 0.1}}\n")
    initialized.refused("import", journal, message="entries[0].by: 201 characters: at most 200")
    csv = write(tmp_path, "journal.csv", "at,deploys,drills,nothing,source,note,by\n"
                "2022-01-01,0.2,0.7,0.1,manual,x," + "b" * 201 + "\n")
    initialized.refused("import", csv, "--question", Q,
                        message="journal.csv:2: by of 201 characters: at most 200")
