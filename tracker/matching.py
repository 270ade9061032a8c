"""Indicator match rules: normalize an entry's text and find the indicators it matches.

Pure functions, no database. A term matches as a whole word or phrase of the normalized text:
it never starts right after or ends right before a word character (letter, digit, underscore),
and a trailing ``*`` lets its last word run on. This is what the regular expression
``(?<!\\w)TERM(?!\\w)`` (``TERM\\w*`` for ``*``) says over the normalized title or summary;
:class:`Matcher` gives the same answers without running every term's expression on every entry.
"""

from __future__ import annotations

import html
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Matcher", "Rule", "normalize"]

_WORD = re.compile(r"\w+")

# One pass over the markup: comments, script/style blocks (with their content), tags and
# declarations. `[^<>]*` stops at the next "<", which keeps every pattern linear on bad HTML.
_MARKUP = re.compile(
    r"<!--.*?(?:-->|\Z)"
    r"|<(script|style)\b[^>]*>.*?(?:</\1\s*>|\Z)"
    r"|</?([A-Za-z][\w:.-]*)[^<>]*>"
    r"|<[!?][^<>]*>",
    re.DOTALL | re.IGNORECASE,
)

# Tags that render inside a line of text: "Uzbek<b>istan</b>" reads as one word. Every other
# tag (p, br, div, li, td, img, unknown ones) separates words, as a browser would.
_INLINE_TAGS = frozenset(
    {
        "a", "abbr", "b", "bdi", "bdo", "big", "cite", "code", "data", "del", "dfn", "em",
        "font", "i", "ins", "kbd", "mark", "q", "s", "samp", "small", "span", "strike",
        "strong", "sub", "sup", "time", "tt", "u", "var", "wbr",
    }
)  # fmt: skip


def _markup_replacement(m: re.Match[str]) -> str:
    if m.group(1):
        return " "
    name = m.group(2)
    if name is None:
        return ""
    return "" if name.lower() in _INLINE_TAGS else " "


def normalize(text: str) -> str:
    """Strip HTML tags, decode entities, apply Unicode NFKC and casefold, collapse whitespace."""
    if not text:
        return ""
    if "<" in text:
        text = _MARKUP.sub(_markup_replacement, text)
    if "&" in text:
        text = html.unescape(text)
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


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


@dataclass(frozen=True)
class Rule:
    """An indicator's match rule: every `all` group, one of `any` (if given), none of `none`."""

    all: tuple[tuple[str, ...], ...] = ()
    any: tuple[str, ...] = ()
    none: tuple[str, ...] = ()

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any]) -> Rule:
        """Build a rule from ``{"all": [[..], [..]], "any": [..], "none": [..]}``.

        A bare term inside `all` is a group of its own. Raises ValueError on unknown keys or
        terms that are not text.
        """
        unknown = sorted(str(key) for key in m if key not in ("all", "any", "none"))
        if unknown:
            raise ValueError(f"unknown match key(s): {', '.join(unknown)}")
        raw_groups = m.get("all")
        if isinstance(raw_groups, str):
            raw_groups = [raw_groups]
        groups = tuple(
            _as_terms(group, f"all[{i}]") for i, group in enumerate(_as_list(raw_groups, "all"))
        )
        any_ = _as_terms(m.get("any"), "any")
        return cls(all=groups, any=any_, none=_as_terms(m.get("none"), "none"))


def _as_list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, Mapping | str) or not isinstance(value, Iterable):
        raise ValueError(f"{where}: expected a list of term groups, got {value!r}")
    return list(value)


def _term_key(term: str) -> tuple[str, bool] | None:
    """The normalized body of a term and whether it ends in `*`; None if it can match nothing."""
    body = " ".join(unicodedata.normalize("NFKC", term).casefold().split())
    star = body.endswith("*")
    if star:
        body = body[:-1].rstrip()
    return (body, star) if body else None


@dataclass(frozen=True)
class _CompiledRule:
    indicator: str
    groups: tuple[frozenset[int], ...]  # the `all` groups, then `any` as one more group
    none: frozenset[int]
    terms: tuple[tuple[str, int], ...]  # (term as written, term id) in rule order, no repeats

    def holds(self, found: set[int]) -> bool:
        return self.none.isdisjoint(found) and all(not g.isdisjoint(found) for g in self.groups)


class Matcher:
    """Rules compiled once; `match` finds the indicators an entry matches."""

    def __init__(self, rules: Mapping[str, Rule]) -> None:
        self._ids: dict[tuple[str, bool], int] = {}
        self._rules: list[_CompiledRule] = []
        for indicator, rule in rules.items():
            compiled = self._compile_rule(indicator, rule)
            if compiled is not None:
                self._rules.append(compiled)

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
            pattern = re.compile(
                r"(?<!\w)" + re.escape(body) + (r"\w*" if star else "") + r"(?!\w)"
            )
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

    def _term_id(self, term: str) -> int | None:
        key = _term_key(term)
        if key is None:
            return None
        return self._ids.setdefault(key, len(self._ids))

    def _compile_rule(self, indicator: str, rule: Rule) -> _CompiledRule | None:
        groups: list[frozenset[int]] = []
        terms: dict[str, int] = {}
        for group in (*rule.all, *((rule.any,) if rule.any else ())):
            ids: set[int] = set()
            for term in group:
                term_id = self._term_id(term)
                if term_id is not None:
                    ids.add(term_id)
                    terms.setdefault(term, term_id)
            if not ids:
                return None  # a group no text can satisfy
            groups.append(frozenset(ids))
        if not groups:
            return None  # neither `all` nor `any`: matches nothing
        none = frozenset(i for i in map(self._term_id, rule.none) if i is not None)
        return _CompiledRule(indicator, tuple(groups), none, tuple(terms.items()))

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

    def match(self, title: str, summary: str) -> dict[str, tuple[str, ...]]:
        """Indicator id -> the terms (as written) that matched, for every indicator that matches.

        Title and summary are searched as one text with a break between them that no phrase
        crosses; indicators come in the order of the rules, terms in the order of their rule.
        """
        # Normalized text holds no line break, so "\n" is a separator no term can contain.
        text = normalize(title or "") + "\n" + normalize(summary or "")
        found = self._found_terms(text)
        if not found:
            return {}
        candidates = sorted({r for t in found for r in self._rules_of.get(t, ())})
        result: dict[str, tuple[str, ...]] = {}
        for index in candidates:
            rule = self._rules[index]
            if rule.holds(found):
                result[rule.indicator] = tuple(t for t, i in rule.terms if i in found)
        return result
