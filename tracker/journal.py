"""Journals of dated manual forecasts and resolutions, in YAML or in the CSV that `tracker history
--format csv` writes: parsed and checked into plain entries here, with the line of each; applied
in one transaction by tracker/importing.py."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import author_too_long
from .errors import UsageError, ValidationError
from .scenarios import ID_RE, check_url, finite, read_yaml
from .timeutil import parse_time, utcnow

if TYPE_CHECKING:
    # The checker of scenarios.yaml: the same YAML paths, lines and messages.
    from .scenarios import _Checker

ENTRY_KEYS = {"question", "at", "source", "probabilities", "scenario", "by", "note", "source_url"}
# Columns of `tracker history --format csv` that are not scenarios, and `question`.
COLUMNS = ("at", "question", "source", "by", "note", "evidence", "voided_by", "id", "voids")
# Rows of history that are not entries of a journal: forecasts it derives from the log (the
# prior, sightings, time without a sighting), withdrawn sightings, and voids. Importing them
# would count them twice, or bring back what was taken back.
DERIVED = ("prior", "evidence", "silence", "withdrawn", "void")
_PROBABILITY = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(%?)\s*$")


@dataclass(frozen=True)
class Entry:
    """One manual forecast (every scenario named) or one resolution (its scenario)."""

    where: str  # "file:line", for messages
    line: int
    question: str
    at: datetime
    probabilities: dict[str, float]
    scenario: str | None
    by: str | None
    note: str

    @property
    def source(self) -> str:
        return "manual" if self.scenario is None else "resolution"


@dataclass(frozen=True)
class Journal:
    """The entries of a journal file, and how many derived rows of a CSV were left out."""

    source: str
    entries: tuple[Entry, ...]
    ignored: int = 0
    # What the file itself gets wrong, `FILE:LINE: ...` each; the entries are those without a
    # problem, so the import can still check them against the database and name every
    # problem at once (`importing.apply_journal` refuses the file when there is any).
    problems: tuple[str, ...] = ()


def parse_probability(value: Any) -> float:
    """0.25, "0.25" or "25%" as a number; ValueError for anything else (range checked later)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = finite(value)
        if number is None:
            raise ValueError(f"bad probability {str(value)[:40]}")
        return number
    m = _PROBABILITY.match(value) if isinstance(value, str) else None
    if not m:
        raise ValueError(f"bad probability {value!r}: use e.g. 0.25 or 25%")
    return float(m.group(1)) / (100 if m.group(2) else 1)


def parse_yaml_journal(text: str, source: str, now: datetime | None = None) -> Journal:
    """Check a YAML journal (`version: 1`, `entries:`): the sound entries and the problems of
    the others; ValidationError only for a file that is not YAML at all."""
    now = now or utcnow()
    data, c = read_yaml(text, source)
    top = c.mapping(data, "", {"version", "by", "entries"}, {"version", "entries"})
    if top and top.get("version") != 1:
        c.fail("version", f"unsupported version {top.get('version')!r} (expected 1)")
    default_by = _author(c, c.text(top.get("by"), "by", required=False), "by")
    entries: list[Entry] = []
    for i, item in c.items(top.get("entries"), "entries"):
        path = f"entries[{i}]"
        before = len(c.problems)
        m = c.mapping(item, path, ENTRY_KEYS, {"question", "at"})
        entry = _yaml_entry(c, m, path, now) if m else None
        if entry is not None:
            by = _author(c, c.text(m.get("by"), f"{path}.by", required=False),
                         f"{path}.by") or default_by
            if len(c.problems) == before:
                entries.append(replace(entry, by=by))
    return Journal(source, tuple(entries), problems=tuple(c.problems))


def _author(c: _Checker, name: str, path: str) -> str | None:
    """A `by` as stored: None when blank; longer than the database keeps is a problem."""
    if problem := author_too_long(name):
        c.fail(path, problem)
    return name or None


def _yaml_entry(c: _Checker, m: dict[str, Any], path: str, now: datetime) -> Entry | None:
    """One entry of a YAML journal; its problems go to the checker `c`."""
    question = c.ident(m.get("question"), f"{path}.question")
    at = None
    try:
        at = parse_time(str(m["at"]), now=now) if "at" in m else None
    except ValueError as exc:
        c.fail(f"{path}.at", str(exc))
    if ("probabilities" in m) == ("scenario" in m):
        c.fail(path, "give either probabilities (a manual forecast) or scenario (a resolution)")
        return None
    kind = "manual" if "probabilities" in m else "resolution"
    if m.get("source", kind) != kind:
        c.fail(f"{path}.source", f"source {m.get('source')!r} does not fit an entry with "
                                 f"{'probabilities' if kind == 'manual' else 'scenario'}")
    probabilities: dict[str, float] = {}
    scenario = None
    if kind == "resolution":
        scenario = c.ident(m.get("scenario"), f"{path}.scenario")
    elif not isinstance(m["probabilities"], dict) or not m["probabilities"]:
        c.fail(f"{path}.probabilities", "expected a mapping of scenario id to probability")
    else:
        for sid, value in m["probabilities"].items():
            c.ident(sid, f"{path}.probabilities.{sid}")
            try:
                probabilities[str(sid)] = parse_probability(value)
            except ValueError as exc:
                c.fail(f"{path}.probabilities.{sid}", str(exc))
    note = c.text(m.get("note"), f"{path}.note", required=kind == "manual")
    if "source_url" in m:
        url = c.text(m["source_url"], f"{path}.source_url")
        if url and (reason := check_url(url)):
            c.fail(f"{path}.source_url", reason)
        note = f"{note} ({url})" if note else url
    if at is None:
        return None
    line = c.lines.line(path) or 0
    return Entry(f"{c.source}:{line}: {path}", line, question, at, probabilities, scenario,
                 None, note)


def _csv_header(header: list[str] | None, source: str, question: str | None) -> list[str]:
    """The column names, or ValidationError for a header history would not have written."""
    expected = "expected the columns of `tracker history --format csv`"
    if header is None:
        raise ValidationError(source, [f"{source}:1: empty file: {expected}"])
    names = [name.strip() for name in header]
    problems = []
    missing = [c for c in ("at", "source", "note") if c not in names]
    if missing:
        problems.append(f"missing column(s) {', '.join(missing)}")
    if "" in names:
        problems.append(f"column {names.index('') + 1} has no name")
    if len(set(names)) != len(names):
        problems.append(f"column(s) named twice: "
                        f"{', '.join(sorted({n for n in names if names.count(n) > 1}))}")
    if "question" not in names and question is None:
        problems.append("no question column: add one or pass --question")
    if "question" in names and question is not None:
        problems.append("a question column and --question: give one of them")
    if problems:
        raise ValidationError(source, [f"{source}:1: {p} ({expected})" for p in problems])
    return names


def parse_csv_journal(text: str, source: str, question: str | None = None,
                      now: datetime | None = None) -> Journal:
    """Check a CSV journal: the sound rows as entries, the problems of the others (rows
    history derives, or that were voided, are left out); ValidationError for a bad header."""
    now = now or utcnow()
    reader = csv.reader(io.StringIO(text, newline=""))
    problems: list[str] = []
    try:
        names = _csv_header(next(reader, None), source, question)
        entries, ignored, end = [], 0, reader.line_num
        for row in reader:
            line, end = end + 1, reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(names):
                problems.append(f"{source}:{line}: expected {len(names)} cells, got {len(row)}")
                continue
            cells = {name: cell.strip() for name, cell in zip(names, row, strict=True)}
            if cells["source"] in DERIVED or cells.get("voided_by"):
                ignored += 1  # a voided forecast stays out, as its void does
                continue
            entry = _csv_entry(cells, source, line, question, now, problems)
            if entry is not None:
                entries.append(entry)
    except csv.Error as exc:
        problems.append(f"{source}:{reader.line_num}: malformed CSV: {exc}")
    return Journal(source, tuple(entries), ignored, tuple(problems))


def _csv_entry(cells: dict[str, str], source: str, line: int, question: str | None,
               now: datetime, problems: list[str]) -> Entry | None:
    """One manual or resolution row as an entry; its problems go to `problems`."""
    where = f"{source}:{line}"
    before = len(problems)
    at: datetime | None = None
    qid = cells.get("question") or question or ""
    if not ID_RE.match(qid):
        problems.append(f"{where}: bad question id {qid!r}")
    for name in ("note", "by", "question"):
        if "\x00" in cells.get(name, ""):
            problems.append(f"{where}: {name} contains a NUL character")
    if problem := author_too_long(cells.get("by", "").strip()):
        problems.append(f"{where}: by of {problem}")
    if cells["source"] not in ("manual", "resolution"):
        problems.append(f"{where}: unknown source {cells['source']!r} "
                        f"(expected manual or resolution; {', '.join(DERIVED)} rows are "
                        "skipped)")
    try:
        at = parse_time(cells["at"], now=now)
    except ValueError as exc:
        problems.append(f"{where}: {exc}")
    probabilities: dict[str, float] = {}
    for name, cell in cells.items():
        if name in COLUMNS or not cell:
            continue
        try:
            probabilities[name] = parse_probability(cell)
        except ValueError as exc:
            problems.append(f"{where}: {name}: {exc}")
    scenario = None
    if cells["source"] == "resolution":
        ones = [s for s, p in probabilities.items() if p == 1]
        if len(ones) != 1 or any(p != 0 for s, p in probabilities.items() if s != ones[0]):
            problems.append(f"{where}: a resolution row gives 1 to the scenario it resolves "
                            "to and 0 to the others")
        else:
            scenario, probabilities = ones[0], {}
    elif not probabilities and len(problems) == before:
        problems.append(f"{where}: no probabilities")
    if len(problems) > before or at is None:
        return None
    return Entry(where, line, qid, at, probabilities, scenario,
                 cells.get("by", "").strip() or None, cells["note"])


def parse_journal(text: str, source: str, fmt: str, question: str | None = None) -> Journal:
    """Check the text of a journal in `fmt` (yaml or csv)."""
    if fmt == "csv":
        return parse_csv_journal(text, source, question)
    if question is not None:
        raise UsageError(f"--question is for CSV journals, and {source} is read as YAML (a "
                         "YAML entry names its question)",
                         hint="add --format csv for a CSV journal (a file not named .csv, or "
                              "standard input)")
    return parse_yaml_journal(text, source)


def read_journal(path: str | Path, fmt: str | None = None, question: str | None = None) -> Journal:
    """Read and check a journal file; without `fmt`, a .csv file is CSV and any other YAML."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UsageError(f"journal {path} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read journal {path}: {exc}") from None
    fmt = fmt or ("csv" if str(path).lower().endswith(".csv") else "yaml")
    return parse_journal(text, str(path), fmt, question)
