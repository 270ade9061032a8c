"""Indicator match rules (DESIGN §3, extended by docs/matching.md): find the indicators an
entry reports, in which sentence, with which terms, and the matches a cue blocked.

Pure functions, no database. A term matches as a whole word or phrase of the normalized text:
it never starts right after or ends right before a word character (letter, digit, underscore),
and a trailing ``*`` lets its last word run on. This is what the regular expression
``(?<!\\w)TERM(?!\\w)`` (``TERM\\w*`` for ``*``) says over the normalized text.

Two stages keep matching fast. The whole entry is looked at first, as one text, for the rules
whose every group has a term somewhere and whose `none` terms are absent; only those rules are
then checked sentence by sentence, with `near` and the cues, on the terms already found.
"""

from __future__ import annotations

import itertools
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import yaml

from .sentences import Sentence, casefold, clean_text, fold, plain, sentences

__all__ = [
    "CUE_KINDS", "Blocked", "Cues", "Found", "Match", "Matcher", "Rule", "normalize",
]  # fmt: skip

_WORD = re.compile(r"\w+")
SCOPES = ("sentence", "headline", "entry")
CUE_KINDS = ("negation", "negation_after", "hypothetical", "simulation", "retrospective",
             "terminator")
# Per indicator, each kind of cue is checked or ignored; negation_after goes with negation.
CUE_SWITCHES = ("negation", "hypothetical", "simulation", "retrospective")
RULE_KEYS = ("all", "any", "none", "near", "scope", *CUE_SWITCHES)
DEFAULT_WINDOW = 5
NEAR_MAX = 100
WINDOW_MAX = 20
# A term's first occurrences in a unit are looked at, no more: what a sentence says is settled
# long before, and a hostile entry repeating a term 400,000 times costs no more than this.
OCCURRENCES_MAX = 200


def normalize(text: str) -> str:
    """Strip HTML tags, decode entities, apply Unicode NFKC and casefold (ё as е, İ as i),
    collapse whitespace."""
    if not text:
        return ""
    return " ".join(casefold(plain(text)).split())


def _as_terms(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Mapping) or not isinstance(value, Iterable):
        raise ValueError(f"{where}: expected a list of terms, got {value!r}")
    terms = tuple(value)
    for term in terms:
        if not isinstance(term, str):
            raise ValueError(f"{where}: a term must be text, got {term!r} (quote it)")
    return terms


def _as_list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, Mapping | str) or not isinstance(value, Iterable):
        raise ValueError(f"{where}: expected a list of term groups, got {value!r}")
    return list(value)


# The checks of a rule's values, shared by scenarios.yaml's validation (every problem, with its
# line) and Rule.from_mapping (the first problem): each says what is wrong, or None.
def near_problem(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= NEAR_MAX:
        return f"near {value!r}: expected a whole number of words, 0 to {NEAR_MAX}"
    return None


def scope_problem(value: Any) -> str | None:
    return None if value in SCOPES else f"scope {value!r}: expected one of {', '.join(SCOPES)}"


def switch_problem(value: Any) -> str | None:
    return None if value in ("check", "ignore") else f"expected check or ignore, got {value!r}"


@dataclass(frozen=True)
class Rule:
    """An indicator's match rule: every `all` group and one of `any` (if given) in one
    sentence (scope "headline": one sentence and the title; "entry": anywhere), within `near`
    words of each other if set,
    none of `none` in the entry, and not in reach of a negation, hypothetical or simulation
    cue unless that kind is ignored."""

    all: tuple[tuple[str, ...], ...] = ()
    any: tuple[str, ...] = ()
    none: tuple[str, ...] = ()
    near: int | None = None
    scope: str = "sentence"
    negation: bool = True
    hypothetical: bool = True
    simulation: bool = True
    retrospective: bool = True

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any]) -> Rule:
        """Build a rule from ``{"all": [[..], [..]], "any": [..], "none": [..], "near": N,
        "scope": "sentence"|"entry", "negation": "check"|"ignore", ...}``.

        A bare term inside `all` is a group of its own. Raises ValueError on unknown keys,
        terms that are not text, or bad values.
        """
        unknown = sorted(str(key) for key in m if key not in RULE_KEYS)
        if unknown:
            raise ValueError(f"unknown match key(s): {', '.join(unknown)}")
        raw_groups = m.get("all")
        if isinstance(raw_groups, str):
            raw_groups = [raw_groups]
        groups = tuple(
            _as_terms(group, f"all[{i}]") for i, group in enumerate(_as_list(raw_groups, "all"))
        )
        near, scope = m.get("near"), m.get("scope", "sentence")
        problem = (near_problem(near) if near is not None else None) or scope_problem(scope)
        if problem:
            raise ValueError(problem)
        switches = {}
        for key in CUE_SWITCHES:
            value = m.get(key, "check")
            if problem := switch_problem(value):
                raise ValueError(f"{key}: {problem}")
            switches[key] = value == "check"
        return cls(all=groups, any=_as_terms(m.get("any"), "any"),
                   none=_as_terms(m.get("none"), "none"), near=near, scope=scope, **switches)


@cache
def shipped_cues() -> dict[str, tuple[str, ...]]:
    """The reviewed cue lists shipped with the package (tracker/cues.yaml), by kind."""
    text = resources.files("tracker").joinpath("cues.yaml").read_text(encoding="utf-8")
    # libyaml where PyYAML has it: 10x faster, and every parse worker reads this file
    data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
    return {kind: tuple(t for lang in data[kind].values() for t in lang) for kind in CUE_KINDS}


@dataclass(frozen=True)
class Cues:
    """The cue lists in force and how many words a negation or hypothetical cue reaches."""

    lists: Mapping[str, tuple[str, ...]] = field(default_factory=shipped_cues)
    window: int = DEFAULT_WINDOW

    @classmethod
    def from_settings(cls, matching: Mapping[str, Any] | None) -> Cues:
        """The shipped lists changed by `settings.matching` of scenarios.yaml (validated):
        a list replaces a kind's cues, ``{add: [..], remove: [..]}`` edits them."""
        matching = matching or {}
        lists = dict(shipped_cues())
        for kind, change in (matching.get("cues") or {}).items():
            if isinstance(change, Mapping):
                removed = {_term_key(t) for t in change.get("remove") or ()}
                kept = [t for t in lists[kind] if _term_key(t) not in removed]
                lists[kind] = tuple(kept) + tuple(change.get("add") or ())
            else:
                lists[kind] = tuple(change)
        return cls(lists, int(matching.get("window", DEFAULT_WINDOW)))


def _term_key(term: str) -> tuple[str, bool] | None:
    """The normalized body of a term and whether it ends in `*`; None if it can match nothing."""
    body = " ".join(fold(term).split())
    star = body.endswith("*")
    if star:
        body = body[:-1].rstrip()
    return (body, star) if body else None


def _pattern(key: tuple[str, bool]) -> str:
    body, star = key
    return r"(?<!\w)" + re.escape(body) + (r"\w*" if star else "") + r"(?!\w)"


@dataclass(frozen=True)
class Match:
    """An indicator sighted in an entry: the terms found (as written in the rule), the
    sentence that reports it and where its terms are in it (character spans)."""

    indicator: str
    terms: tuple[str, ...]
    sentence: str
    marks: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Blocked:
    """A match a cue stopped: the sentence, the cue as it reads there and its kind."""

    indicator: str
    terms: tuple[str, ...]
    sentence: str
    marks: tuple[tuple[int, int], ...]
    cue: str
    kind: str


@dataclass(frozen=True)
class Found:
    """What the matcher found in one entry."""

    matches: tuple[Match, ...] = ()
    blocked: tuple[Blocked, ...] = ()


@dataclass(frozen=True)
class _CompiledRule:
    indicator: str
    rule: Rule
    groups: tuple[frozenset[int], ...]  # the `all` groups, then `any` as one more group
    none: frozenset[int]
    terms: tuple[tuple[str, int], ...]  # (term as written, term id) in rule order, no repeats
    # each group's term ids in the order the rule lists them: occurrences are gathered in this
    # order, so "the first occurrence of a group" (a blocked match's cue) is the rule's
    orders: tuple[tuple[int, ...], ...]

    def holds(self, found: set[int]) -> bool:
        # A plain loop: called for every candidate rule of every entry, where a generator's
        # set-up costs more than the test.
        if not self.none.isdisjoint(found):
            return False
        for group in self.groups:  # noqa: SIM110 - see above
            if group.isdisjoint(found):
                return False
        return True


@dataclass(frozen=True)
class _Occurrence:
    term: int
    first: int  # word index of its first word in its sentence
    last: int
    span: tuple[int, int]  # characters in the sentence's text
    sentence: int
    at: int  # word index of its first word in what `near` measures: the sentence or entry


@dataclass(frozen=True)
class _Cue:
    kind: str
    first: int
    last: int
    text: str


class _Text:
    """One entry's sentences, with the words, term occurrences and cues of each, computed
    once and only when a rule asks."""

    def __init__(self, title: str, summary: str, matcher: Matcher) -> None:
        self.title, self.summary = title, summary
        self.matcher = matcher
        self._sentences: list[Sentence] | None = None
        self._wholes: dict[int, Sentence] = {}
        self._words: dict[int, list[re.Match[str]]] = {}
        self._starts: dict[int, list[int]] = {}
        self._occurrences: dict[tuple[int, int], list[_Occurrence]] = {}
        self._cues: dict[int, list[_Cue]] = {}

    @property
    def sentences(self) -> list[Sentence]:
        if self._sentences is None:
            self._sentences = sentences(self.title, self.summary)
        return self._sentences

    def unit(self, i: int) -> Sentence:
        """Sentence i; for scope entry, -1 is the whole title and -2 the whole summary."""
        if i >= 0:
            return self.sentences[i]
        if i not in self._wholes:
            whole = " ".join(clean_text(self.title if i == -1 else self.summary).split())
            self._wholes[i] = Sentence.of(whole)
        return self._wholes[i]

    def words(self, i: int) -> list[re.Match[str]]:
        if i not in self._words:
            self._words[i] = list(_WORD.finditer(self.unit(i).folded))
            self._starts[i] = [m.start() for m in self._words[i]]
        return self._words[i]

    def word_starts(self, i: int) -> list[int]:
        self.words(i)
        return self._starts[i]

    def _word_range(self, i: int, start: int, end: int) -> tuple[int, int]:
        starts = self.word_starts(i)
        first = bisect_left(starts, start)
        return first, max(first, bisect_left(starts, end) - 1)

    def occurrences(self, i: int, term: int) -> list[_Occurrence]:
        key = (i, term)
        if key not in self._occurrences:
            s = self.unit(i)
            out = []
            for m in itertools.islice(self.matcher.pattern(term).finditer(s.folded),
                                      OCCURRENCES_MAX):
                first, last = self._word_range(i, m.start(), m.end())
                out.append(_Occurrence(term, first, last, s.to_text(m.start(), m.end()), i, first))
            self._occurrences[key] = out
        return self._occurrences[key]

    def cues(self, i: int) -> list[_Cue]:
        if i not in self._cues:
            s, words = self.unit(i), self.words(i)
            out = []
            for kind, first, last in self.matcher.cue_index.find([w.group() for w in words]):
                a, b = s.to_text(words[first].start(), words[last].end())
                out.append(_Cue(kind, first, last, s.text[a:b]))
            self._cues[i] = out
        return self._cues[i]

    def live_cues(self, i: int, own: Sequence[tuple[int, int]]) -> list[_Cue]:
        """Sentence i's cues without those on words of `own` (the word ranges of a rule's
        own term occurrences there): such a cue is the event's own vocabulary
        ("settlement" for a mediation), not a cue for that rule."""
        return [c for c in self.cues(i) if not any(a <= c.last and c.first <= b for a, b in own)]

    def blocker(self, o: _Occurrence, rule: Rule, window: int,
                cues: Sequence[_Cue]) -> _Cue | None:
        """The cue that keeps this occurrence from counting, if any. `cues` are the live
        cues of o's sentence for this rule (`live_cues`), looked at first; then a look back
        or commentary in the headline or the sentence."""
        found = self._sentence_blocker(o, rule, window, cues)
        if found is None and rule.retrospective:
            # A look back in the headline frames the whole entry ("A year after the war").
            title = -1 if o.sentence < 0 else 0
            for c in self.cues(title) + (self.cues(o.sentence) if o.sentence != title else []):
                if c.kind == "retrospective":
                    return c
        return found

    @staticmethod
    def _sentence_blocker(o: _Occurrence, rule: Rule, window: int,
                          cues: Sequence[_Cue]) -> _Cue | None:
        if not cues:
            return None
        stops = [c for c in cues if c.kind == "terminator"]

        def clear(a: int, b: int) -> bool:  # no terminator strictly between words a and b
            return not any(a < t.first and t.last < b for t in stops)

        for c in cues:
            if c.kind == "simulation" and rule.simulation:
                return c
            before = c.kind in ("negation", "hypothetical") and getattr(rule, c.kind)
            if before and c.last < o.first and o.first - c.last <= window and clear(c.last,
                                                                                    o.first):
                return c
            after = c.kind == "negation_after" and rule.negation
            if after and c.first > o.last and c.first - o.last <= window and clear(o.last,
                                                                                   c.first):
                return c
        return None


class _CueIndex:
    """Cues found word by word: a cue is its words (what lies between them is not compared),
    its last word a prefix when it ends in `*`. One pass over a sentence's words, with a
    dictionary lookup per word, instead of an expression of a hundred alternatives."""

    def __init__(self, lists: Mapping[str, Iterable[str]]) -> None:
        self._exact: dict[str, list[tuple[str, tuple[str, ...], bool]]] = {}
        self._prefix: dict[str, list[tuple[str, str]]] = {}  # first letter -> (prefix, kind)
        for kind, cues in lists.items():
            for cue in cues:
                key = _term_key(cue)
                words = tuple(_WORD.findall(key[0])) if key else ()
                if not words:
                    continue
                star = key is not None and key[1]
                if len(words) == 1 and star:
                    self._prefix.setdefault(words[0][0], []).append((words[0], kind))
                else:
                    self._exact.setdefault(words[0], []).append((kind, words, star))

    def find(self, words: Sequence[str]) -> list[tuple[str, int, int]]:
        """(kind, first word, last word) of every cue in a sentence's words, in order."""
        out = []
        for i, word in enumerate(words):
            for kind, cue, star in self._exact.get(word, ()):
                n = len(cue)
                if i + n > len(words) or list(cue[1:-1]) != list(words[i + 1:i + n - 1]):
                    continue
                last = words[i + n - 1]
                if n == 1 or last == cue[-1] or (star and last.startswith(cue[-1])):
                    out.append((kind, i, i + n - 1))
            for prefix, kind in self._prefix.get(word[0], ()):
                if word.startswith(prefix):
                    out.append((kind, i, i))
        return out


def _within(groups: Sequence[Sequence[_Occurrence]], near: int | None) -> bool:
    """True when one occurrence of every group can be picked with all first words at most
    `near` words apart (any pick when near is None)."""
    if any(not g for g in groups):
        return False
    if near is None:
        return True
    points = sorted((o.at, k) for k, g in enumerate(groups) for o in g)
    counts = [0] * len(groups)
    covered, lo = 0, 0
    for pos, k in points:
        counts[k] += 1
        covered += counts[k] == 1
        while covered == len(groups):
            if pos - points[lo][0] <= near:
                return True
            j = points[lo][1]
            counts[j] -= 1
            covered -= counts[j] == 0
            lo += 1
    return False


class Matcher:
    """Rules compiled once; `find` reports what an entry matches and what cues blocked."""

    def __init__(self, rules: Mapping[str, Rule], cues: Cues | None = None) -> None:
        self.cues = cues or Cues()
        self._ids: dict[tuple[str, bool], int] = {}
        self._rules: list[_CompiledRule] = []
        for indicator, rule in rules.items():
            compiled = self._compile_rule(indicator, rule)
            if compiled is not None:
                self._rules.append(compiled)
        self._patterns: dict[int, re.Pattern[str]] = {}
        self._keys = {term_id: key for key, term_id in self._ids.items()}
        self._bodies = {term_id: body for (body, _), term_id in self._ids.items()}
        self.cue_index = _CueIndex(self.cues.lists)

        # A rule is looked at only when a term of its smallest group was found: it cannot hold
        # otherwise, and this keeps common terms from waking up many rules.
        self._rules_of: dict[int, list[int]] = {}
        used: set[int] = set()  # terms of rules that can match; the others need no search
        for index, compiled in enumerate(self._rules):
            for term_id in min(compiled.groups, key=len):
                self._rules_of.setdefault(term_id, []).append(index)
            used.update(*compiled.groups, compiled.none)

        self._words: dict[str, int] = {}  # a single word -> term id
        prefixes: dict[str, int] = {}  # a single-word prefix (`word*`) -> term id
        self._phrases: dict[str, list[tuple[int, re.Pattern[str]]]] = {}
        self._unanchored: list[tuple[int, re.Pattern[str]]] = []
        for (body, star), term_id in self._ids.items():
            if term_id not in used:
                continue
            if _WORD.fullmatch(body):
                (prefixes if star else self._words)[body] = term_id
                continue
            # Phrases and punctuation: verified by their expression, but only when a word the
            # match must contain whole is among the entry's words.
            pattern = self.pattern(term_id)
            words = _WORD.findall(body)
            if star and _WORD.fullmatch(body[-1]):
                words = words[:-1]  # the last word is only a prefix
            if words:
                self._phrases.setdefault(max(words, key=len), []).append((term_id, pattern))
            else:
                self._unanchored.append((term_id, pattern))
        self._word_set = frozenset(self._words)
        self._phrase_set = frozenset(self._phrases)

        # Prefixes sorted, each with its parent: the longest other prefix it starts with.
        self._prefixes = sorted(prefixes)
        # Most words start with no prefix at all: their first letters tell them apart cheaply.
        self._head = min(map(len, self._prefixes), default=0)
        self._heads = frozenset(p[: self._head] for p in self._prefixes)
        self._prefix_ids = [prefixes[p] for p in self._prefixes]
        self._prefix_parent: list[int] = []
        stack: list[int] = []
        for i, prefix in enumerate(self._prefixes):
            while stack and not prefix.startswith(self._prefixes[stack[-1]]):
                stack.pop()
            self._prefix_parent.append(stack[-1] if stack else -1)
            stack.append(i)

    def pattern(self, term_id: int) -> re.Pattern[str]:
        """The regular expression of a term, compiled on first use."""
        pattern = self._patterns.get(term_id)
        if pattern is None:
            pattern = self._patterns[term_id] = re.compile(_pattern(self._keys[term_id]))
        return pattern

    def _term_id(self, term: str) -> int | None:
        key = _term_key(term)
        if key is None:
            return None
        return self._ids.setdefault(key, len(self._ids))

    def _compile_rule(self, indicator: str, rule: Rule) -> _CompiledRule | None:
        orders: list[tuple[int, ...]] = []
        terms: dict[int, str] = {}  # a term's id -> how the rule first writes it
        for group in (*rule.all, *((rule.any,) if rule.any else ())):
            ids: dict[int, None] = {}  # in the order of the group's terms
            for term in group:
                term_id = self._term_id(term)
                if term_id is not None:
                    ids[term_id] = None
                    terms.setdefault(term_id, term)
            if not ids:
                return None  # a group no text can satisfy
            orders.append(tuple(ids))
        if not orders:
            return None  # neither `all` nor `any`: matches nothing
        none = frozenset(i for i in map(self._term_id, rule.none) if i is not None)
        return _CompiledRule(indicator, rule, tuple(frozenset(o) for o in orders), none,
                             tuple((t, i) for i, t in terms.items()), tuple(orders))

    def _found_terms(self, text: str) -> set[int]:
        words = set(_WORD.findall(text))
        found = {self._words[w] for w in self._word_set.intersection(words)}
        if self._prefixes:
            prefixes, parent, ids = self._prefixes, self._prefix_parent, self._prefix_ids
            head, heads = self._head, self._heads
            for word in [w for w in words if w[:head] in heads]:
                i = bisect_right(prefixes, word) - 1
                # Every listed prefix of `word` is an ancestor of the greatest prefix <= word.
                while i >= 0 and not word.startswith(prefixes[i]):
                    i = parent[i]
                while i >= 0:
                    found.add(ids[i])
                    i = parent[i]
        for word in self._phrase_set.intersection(words):
            for term_id, pattern in self._phrases[word]:
                if term_id not in found and pattern.search(text):
                    found.add(term_id)
        for term_id, pattern in self._unanchored:
            if term_id not in found and pattern.search(text):
                found.add(term_id)
        return found

    def find(self, title: str, summary: str) -> Found:
        """The indicators an entry reports (in rule order) and the matches cues blocked."""
        # Normalized text holds no line break, so "\n" is a separator no term can contain.
        found = self._found_terms(normalize(title or "") + "\n" + normalize(summary or ""))
        if not found:
            return Found()
        candidates = sorted({r for t in found for r in self._rules_of.get(t, ())})
        text: _Text | None = None
        matches: list[Match] = []
        blocked: list[Blocked] = []
        for index in candidates:
            rule = self._rules[index]
            if not rule.holds(found):
                continue
            text = text or _Text(title or "", summary or "", self)
            result = self._check(rule, found, text)
            if isinstance(result, Match):
                matches.append(result)
            elif result is not None:
                blocked.append(result)
        return Found(tuple(matches), tuple(blocked))

    def match(self, title: str, summary: str) -> dict[str, tuple[str, ...]]:
        """Indicator id -> the terms (as written) that matched, for every indicator reported."""
        return {m.indicator: m.terms for m in self.find(title, summary).matches}

    def _check(self, rule: _CompiledRule, found: set[int], text: _Text) -> Match | Blocked | None:
        """The first sentence that reports the rule's event; else the first a cue blocked."""
        window = self.cues.window
        # At scope entry the title and the summary are each one text, as in DESIGN §3; at
        # scope headline each sentence is read with the title, the topic of every sentence.
        spans: list[Sequence[int]]
        if rule.rule.scope == "entry":
            spans = [(-1, -2)]
        elif rule.rule.scope == "headline":
            spans = [(0,)] + [(0, i) for i in range(1, len(text.sentences))]
        else:
            spans = [(i,) for i in range(len(text.sentences))]
        first_blocked: Blocked | None = None
        present = [[i for i in order if i in found] for order in rule.orders]
        for span in spans:
            # A term can only occur where its text does: a substring test per group skips
            # most sentences before any expression runs.
            texts = [text.unit(i).folded for i in span]
            if not all(any(self._bodies[t] in x for t in ids for x in texts) for ids in present):
                continue
            offset = 0
            groups: list[list[_Occurrence]] = [[] for _ in rule.groups]
            for i in span:
                for group, ids in zip(groups, present, strict=True):
                    for term_id in ids:
                        group.extend(_shift(o, offset) for o in text.occurrences(i, term_id))
                offset += len(text.word_starts(i)) + 1
            if not _within(groups, rule.rule.near):
                continue
            own: dict[int, list[tuple[int, int]]] = {}
            for o in (o for g in groups for o in g):
                own.setdefault(o.sentence, []).append((o.first, o.last))
            live = {i: text.live_cues(i, ranges) for i, ranges in own.items()}
            blockers = {id(o): text.blocker(o, rule.rule, window, live[o.sentence])
                        for g in groups for o in g}
            free = [[o for o in g if blockers[id(o)] is None] for g in groups]
            if _within(free, rule.rule.near):
                return Match(rule.indicator, *self._shown(rule, groups, text))
            if first_blocked is None:
                # The first group left without a free occurrence; else (only `near` failed
                # without the blocked ones) the first blocked occurrence.
                stuck = [g for g, f in zip(groups, free, strict=True) if not f]
                pool = stuck[0] if stuck else [o for g in groups for o in g]
                cue = next(c for o in pool if (c := blockers[id(o)]) is not None)
                first_blocked = Blocked(rule.indicator, *self._shown(rule, groups, text),
                                        cue.text, cue.kind)
        return first_blocked

    @staticmethod
    def _shown(rule: _CompiledRule, groups: list[list[_Occurrence]],
               text: _Text) -> tuple[tuple[str, ...], str, tuple[tuple[int, int], ...]]:
        """The terms found (rule order), the sentence(s) they are in and their spans there."""
        occurrences = sorted({(o.sentence, o.span, o.term) for g in groups for o in g})
        present = {term for _, _, term in occurrences}
        terms = tuple(t for t, i in rule.terms if i in present)
        shown, marks, base = [], [], 0
        for i in sorted({s for s, _, _ in occurrences}, key=abs):
            sentence = text.unit(i).text
            for _, (a, b), _ in (o for o in occurrences if o[0] == i):
                marks.append((base + a, base + b))
            shown.append(sentence)
            base += len(sentence) + len(" … ")
        return terms, " … ".join(shown), tuple(sorted(set(marks)))


def _shift(o: _Occurrence, offset: int) -> _Occurrence:
    if not offset:
        return o
    return _Occurrence(o.term, o.first, o.last, o.span, o.sentence, o.at + offset)
