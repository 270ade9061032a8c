"""Load and validate scenarios.yaml into plain typed objects; no database here."""

from __future__ import annotations

import math
import re
import zoneinfo
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import yaml

from .config import MAIL_ADDRESS, Settings, cron_trigger
from .errors import UsageError, ValidationError, problem_line, valid
from .matching import (
    CUE_KINDS,
    CUE_SWITCHES,
    RULE_KEYS,
    WINDOW_MAX,
    near_problem,
    scope_problem,
    switch_problem,
)
from .timeutil import parse_duration

ID_RE = re.compile(r"^[a-z0-9-]+$")
ID_MAX = 100  # the database's id columns
PRIOR_TOLERANCE = 1e-6
MAX_FILE_BYTES = 5 * 1024 * 1024  # the shipped file is ~20 KB; a bigger one is a mistake or worse
MAX_DEPTH = 20  # the deepest path of the format is 7 levels


@dataclass(frozen=True)
class Scenario:
    id: str
    label: str
    prior: float
    # An event before `closes`: the indicators whose sightings reveal it (() for `event: true`);
    # None when the scenario is not an event.
    event: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Indicator:
    id: str
    description: str
    match: dict[str, Any]
    likelihood: dict[str, float]
    cooldown: timedelta


@dataclass(frozen=True)
class Question:
    id: str
    title: str
    opens: date
    closes: date
    resolution: str
    scenarios: tuple[Scenario, ...]
    indicators: tuple[Indicator, ...]


@dataclass(frozen=True)
class Feed:
    id: str
    url: str
    interval: timedelta | None


@dataclass(frozen=True)
class ScenarioFile:
    settings: Settings = field(default_factory=Settings)
    feeds: tuple[Feed, ...] = ()
    questions: tuple[Question, ...] = ()
    # The file and line of a YAML path ("scenarios.yaml:12"), for what sync refuses.
    where: Callable[[str], str] | None = field(default=None, compare=False, repr=False)

    def at(self, path: str) -> str:
        """"FILE:LINE: PATH: " before a refusal about `path`, or nothing where unknown."""
        return f"{self.where(path)}: {path}: " if self.where is not None else ""


class _Loader(yaml.SafeLoader):
    """The safe loader, with dates left as text (we parse them, so a bad one is a clean error).
    What it may compose is checked first (`_check_events`): no anchors or aliases (an alias
    bomb expands a few lines into gigabytes; the format has no use for them) and a nesting
    limit (the composer recurses: 20,000 levels overflow it)."""


_Loader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
# Booleans as YAML 1.2 reads them, true and false only: the ids of a binary question are
# yes and no (and on/off are words too), which YAML 1.1 would turn into True and False.
_BOOL = "tag:yaml.org,2002:bool"
for _resolvers in _Loader.yaml_implicit_resolvers.values():
    _resolvers[:] = [(tag, rx) for tag, rx in _resolvers if tag != _BOOL]
_Loader.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                              list("tTfF"))

if getattr(yaml, "__with_libyaml__", False):
    class _CLoader(yaml.CSafeLoader):  # type: ignore[misc, name-defined]
        """libyaml's parser and composer (the same nodes, 30x faster: 0.4 s for the shipped
        scenarios.yaml in pure Python), with _Loader's resolvers."""

    _CLoader.yaml_implicit_resolvers = _Loader.yaml_implicit_resolvers
    _FAST: type | None = _CLoader
else:  # PyYAML built without libyaml: the pure-Python loader does it all
    _FAST = None
_COLLECTION_START = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_COLLECTION_END = (yaml.MappingEndEvent, yaml.SequenceEndEvent)
_NODE_EVENTS = (yaml.ScalarEvent, yaml.AliasEvent, *_COLLECTION_START)


def _check_events(text: str, loader: type) -> None:
    """What may be composed, checked on the parser's events (both composers recurse, and
    neither can be given a check of its own): no anchor or alias, and no node nested
    MAX_DEPTH levels deep. The first offending node in document order raises."""
    depth = 0
    events = yaml.parse(text, Loader=loader)
    while True:
        try:
            event = next(events)
        except StopIteration:
            return
        except yaml.MarkedYAMLError as exc:
            # libyaml's own limit (1,000 open brackets) may be met while it reads ahead
            if "maximum nesting depth" not in str(exc.problem):
                raise
            raise _too_deep(exc.problem_mark) from None
        if isinstance(event, _NODE_EVENTS):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
                raise yaml.composer.ComposerError(
                    None, None, "anchors and aliases (& and *) are not allowed",
                    cast(Any, event.start_mark))
            if depth >= MAX_DEPTH:
                raise _too_deep(event.start_mark)
            if isinstance(event, _COLLECTION_START):
                depth += 1
        elif isinstance(event, _COLLECTION_END):
            depth -= 1


def _too_deep(mark: Any) -> yaml.YAMLError:
    return yaml.composer.ComposerError(None, None, f"nested more than {MAX_DEPTH} levels deep",
                                       mark)


def _compose(text: str, fast: bool = True) -> yaml.Node | None:
    """The node tree of `text`, checked first: by libyaml where there is one."""
    loader = _FAST if fast and _FAST is not None else _Loader
    _check_events(text, loader)
    return yaml.compose(text, Loader=loader)  # noqa: S506 - a (C)SafeLoader subclass


class _Lines:
    """YAML path -> line number, read from the composed node tree."""

    def __init__(self, root: yaml.Node | None) -> None:
        self.lines: dict[str, int] = {}
        self.duplicates: list[tuple[str, int]] = []
        if root is not None:
            self._walk(root, "")

    def _walk(self, node: yaml.Node, path: str) -> None:
        self.lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key, value in node.value:
                name = str(key.value)
                sub = f"{path}.{name}" if path else name
                if name in seen:
                    self.duplicates.append((sub, key.start_mark.line + 1))
                seen.add(name)
                self.lines[sub] = key.start_mark.line + 1
                self._walk(value, sub)
                self.lines[sub] = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._walk(item, f"{path}[{i}]")

    def line(self, path: str) -> int | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""
        return self.lines.get("")


class _Checker:
    """Collects every problem with its YAML path and line, then raises them all at once."""

    def __init__(self, source: str, lines: _Lines) -> None:
        self.source = source
        self.lines = lines
        self.problems: list[str] = []
        self.missing: set[str] = set()  # paths already named as a missing required key

    def place(self, path: str) -> str:
        """Where a YAML path is: "FILE:LINE", or the file alone when no line is known."""
        line = self.lines.line(path)
        return f"{self.source}:{line}" if line else self.source

    def fail(self, path: str, message: str) -> None:
        if path in self.missing:
            return  # "missing required key" said it: its value's check would say it again
        self.problems.append(f"{self.place(path)}: {path or '(top)'}: {message}")

    def mapping(self, value: Any, path: str, allowed: set[str], required: set[str]) -> dict:
        if not isinstance(value, dict):
            self.fail(path, f"expected a mapping, got {_kind(value)}")
            return {}
        for key in value:
            if str(key) not in allowed:
                self.fail(f"{path}.{key}" if path else str(key),
                          f"unknown key {key!r} ({valid('keys', str(key), sorted(allowed))})")
        for key in sorted(required - {str(k) for k in value}):
            self.fail(path, f"missing required key {key!r}")
            self.missing.add(f"{path}.{key}" if path else key)
        return value

    def text(self, value: Any, path: str, *, required: bool = True) -> str:
        if value is None and not required:
            return ""
        if not isinstance(value, str | int | float) or isinstance(value, bool) or (
            isinstance(value, str) and not value.strip()
        ):
            self.fail(path, "expected a non-empty text")
            return ""
        if isinstance(value, str) and "\x00" in value:
            # PostgreSQL cannot store it, and no title or note needs it.
            self.fail(path, "contains a NUL character")
            return ""
        return str(value).strip()

    def ident(self, value: Any, path: str) -> str:
        if not isinstance(value, str) or not ID_RE.match(value):
            self.fail(path, f"bad id {_short(value)}: use lowercase letters, digits and '-'")
            return str(value)
        if len(value) > ID_MAX:
            self.fail(path, f"id of {len(value)} characters: at most {ID_MAX}")
        return value

    def number(self, value: Any, path: str) -> float | None:
        number = finite(value)
        if number is None:
            self.fail(path, f"expected a number, got {_short(value)}")
        return number

    def duration(self, value: Any, path: str) -> timedelta | None:
        try:
            return parse_duration(value)
        except (ValueError, TypeError) as exc:
            self.fail(path, str(exc) if isinstance(exc, ValueError) else f"bad duration {value!r}")
            return None

    def day(self, value: Any, path: str) -> date | None:
        try:
            if isinstance(value, datetime):  # a time is not a day
                raise ValueError(value)
            day = value if isinstance(value, date) else date.fromisoformat(str(value))
        except ValueError:
            self.fail(path, f"bad date {_short(value)} (use YYYY-MM-DD)")
            return None
        if not FIRST_DAY <= day <= LAST_DAY:
            # A question's weeks and days are counted from these: year 9999 has no next day.
            self.fail(path, f"date {day} out of range ({FIRST_DAY} to {LAST_DAY})")
            return None
        return day

    def items(self, value: Any, path: str) -> Iterator[tuple[int, Any]]:
        if value is None:
            return iter(())
        if not isinstance(value, list):
            self.fail(path, f"expected a list, got {_kind(value)}")
            return iter(())
        return iter(enumerate(value))

    def unique(self, seen: dict[str, str], ident: str, path: str, what: str) -> None:
        if ident in seen:
            self.fail(path, f"duplicate {what} id {ident!r} (also at {seen[ident]})")
        else:
            seen[ident] = path


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


def check_url(url: str) -> str | None:
    """None when `url` is an http(s) URL with a host, else the reason it is not."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return f"bad URL {url!r}"
    if parts.scheme not in ("http", "https"):
        return f"bad URL {url!r}: only http and https"
    if not parts.hostname or any(c.isspace() for c in url):
        return f"bad URL {url!r}"
    return None


def _settings(c: _Checker, raw: Any) -> Settings:
    if raw is None:
        return Settings()
    raw = c.mapping(raw, "settings", {"timezone", "report", "scoring", "polling", "matching"},
                    set())
    d = Settings()
    tz = d.timezone
    if "timezone" in raw:
        tz = c.text(raw["timezone"], "settings.timezone")
        try:
            zoneinfo.ZoneInfo(tz)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            c.fail("settings.timezone", f"unknown timezone {tz!r}")
            tz = "UTC"
    report = c.mapping(raw.get("report") or {}, "settings.report", {"cron", "recipients"}, set())
    cron = d.report_cron
    if "cron" in report:
        cron = c.text(report["cron"], "settings.report.cron")
        try:
            cron_trigger(cron, tz)
        except ValueError as exc:
            c.fail("settings.report.cron", f"bad crontab {cron!r}: {exc}")
    recipients: list[str] = []
    for i, r in c.items(report.get("recipients"), "settings.report.recipients"):
        addr = c.text(r, f"settings.report.recipients[{i}]")
        if addr and not MAIL_ADDRESS.fullmatch(addr):
            c.fail(f"settings.report.recipients[{i}]", f"bad mail address {addr!r}")
        recipients.append(addr)
    scoring = c.mapping(raw.get("scoring") or {}, "settings.scoring",
                        {"auto_weight", "floor", "reliability_strength", "repeat_decay"}, set())
    auto_weight, floor = d.auto_weight, d.floor
    if "auto_weight" in scoring:
        w = c.number(scoring["auto_weight"], "settings.scoring.auto_weight")
        if w is not None and not 0 <= w <= 1:
            c.fail("settings.scoring.auto_weight", f"auto_weight {w} outside [0, 1]")
        auto_weight = w if w is not None else auto_weight
    if "floor" in scoring:
        f = c.number(scoring["floor"], "settings.scoring.floor")
        if f is not None and not 0 <= f < 0.5:
            c.fail("settings.scoring.floor", f"floor {f:g} outside [0, 0.5)")
        # a refused floor is not held against each question as well
        floor = f if f is not None and 0 <= f < 0.5 else floor
    strength, decay = _model_settings(c, scoring, d)
    polling = c.mapping(raw.get("polling") or {}, "settings.polling",
                        {"interval", "concurrency", "tick", "retention"}, set())
    interval, tick, concurrency = d.poll_interval, d.tick, d.concurrency
    retention = d.retention
    if "retention" in polling:
        retention = c.duration(polling["retention"], "settings.polling.retention") or retention
    if "interval" in polling:
        interval = c.duration(polling["interval"], "settings.polling.interval") or interval
    if "tick" in polling:
        tick = c.duration(polling["tick"], "settings.polling.tick") or tick
    if "concurrency" in polling:
        n = polling["concurrency"]
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 256:
            c.fail("settings.polling.concurrency", f"concurrency {n!r}: expected 1 to 256")
        else:
            concurrency = n
    matching = _matching(c, raw["matching"]) if "matching" in raw else {}
    return Settings(tz, cron, tuple(recipients), auto_weight, floor, interval, concurrency, tick,
                    reliability_strength=strength, repeat_decay=decay, matching=matching,
                    retention=retention)


def _model_settings(c: _Checker, scoring: dict, d: Settings) -> tuple[float, float]:
    """settings.scoring's reliability_strength (> 0) and repeat_decay ([0, 1)), docs/model.md."""
    strength, decay = d.reliability_strength, d.repeat_decay
    if "reliability_strength" in scoring:
        n = c.number(scoring["reliability_strength"], "settings.scoring.reliability_strength")
        if n is not None and not n > 0:
            c.fail("settings.scoring.reliability_strength",
                   f"reliability_strength {n} must be above 0")
        elif n is not None:
            strength = n
    if "repeat_decay" in scoring:
        r = c.number(scoring["repeat_decay"], "settings.scoring.repeat_decay")
        if r is not None and not 0 <= r < 1:
            c.fail("settings.scoring.repeat_decay", f"repeat_decay {r} outside [0, 1)")
        elif r is not None:
            decay = r
    return strength, decay


def _feeds(c: _Checker, raw: Any) -> tuple[Feed, ...]:
    feeds: list[Feed] = []
    seen: dict[str, str] = {}
    for i, item in c.items(raw, "feeds"):
        path = f"feeds[{i}]"
        m = c.mapping(item, path, {"id", "url", "interval"}, {"id", "url"})
        if not m:
            continue
        fid = c.ident(m.get("id"), f"{path}.id")
        c.unique(seen, fid, f"{path}.id", "feed")
        url = c.text(m.get("url"), f"{path}.url")
        if url and (reason := check_url(url)):
            c.fail(f"{path}.url", reason)
        interval = c.duration(m["interval"], f"{path}.interval") if "interval" in m else None
        feeds.append(Feed(fid, url, interval))
    return tuple(feeds)


def _cue_switch(c: _Checker, value: Any, path: str) -> str:
    if problem := switch_problem(value):
        c.fail(path, problem)
    return str(value)


def _match(c: _Checker, raw: Any, path: str) -> dict[str, Any]:
    m = c.mapping(raw, path, set(RULE_KEYS), set())
    if m and "all" not in m and "any" not in m:
        c.fail(path, "a match needs 'all' or 'any'")

    def terms(value: Any, p: str) -> list[str]:
        out: list[str] = []
        if not isinstance(value, list) or not value:
            c.fail(p, "expected a non-empty list of terms")
            return out
        for j, t in enumerate(value):
            if isinstance(t, list):
                c.fail(f"{p}[{j}]", "expected a term, got a list")
                continue
            term = c.text(t, f"{p}[{j}]")
            if term and not term.rstrip("*").strip():
                c.fail(f"{p}[{j}]", f"term {term!r} has no text")
            out.append(term)
        return out

    rule: dict[str, Any] = {}
    if "all" in m:
        groups = []
        for g, group in c.items(m["all"], f"{path}.all"):
            groups.append(terms(group if isinstance(group, list) else [group], f"{path}.all[{g}]"))
        if not groups:
            c.fail(f"{path}.all", "expected a non-empty list of groups")
        rule["all"] = groups
    for key in ("any", "none"):
        if key in m:
            rule[key] = terms(m[key], f"{path}.{key}")
    if "near" in m:
        if problem := near_problem(m["near"]):
            c.fail(f"{path}.near", problem)
        rule["near"] = m["near"]
    if "scope" in m:
        if problem := scope_problem(m["scope"]):
            c.fail(f"{path}.scope", problem)
        rule["scope"] = m["scope"]
    for key in CUE_SWITCHES:
        if key in m:
            rule[key] = _cue_switch(c, m[key], f"{path}.{key}")
    return rule


def _matching(c: _Checker, raw: Any) -> dict[str, Any]:
    """settings.matching: the cue window and changes to the shipped cue lists."""
    m = c.mapping(raw, "settings.matching", {"window", "cues"}, set())
    out: dict[str, Any] = {}
    if "window" in m:
        w = m["window"]
        if isinstance(w, bool) or not isinstance(w, int) or not 1 <= w <= WINDOW_MAX:
            c.fail("settings.matching.window",
                   f"window {w!r}: expected a whole number of words, 1 to {WINDOW_MAX}")
        else:
            out["window"] = w
    if "cues" not in m:
        return out
    base = "settings.matching.cues"
    kinds = c.mapping(m["cues"], base, set(CUE_KINDS), set())
    cues: dict[str, Any] = {}

    def cue_list(value: Any, p: str) -> list[str]:
        if not isinstance(value, list):
            c.fail(p, f"expected a list of cues, got {_kind(value)}")
            return []
        out = []
        for j, t in enumerate(value):
            cue = c.text(t, f"{p}[{j}]")
            if cue and not cue.rstrip("*").strip():
                c.fail(f"{p}[{j}]", f"cue {cue!r} has no text")
            out.append(cue)
        return out

    for kind, change in kinds.items():
        p = f"{base}.{kind}"
        if isinstance(change, dict):
            edit = c.mapping(change, p, {"add", "remove"}, set())
            cues[str(kind)] = {k: cue_list(v, f"{p}.{k}") for k, v in edit.items()}
        else:
            cues[str(kind)] = cue_list(change, p)
    out["cues"] = cues
    return out


FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2999, 12, 31)


def finite(value: Any) -> float | None:
    """A YAML number as a float; None for anything else, and for inf, nan or an integer too
    large for a float (10**400 would raise OverflowError)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _short(value: Any, limit: int = 60) -> str:
    """repr of a value for a message, cut short: a 300-digit number is not worth repeating."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _percent(value: Any) -> Any:
    """`4%` as 0.04, as `tracker update` takes it; anything else as it is, to be checked."""
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            return float(value.strip()[:-1]) / 100
        except ValueError:
            return value
    return value


def _question(c: _Checker, item: Any, path: str, indicator_ids: dict[str, str]) -> Question | None:
    keys = {"id", "title", "opens", "closes", "resolution", "scenarios", "indicators"}
    m = c.mapping(item, path, keys, {"id", "title", "opens", "closes", "resolution", "scenarios"})
    if not m:
        return None
    qid = c.ident(m.get("id"), f"{path}.id")
    title = c.text(m.get("title"), f"{path}.title")
    resolution = c.text(m.get("resolution"), f"{path}.resolution")
    opens = c.day(m.get("opens"), f"{path}.opens")
    closes = c.day(m.get("closes"), f"{path}.closes")
    if opens and closes and closes <= opens:
        c.fail(f"{path}.closes", f"closes {closes} is not after opens {opens}")
    scenarios: list[Scenario] = []
    raw_events: list[tuple[str, Any]] = []
    seen: dict[str, str] = {}
    bad_prior = False
    for i, s in c.items(m.get("scenarios"), f"{path}.scenarios"):
        sp = f"{path}.scenarios[{i}]"
        sm = c.mapping(s, sp, {"id", "label", "prior", "event"}, {"id", "label", "prior"})
        if not sm:
            continue
        sid = c.ident(sm.get("id"), f"{sp}.id")
        c.unique(seen, sid, f"{sp}.id", "scenario")
        prior = c.number(_percent(sm.get("prior")), f"{sp}.prior")
        if prior is not None and not 0 <= prior <= 1:
            percent = f" (did you mean {prior:g}%?)" if 1 < prior <= 100 else ""
            c.fail(f"{sp}.prior", f"prior {prior:g} outside [0, 1]{percent}")
        if prior is None or not 0 <= prior <= 1:
            bad_prior = True  # named already: the sum of the priors would name it again
        scenarios.append(Scenario(sid, c.text(sm.get("label"), f"{sp}.label"), prior or 0.0))
        raw_events.append((f"{sp}.event", sm.get("event")))
    if "scenarios" in m and len(scenarios) < 2:
        c.fail(f"{path}.scenarios",
               f"a question needs at least two scenarios, got {len(scenarios)}")
    total = sum(s.prior for s in scenarios)
    if scenarios and not bad_prior and abs(total - 1) > PRIOR_TOLERANCE:
        c.fail(f"{path}.scenarios", f"priors sum to {total:.6g}, not 1")
    ids = {s.id for s in scenarios}
    indicators: list[Indicator] = []
    for i, ind in c.items(m.get("indicators"), f"{path}.indicators"):
        ip = f"{path}.indicators[{i}]"
        im = c.mapping(ind, ip, {"id", "description", "match", "likelihood", "cooldown"},
                       {"id", "description", "match", "likelihood"})
        if not im:
            continue
        iid = c.ident(im.get("id"), f"{ip}.id")
        c.unique(indicator_ids, iid, f"{ip}.id", "indicator")
        rule = _match(c, im.get("match"), f"{ip}.match")
        likelihood: dict[str, float] = {}
        lm = im.get("likelihood")
        if not isinstance(lm, dict):
            c.fail(f"{ip}.likelihood", "expected a mapping of scenario id to likelihood")
            lm = {}
        for sid, value in lm.items():
            lp = f"{ip}.likelihood.{sid}"
            if sid not in ids:
                hint = valid("scenarios", str(sid), sorted(ids))
                c.fail(lp, f"unknown scenario {sid!r} ({hint})")
                continue
            v = c.number(value, lp)
            if v is not None and not 0 < v <= 1:
                c.fail(lp, f"likelihood {v} outside (0, 1]")
            likelihood[str(sid)] = v if v is not None else 1.0
        for sid in sorted(ids - {str(k) for k in lm}):
            c.fail(f"{ip}.likelihood", f"missing likelihood for scenario {sid!r}")
        cooldown = timedelta(days=14)
        if "cooldown" in im:
            cooldown = c.duration(im["cooldown"], f"{ip}.cooldown") or cooldown
        indicators.append(Indicator(iid, c.text(im.get("description"), f"{ip}.description"),
                                    rule, likelihood, cooldown))
    scenarios = _events(c, scenarios, raw_events, {i.id for i in indicators})
    if opens is None or closes is None:
        return None
    return Question(qid, title, opens, closes, resolution, tuple(scenarios), tuple(indicators))


def _events(c: _Checker, scenarios: list[Scenario], raw_events: list[tuple[str, Any]],
            indicators: set[str]) -> list[Scenario]:
    """Each scenario with its `event:` as revealing indicator ids (docs/model.md, silence):
    `true`, or a list of the question's own indicators; never every scenario."""
    out = []
    for s, (ep, raw) in zip(scenarios, raw_events, strict=True):
        event: tuple[str, ...] | None = None
        if raw is True:
            event = ()
        elif isinstance(raw, list) and raw:
            for j, iid in enumerate(raw):
                if not isinstance(iid, str) or iid not in indicators:
                    c.fail(f"{ep}[{j}]", f"{iid!r} is not an indicator of this question "
                           f"(indicators: {', '.join(sorted(indicators)) or 'none'})")
            event = tuple(str(iid) for iid in raw)
        elif raw is not None and raw is not False:
            c.fail(ep, "expected true, false or a non-empty list of indicator ids")
        out.append(replace(s, event=event))
    if out and all(s.event is not None for s in out):
        c.fail(raw_events[-1][0],
               "every scenario is an event: at least one must hold without an event")
    return out


def read_yaml(text: str, source: str, *, fast: bool = True) -> tuple[Any, _Checker]:
    """Load YAML safely, dates left as text, with a checker that knows the line of every node
    and has noted duplicate keys; ValidationError for malformed YAML or a file over 5 MB.
    The text is composed once (by libyaml unless `fast` is false) and the data built from
    that node tree."""
    if len(text) > MAX_FILE_BYTES:
        raise ValidationError(source, [f"{source}: over {MAX_FILE_BYTES // 2**20} MB: "
                                       "not a scenarios file"])
    try:
        root = _compose(text, fast)
        data = None if root is None else _Loader("").construct_document(root)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ValidationError(source, [f"{where}: malformed YAML: {problem}"]) from None
    lines = _Lines(root)
    c = _Checker(source, lines)
    for path, line in lines.duplicates:
        c.problems.append(f"{source}:{line}: {path}: duplicate key")
    return data, c


def parse_scenarios(text: str, source: str = "scenarios.yaml") -> ScenarioFile:
    """Validate the text of a scenarios file; raise ValidationError listing every problem."""
    data, c = read_yaml(text, source)
    top = c.mapping(data, "", {"version", "settings", "feeds", "questions"},
                    {"version", "questions"})
    if top and top.get("version") != 1:
        c.fail("version", f"unsupported version {top.get('version')!r} (expected 1)")
    settings = _settings(c, top.get("settings"))
    feeds = _feeds(c, top.get("feeds"))
    questions: list[Question] = []
    qseen: dict[str, str] = {}
    indicator_ids: dict[str, str] = {}
    for i, item in c.items(top.get("questions"), "questions"):
        q = _question(c, item, f"questions[{i}]", indicator_ids)
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            c.unique(qseen, item["id"], f"questions[{i}].id", "question")
        if q is not None:
            questions.append(q)
            if settings.floor * len(q.scenarios) >= 1:
                # every scenario at the floor would already be more than certainty
                c.fail(f"questions[{i}].scenarios", f"{len(q.scenarios)} scenarios with "
                       f"settings.scoring.floor {settings.floor:g}: the floor times the "
                       "number of scenarios must stay below 1")
    if c.problems:
        # in line order (stably: the order found within a line)
        raise ValidationError(source, sorted(c.problems, key=problem_line))
    return ScenarioFile(settings, feeds, tuple(questions), where=c.place)


def load_scenarios(path: str | Path) -> ScenarioFile:
    """Read and validate a scenarios file."""
    p = Path(path)
    try:
        if p.stat().st_size > MAX_FILE_BYTES:
            raise ValidationError(str(path), [f"{path}: over {MAX_FILE_BYTES // 2**20} MB: "
                                              "not a scenarios file"])
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"scenarios file {p} not found",
                         hint="pass --scenarios PATH or set TRACKER_SCENARIOS") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read scenarios file {p}: {exc}") from None
    return parse_scenarios(text, str(path))
