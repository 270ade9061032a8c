"""scenarios.yaml validation (DESIGN §3): every refusal exits 2, names the problem with its
YAML path and line, prints no traceback, and leaves the database unchanged row for row."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import SMALL_YAML, Tracker
from tracker.errors import ValidationError
from tracker.scenarios import load_scenarios, parse_scenarios, read_yaml

SHIPPED = Path(__file__).resolve().parent.parent / "scenarios.yaml"


def test_shipped_scenarios_are_valid() -> None:
    spec = load_scenarios(SHIPPED)
    assert len(spec.questions) >= 3
    ids = {q.id for q in spec.questions}
    assert {"uzbekistan-rejoins", "azerbaijan-joins"} <= ids
    assert len(spec.feeds) >= 6
    for q in spec.questions:
        assert str(q.opens) == "2021-07-09"
        assert 2 <= len(q.scenarios) <= 4
        assert len(q.indicators) >= 4
        for ind in q.indicators:
            terms = [t for g in ind.match.get("all", []) for t in g] + ind.match.get("any", [])
            assert any(re.search("[а-яё]", t.lower()) for t in terms), ind.id
            assert any(re.search("[a-z]", t.lower()) for t in terms), ind.id


def _break(old: str, new: str) -> str:
    assert old in SMALL_YAML, old
    return SMALL_YAML.replace(old, new, 1)


# (what is wrong, the broken YAML, a fragment the message must contain, the line it must name)
REFUSALS = [
    ("an id longer than the database keeps",
     _break("- id: csto-response", "- id: " + "c" * 101), "id of 101 characters: at most 100",
     24),
    ("a floor too high for a question's scenarios",
     _break("floor: 0.001", "floor: 0.34"),
     "3 scenarios with settings.scoring.floor 0.34: the floor times the number", 29),
    ("priors do not sum to 1",
     _break("prior: 0.96}", "prior: 0.86}"), "priors sum to 0.9", 12),
    ("likelihood above 1",
     _break("{rejoins: 0.9, stays-out: 0.2}", "{rejoins: 1.5, stays-out: 0.2}"),
     "likelihood 1.5 outside (0, 1]", 23),
    ("likelihood of zero",
     _break("{rejoins: 0.9, stays-out: 0.2}", "{rejoins: 0, stays-out: 0.2}"),
     "outside (0, 1]", 23),
    ("likelihood missing a scenario",
     _break("{rejoins: 0.9, stays-out: 0.2}", "{rejoins: 0.9}"),
     "missing likelihood for scenario 'stays-out'", 23),
    ("likelihood naming an unknown scenario",
     _break("{rejoins: 0.9, stays-out: 0.2}", "{rejoins: 0.9, stays-out: 0.2, joins: 0.5}"),
     "unknown scenario 'joins'", 23),
    ("duplicate question id",
     _break("- id: csto-response", "- id: uzbekistan-rejoins"),
     "duplicate question id 'uzbekistan-rejoins'", 24),
    ("duplicate scenario id",
     _break("{id: drills,", "{id: deploys,"), "duplicate scenario id 'deploys'", 31),
    ("duplicate indicator id",
     _break("- id: csto-border-drills", "- id: uz-csto-talks"),
     "duplicate indicator id 'uz-csto-talks'", 34),
    ("duplicate feed id",
     _break('  - {id: local, url: "http://127.0.0.1:9/feed.xml"}',
            '  - {id: local, url: "http://127.0.0.1:9/feed.xml"}\n'
            '  - {id: local, url: "http://127.0.0.1:9/other.xml"}'),
     "duplicate feed id 'local'", 6),
    ("bad duration", _break("cooldown: 7d", "cooldown: 7 weeks"), "bad duration", 39),
    # a number without a unit used to be taken as seconds: 14 s for "cooldown: 14"
    ("a duration without a unit", _break("cooldown: 7d", "cooldown: 14"),
     "bad duration 14: give a unit (14s, 14m, 14h or 14d)", 39),
    ("bad date", _break("closes: 2027-12-31", "closes: 2027-13-45"), "bad date", 10),
    ("bad crontab",
     _break("  scoring: {auto_weight: 0.5, floor: 0.001}",
            "  scoring: {auto_weight: 0.5, floor: 0.001}\n  report: {cron: '0 7 * mon'}"),
     "bad crontab", 4),
    ("bad URL",
     _break('url: "http://127.0.0.1:9/feed.xml"', 'url: "ftp://example.org/feed.xml"'),
     "only http and https", 5),
    ("unknown key",
     _break("    closes: 2026-12-31", "    closes: 2026-12-31\n    colour: red"),
     "unknown key 'colour'", 28),
    ("fewer than two scenarios",
     _break("      - {id: stays-out, label: Uzbekistan stays outside, prior: 0.96}\n", "")
     .replace("prior: 0.04}", "prior: 1.0}").replace(", stays-out: 0.2}", "}"),
     "at least two scenarios", 12),
    # Found by a new user's audit: each was an "unexpected error" (exit 1), or on PostgreSQL
    # a database error, instead of a refusal with the line.
    ("a date past what the weeks can count",
     _break("closes: 2027-12-31", "closes: 9999-12-31"), "out of range", 10),
    ("a number too large for a float",
     _break("prior: 0.04}", "prior: " + "4" + "0" * 400 + "}"), "expected a number", 13),
    ("a NUL character in a title",
     _break("title: Will Uzbekistan rejoin", 'title: "Will Uzbekistan\\0 rejoin'
            ).replace("before 2028?\n", 'before 2028?"\n', 1), "NUL character", 8),
    ("malformed YAML", SMALL_YAML.replace("    title: Will", "   title: [Will", 1),
     "malformed YAML", None),
    ("a YAML tag", SMALL_YAML.replace("prior: 0.04}", "prior: !!python/object:os.system 1}"),
     "malformed YAML", None),
]


@pytest.mark.parametrize(("case", "text", "fragment", "line"), REFUSALS,
                         ids=[r[0] for r in REFUSALS])
def test_validation_refuses(case: str, text: str, fragment: str, line: int | None) -> None:
    with pytest.raises(ValidationError) as info:
        parse_scenarios(text, "s.yaml")
    problems = "\n".join(info.value.problems)
    assert fragment in problems, problems
    if line is not None:
        assert f"s.yaml:{line}:" in problems, problems


def test_a_prior_out_of_range_is_named_once_with_the_reading_meant() -> None:
    """`prior: 4` was named twice (the prior, then "priors sum to 4.96") and never as 4 %."""
    with pytest.raises(ValidationError) as info:
        parse_scenarios(_break("prior: 0.04}", "prior: 4}"), "s.yaml")
    assert len(info.value.problems) == 1, info.value.problems
    (problem,) = info.value.problems
    assert problem.startswith("s.yaml:") and "prior 4 outside [0, 1] (did you mean 4%?)" in problem


def test_a_floor_out_of_range_is_named_once() -> None:
    """`floor: 2` was named once, then again for every question ("the floor times the number
    of scenarios must stay below 1")."""
    with pytest.raises(ValidationError) as info:
        parse_scenarios(_break("floor: 0.001}", "floor: 2}"), "s.yaml")
    assert len(info.value.problems) == 1, info.value.problems
    assert "floor 2 outside [0, 0.5)" in info.value.problems[0]


def test_a_misspelt_key_is_named_as_unknown_and_missing_once() -> None:
    """`titel:` gave three problems: unknown key, missing key, and an empty title."""
    with pytest.raises(ValidationError) as info:
        parse_scenarios(SMALL_YAML.replace("    title: Will", "    titel: Will", 1), "s.yaml")
    problems = info.value.problems
    assert len(problems) == 2, problems
    assert "missing required key 'title'" in problems[0]
    assert "unknown key 'titel' (did you mean title?" in problems[1]


def test_every_problem_is_reported_at_once() -> None:
    text = _break("prior: 0.96}", "prior: 0.86}").replace("cooldown: 7d", "cooldown: soon")
    with pytest.raises(ValidationError) as info:
        parse_scenarios(text)
    assert len(info.value.problems) == 2


def test_problems_are_listed_in_line_order() -> None:
    """A check made once a question is read (the floor against its scenarios) still comes
    before the problems of the lines below it."""
    text = _break("floor: 0.001", "floor: 0.34").replace("cooldown: 7d", "cooldown: soon")
    with pytest.raises(ValidationError) as info:
        parse_scenarios(text, "s.yaml")
    lines = [int(re.match(r"s\.yaml:(\d+):", p).group(1))  # type: ignore[union-attr]
             for p in info.value.problems]
    assert len(lines) == 2 and lines == sorted(lines), info.value.problems


@pytest.mark.parametrize("command", ["init", "sync"])
@pytest.mark.parametrize(("case", "text", "fragment", "line"),
                         [REFUSALS[0], REFUSALS[3], REFUSALS[18]],
                         ids=["priors", "likelihood", "malformed"])
def test_cli_refuses_without_touching_the_database(
    initialized: Tracker, command: str, case: str, text: str, fragment: str, line: int | None
) -> None:
    initialized.ok("update", "uzbekistan-rejoins", "rejoins=0.1", "--note", "baseline")
    initialized.scenarios.write_text(text, encoding="utf-8")
    result = initialized.refused(command, message=fragment)
    if line is not None:
        assert f":{line}:" in result.output


def test_missing_scenarios_file_is_a_usage_error(tracker: Tracker, tmp_path: Path) -> None:
    tracker.scenarios = tmp_path / "nope.yaml"
    result = tracker("init")
    assert result.exit_code == 2
    assert "not found" in result.output and "Traceback" not in result.output


def test_a_time_or_a_far_date_is_no_day() -> None:
    """The day check refuses a time (a loader that made datetimes of timestamps would otherwise
    compare a time with a day and fail with TypeError) and dates its arithmetic cannot count."""
    from datetime import date, datetime

    from tracker.scenarios import _Checker, _Lines

    c = _Checker("s.yaml", _Lines(None))
    assert c.day(date(2021, 7, 9), "q.opens") == date(2021, 7, 9)
    assert c.day(datetime(2021, 7, 9, 10), "q.opens") is None
    assert c.day(date(9999, 12, 31), "q.closes") is None
    assert c.day("0001-01-01", "q.opens") is None
    assert [p.split(": ", 2)[1] for p in c.problems] == ["q.opens", "q.closes", "q.opens"]


# --- libyaml reads what the pure-Python loader reads, with the same checks -------------------

REPO = Path(__file__).resolve().parent.parent
YAML_TEXTS = {
    "shipped scenarios": (REPO / "scenarios.yaml").read_text(encoding="utf-8"),
    "shipped record": (REPO / "tracker" / "record.yaml").read_text(encoding="utf-8"),
    "small": SMALL_YAML,
    "an alias": "a: &x 1\nb: *x\n",
    "an anchor alone": "a: 1\nb:\n  - &y [1]\n",
    "21 levels, block": "".join("  " * i + f"k{i}:\n" for i in range(21)) + "  " * 21 + "v\n",
    "20 levels, flow": "[" * 20 + "]" * 20,
    "21 levels, flow": "[" * 21 + "]" * 21,
    "a scalar at level 20": "[" * 20 + "1" + "]" * 20,
    "20,000 open brackets": "a:\n  " + "[" * 20000,
    "duplicate keys": "a: 1\nb: 2\na: 3\n",
    "YAML 1.2 booleans, dates as text": "x: [yes, no, on, off, True, 2021-07-09, 1e3, .inf, ~]\n",
    "empty": "",
    "two documents": "a: 1\n---\nb: 2\n",
    "unclosed": "a: [1, 2\n",
    "a tab": "a: 1\n\tb: 2\n",
    "a python tag": "a: !!python/object:os.system x\n",
}


@pytest.mark.parametrize("name", list(YAML_TEXTS))
def test_libyaml_reads_as_the_pure_loader_does(name: str) -> None:
    """read_yaml composes with libyaml (0.4 s less for the shipped file), the pure-Python
    loader being the reference: the same data, the same line for every path, the same
    duplicates; the same refusals (anchors, nesting) on the same line, in the same words
    where the words are ours (libyaml words its own syntax errors itself)."""
    text = YAML_TEXTS[name]
    results = []
    for fast in (False, True):
        try:
            data, checker = read_yaml(text, "f.yaml", fast=fast)
        except ValidationError as exc:
            results.append(("refused", exc.problems))
        else:
            results.append((data, checker.lines.lines, checker.lines.duplicates))
    pure, fast_result = results
    if pure[0] != "refused":
        assert fast_result == pure
        return
    assert fast_result[0] == "refused", fast_result
    (want,), (got,) = pure[1], fast_result[1]
    assert got.split(" malformed YAML:")[0] == want.split(" malformed YAML:")[0]  # the line
    if "not allowed" in want and "&" in want or "nested more than" in want:
        assert got == want
