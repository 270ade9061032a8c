"""Matching at entry scope with cues off (DESIGN §3's rule as it stands): a table of texts x
rules, and Matcher against a plain regular-expression reference. Sentence scope, near and the
cues are in tests/test_sentences.py."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tracker.matching import Matcher, Rule, normalize

# Entry scope, every cue ignored: the rule of DESIGN §3 before docs/matching.md.
ENTRY = {"scope": "entry", "negation": "ignore", "hypothetical": "ignore", "simulation": "ignore"}


def entry_rule(m: Mapping[str, Any]) -> Rule:
    """A rule read from a mapping, at entry scope with cues off."""
    return Rule.from_mapping({**m, **ENTRY})


UZ_TALKS = {
    "all": [
        ["Uzbekistan", "Tashkent", "Mirziyoyev", "Узбекистан*"],
        ["CSTO", "Collective Security Treaty", "ОДКБ"],
    ],
    "any": ["rejoin*", "return*", "membership", "вступ*"],
    "none": ["football"],
}

# (rule, title, summary, terms expected to match, or None when the rule must not match)
CASES: list[tuple[Mapping[str, Any], str, str, tuple[str, ...] | None]] = [
    # whole words, near misses
    ({"any": ["CSTO"]}, "CSTO summit", "", ("CSTO",)),
    ({"any": ["CSTO"]}, "CSTOs meet", "", None),
    ({"any": ["CSTO"]}, "pre-CSTO era", "", ("CSTO",)),
    ({"any": ["CSTO"]}, "CSTO_2021", "", None),
    ({"any": ["CSTO"]}, "CSTO2 and NATO", "", None),
    ({"any": ["Uzbek"]}, "Uzbekistan signs", "", None),
    ({"any": ["Uzbek"]}, "", "Uzbek officials", ("Uzbek",)),
    ({"any": ["Kyrgyz"]}, "Kyrgyz-Tajik border", "", ("Kyrgyz",)),
    # prefixes
    ({"any": ["rejoin*"]}, "Uzbekistan to rejoin", "", ("rejoin*",)),
    ({"any": ["rejoin*"]}, "it rejoins", "", ("rejoin*",)),
    ({"any": ["rejoin*"]}, "REJOINING soon", "", ("rejoin*",)),
    ({"any": ["rejoin*"]}, "prerejoining", "", None),
    ({"any": ["rejoin*"]}, "rejoi", "", None),
    ({"any": ["rejoin"]}, "it rejoins", "", None),
    ({"any": ["re*", "rejoin*"]}, "rejoining", "", ("re*", "rejoin*")),
    ({"any": ["Collective Secur*"]}, "the collective security", "", ("Collective Secur*",)),
    ({"any": ["Collective Secur*"]}, "the collective insecurity", "", None),
    # Cyrillic, inflections with and without `*`
    ({"any": ["Узбекистан*"]}, "Визит в Узбекистана", "", ("Узбекистан*",)),
    ({"any": ["Узбекистан*"]}, "", "С УЗБЕКИСТАНОМ", ("Узбекистан*",)),
    ({"any": ["Узбекистан"]}, "Визит в Узбекистана", "", None),
    ({"any": ["Узбекистан"]}, "Узбекистан и ОДКБ", "", ("Узбекистан",)),
    ({"any": ["ОДКБ"]}, "саммит одкб", "", ("ОДКБ",)),
    ({"any": ["одкб"]}, "Саммит ОДКБ.", "", ("одкб",)),
    ({"any": ["вступ*"]}, "вступление в ОДКБ", "", ("вступ*",)),
    ({"any": ["вступ*"]}, "невступление", "", None),
    # phrases: any whitespace, never from title into summary
    (
        {"any": ["Collective Security Treaty"]},
        "Collective\nSecurity  Treaty",
        "",
        ("Collective Security Treaty",),
    ),
    (
        {"any": ["Collective Security Treaty"]},
        "",
        "collective\tsecurity\r\n treaty",
        ("Collective Security Treaty",),
    ),
    ({"any": ["Collective Security Treaty"]}, "Collective Security", "Treaty Organization", None),
    ({"any": ["Collective Security Treaty"]}, "Collective Security Treatyite", "", None),
    ({"any": ["Collective Security Treaty"]}, "Collective-Security Treaty", "", None),
    # HTML: tags split or join words as a browser shows them, tags' insides are not text
    ({"any": ["CSTO"]}, "<b>CSTO</b> summit", "", ("CSTO",)),
    ({"any": ["Uzbek"]}, "", "Uzbek<b>istan</b>", None),
    ({"any": ["Uzbekistan"]}, "", "Uzbek<span class='x'>istan</span>", ("Uzbekistan",)),
    ({"any": ["CSTO summit"]}, "", "CSTO<br>summit", ("CSTO summit",)),
    ({"any": ["CSTO summit"]}, "", "<p>CSTO</p><p>summit</p>", ("CSTO summit",)),
    ({"any": ["CSTO"]}, "", '<a href="https://csto.example/CSTO">link</a>', None),
    ({"any": ["CSTO"]}, "", '<img alt="CSTO" src="x.png">', None),
    ({"any": ["CSTO"]}, "", "<!-- CSTO -->news", None),
    ({"any": ["CSTO"]}, "", "<script>var CSTO = 1;</script>news", None),
    ({"any": ["CSTO"]}, "", "<style>.CSTO {}</style>news", None),
    ({"any": ["CSTO"]}, "", "broken <b CSTO", ("CSTO",)),
    ({"any": ["CSTO"]}, "", "1 < 2 and CSTO > NATO", ("CSTO",)),
    # entities
    ({"any": ["AT&T"]}, "AT&amp;T deal", "", ("AT&T",)),
    ({"any": ["CSTO"]}, "&lt;CSTO&gt;", "", ("CSTO",)),
    ({"any": ["Uzbekistan CSTO"]}, "Uzbekistan&nbsp;CSTO", "", ("Uzbekistan CSTO",)),
    ({"any": ["ОДКБ"]}, "&#1054;&#1044;&#x41a;&#1041;", "", ("ОДКБ",)),
    ({"any": ["CSTO"]}, "&lt;b&gt;CSTO&lt;/b&gt;s", "", ("CSTO",)),
    # casefolding and NFKC; ё is е, and the capital dotted İ is i (no Turkish dotless ı)
    ({"any": ["развёрнуты"]}, "Силы развернуты", "", ("развёрнуты",)),
    ({"any": ["развернут*"]}, "СИЛЫ РАЗВЁРНУТЫ", "", ("развернут*",)),
    ({"any": ["Ilham"]}, "İlham Əliyev", "", ("Ilham",)),
    ({"any": ["İLHAM"]}, "Ilham Aliyev", "", ("İLHAM",)),
    ({"any": ["ılham"]}, "Ilham", "", None),
    ({"any": ["манёвр*", "маневр*", "Маневр*"]}, "Маневры", "", ("манёвр*",)),
    ({"any": ["STRASSE"]}, "Die Straße", "", ("STRASSE",)),
    ({"any": ["straße"]}, "DIE STRASSE", "", ("straße",)),
    ({"any": ["CSTO"]}, "ＣＳＴＯ summit", "", ("CSTO",)),
    ({"any": ["ＣＳＴＯ"]}, "csto summit", "", ("ＣＳＴＯ",)),
    ({"any": ["Finland"]}, "ﬁnland joins", "", ("Finland",)),
    ({"any": ["rejoin＊"]}, "rejoining", "", ("rejoin＊",)),
    ({"any": ["Ελλάδα"]}, "ΕΛΛΆΔΑ", "", ("Ελλάδα",)),
    # `none` excludes, `any` required, several `all` groups
    ({"any": ["CSTO"], "none": ["football"]}, "CSTO", "football match", None),
    ({"any": ["CSTO"], "none": ["football"]}, "CSTO", "footballs", ("CSTO",)),
    ({"all": [["CSTO"]], "any": ["rejoin*"]}, "CSTO meets", "", None),
    ({"all": [["CSTO"]], "any": ["rejoin*"]}, "CSTO", "Tashkent rejoins", ("CSTO", "rejoin*")),
    (
        {"all": [["Uzbekistan", "Tashkent"], ["CSTO", "ОДКБ"]]},
        "Tashkent and CSTO",
        "",
        ("Tashkent", "CSTO"),
    ),
    ({"all": [["Uzbekistan", "Tashkent"], ["CSTO", "ОДКБ"]]}, "Tashkent only", "", None),
    (
        {"all": [["CSTO", "ОДКБ"]], "any": ["CSTO", "summit"]},
        "ОДКБ CSTO summit",
        "",
        ("CSTO", "ОДКБ", "summit"),
    ),
    (
        UZ_TALKS,
        "Mirziyoyev on the CSTO",
        "Tashkent may return",
        ("Tashkent", "Mirziyoyev", "CSTO", "return*"),
    ),
    (UZ_TALKS, "Узбекистан и ОДКБ", "О вступлении", ("Узбекистан*", "ОДКБ", "вступ*")),
    (UZ_TALKS, "Uzbekistan CSTO rejoin", "football", None),
    (UZ_TALKS, "Uzbekistan CSTO", "nothing else", None),
    # literal special characters
    ({"any": ["C++"]}, "C++ compilers", "", ("C++",)),
    ({"any": ["C++"]}, "C compilers", "", None),
    ({"any": ["C++"]}, "C++x", "", None),
    ({"any": ["a.b"]}, "axb", "", None),
    ({"any": ["a.b"]}, "see a.b here", "", ("a.b",)),
    ({"any": ["(x)"]}, "f (x) = 1", "", ("(x)",)),
    ({"any": ["[a-z]+"]}, "abc", "", None),
    ({"any": ["[a-z]+"]}, "match [a-z]+ literally", "", ("[a-z]+",)),
    ({"any": ["\\d"]}, "1 2 3", "", None),
    ({"any": ["U.S."]}, "the U.S. army", "", ("U.S.",)),
    ({"any": ["U.S."]}, "the US army", "", None),
    ({"any": ["U.S."]}, "the U. S. army", "", None),
    ({"any": ["U.S.*"]}, "U.S.-led", "", ("U.S.*",)),
    ({"any": ["Kyrgyz-Tajik"]}, "Kyrgyz-Tajik border", "", ("Kyrgyz-Tajik",)),
    ({"any": ["Kyrgyz-Tajik"]}, "Kyrgyz Tajik border", "", None),
    ({"any": ["Kyrgyz-Tajik"]}, "Kyrgyz-Tajikistan", "", None),
    ({"any": ["Kyrgyz-Tajik*"]}, "Kyrgyz-Tajikistan", "", ("Kyrgyz-Tajik*",)),
    ({"any": ["*"]}, "anything at all", "", None),
    # rules that match nothing, empty input
    ({}, "CSTO", "", None),
    ({"none": ["CSTO"]}, "news", "", None),
    ({"all": [[]], "any": ["CSTO"]}, "CSTO", "", None),
    ({"any": ["", "  "]}, "CSTO", "", None),
    ({"any": ["CSTO"]}, "", "", None),
]


@pytest.mark.parametrize(("rule", "title", "summary", "expected"), CASES)
def test_table(
    rule: Mapping[str, Any], title: str, summary: str, expected: tuple[str, ...] | None
) -> None:
    rules = {"ind": entry_rule(rule)}
    want = {} if expected is None else {"ind": expected}
    assert Matcher(rules).match(title, summary) == want
    assert reference_match(rules, title, summary) == want


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("", ""),
        ("  Hello\n\tWorld  ", "hello world"),
        ("<p>One</p><p>Two</p>", "one two"),
        ("Uzbek<b>istan</b>", "uzbekistan"),
        ("Tom &amp; Jerry&nbsp;&#33;", "tom & jerry !"),
        ("&lt;b&gt;", "<b>"),
        ("ＦＵＬＬ　ｗｉｄｔｈ", "full width"),
        ("Straße", "strasse"),
        ("ОДКБ", "одкб"),
        ("a\x00b\x07", "a\x00b\x07"),
        ("<b", "<b"),
        ("x <!-- unterminated", "x"),
    ],
)
def test_normalize(raw: str, normalized: str) -> None:
    assert normalize(raw) == normalized


def test_several_indicators_in_rule_order() -> None:
    rules = {
        "b": Rule(any=("summit",)),
        "a": Rule(all=(("CSTO",),)),
        "c": Rule(any=("football",)),
    }  # sentence scope: "CSTO summit" is one sentence
    assert list(Matcher(rules).match("CSTO summit", "")) == ["b", "a"]


def test_from_mapping() -> None:
    assert Rule.from_mapping(UZ_TALKS) == Rule(
        all=(("Uzbekistan", "Tashkent", "Mirziyoyev", "Узбекистан*"),
             ("CSTO", "Collective Security Treaty", "ОДКБ")),
        any=("rejoin*", "return*", "membership", "вступ*"),
        none=("football",),
    )  # fmt: skip
    assert Rule.from_mapping({}) == Rule()
    assert Rule.from_mapping({"all": ["CSTO", ["A", "B"]], "any": "x"}) == Rule(
        all=(("CSTO",), ("A", "B")), any=("x",)
    )
    with pytest.raises(ValueError, match="unknown"):
        Rule.from_mapping({"al": [["CSTO"]]})
    with pytest.raises(ValueError, match="text"):
        Rule.from_mapping({"any": [2021]})
    with pytest.raises(ValueError):
        Rule.from_mapping({"all": {"a": 1}})


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\x00\x01\x1f\x7f",
        "\ud800 lone surrogate",
        "<" * 1000 + ">" * 1000,
        "<script>" * 100,
        "<b " * 1000,
        "&" * 500 + "&#xffffffff; &#0; &bogus;",
        "\u0301\u0301 combining",
        "CSTO " * 200_000,
    ],
)
def test_robust(text: str) -> None:
    rules = {"r": entry_rule(UZ_TALKS), "s": entry_rule({"any": ["C++", "(x)", "a.b*", "CSTO"]})}
    got = Matcher(rules).match(text, text)
    assert got == reference_match(rules, text, text)


# --- the reference: every term's regular expression over the normalized title and summary ---


def reference_pattern(term: str) -> re.Pattern[str] | None:
    """Whole-word semantics spelled out with lookarounds; None for a term that matches nothing."""
    # docs/matching.md §1: NFKC, then the invisible characters removed, as from the texts
    folded = unicodedata.normalize("NFKC", term)
    for invisible in "\u00ad\u200b\u200c\u200d\u2060\ufeff":
        folded = folded.replace(invisible, "")
    # ё and Ё are read as е, İ as i, before casefolding
    folded = folded.replace("\u0130", "i").replace("\u0401", "\u0435").replace("\u0451", "\u0435")
    body = " ".join(folded.casefold().split())
    star = body.endswith("*")
    if star:
        body = body[:-1].rstrip()
    if not body:
        return None
    body_re = r"\s+".join(re.escape(word) for word in body.split(" "))
    return re.compile(r"(?<!\w)" + body_re + (r"\w*" if star else "") + r"(?!\w)")


def reference_match(
    rules: Mapping[str, Rule], title: str, summary: str
) -> dict[str, tuple[str, ...]]:
    texts = (normalize(title), normalize(summary))

    def hit(term: str) -> bool:
        pattern = reference_pattern(term)
        return pattern is not None and any(pattern.search(text) for text in texts)

    result: dict[str, tuple[str, ...]] = {}
    for indicator, rule in rules.items():
        groups = list(rule.all) + ([rule.any] if rule.any else [])
        if not groups or any(hit(term) for term in rule.none):
            continue
        if all(any(hit(term) for term in group) for group in groups):
            # each term once, as first written: two ways read alike are one term
            terms = {}
            for term in (term for group in groups for term in group if hit(term)):
                pattern = reference_pattern(term)
                assert pattern is not None
                terms.setdefault(pattern.pattern, term)
            result[indicator] = tuple(terms.values())
    return result


# --- property: Matcher == reference on texts and rules from a small, tricky vocabulary ---

WORDS = [
    "csto", "CSTO", "CSTOs", "ОДКБ", "одкб", "Uzbek", "Uzbekistan", "Узбекистан", "Узбекистана",
    "Узбекистаном", "rejoin", "rejoins", "rejoining", "Collective", "Security", "Treaty",
    "Kyrgyz-Tajik", "Kyrgyz", "Tajik", "U.S.", "US", "C++", "a.b", "(x)", "Straße", "STRASSE",
    "ＣＳＴＯ", "ﬁn", "fin", "вступ", "вступление", "_", "2021", "x",
]  # fmt: skip
SEPARATORS = [" ", "  ", "\n", "", "-", ".", "<br>", "<b>", "</b>", "&amp;", "&nbsp;", "\t"]


def texts_from(words: list[str]) -> st.SearchStrategy[str]:
    """Texts of the given words (and some of the vocabulary) with tricky separators, or any text."""
    pieces = st.tuples(st.sampled_from(words + WORDS), st.sampled_from(SEPARATORS))
    joined = st.lists(pieces, max_size=25).map(lambda ps: "".join(w + sep for w, sep in ps))
    return st.one_of(joined, joined, joined, st.text(max_size=40))


word_terms = st.sampled_from(WORDS)
prefix_terms = st.tuples(st.sampled_from(WORDS), st.integers(0, 6)).map(
    lambda wn: wn[0][: max(1, len(wn[0]) - wn[1])] + "*"
)
phrase_terms = st.lists(st.sampled_from(WORDS), min_size=2, max_size=3).map(" ".join)
terms = st.one_of(
    word_terms, word_terms, prefix_terms, phrase_terms, phrase_terms.map(lambda p: p + "*"),
    st.text(max_size=4),
)  # fmt: skip
rules = st.builds(
    Rule,
    all=st.lists(st.lists(terms, min_size=1, max_size=3).map(tuple), max_size=2).map(tuple),
    any=st.lists(terms, max_size=3).map(tuple),
    none=st.lists(terms, max_size=1).map(tuple),
    scope=st.just("entry"),
    negation=st.just(False),
    hypothetical=st.just(False),
    simulation=st.just(False),
    retrospective=st.just(False),  # every cue off: the reference is DESIGN §3's rule alone
)
rule_sets = st.dictionaries(st.sampled_from("abcdef"), rules, min_size=1, max_size=4)


def rule_words(rules: Mapping[str, Rule]) -> list[str]:
    """The terms of the rules as they could appear in a text (the `*` dropped)."""
    found = [
        term.rstrip("*")
        for rule in rules.values()
        for term in (*(t for group in rule.all for t in group), *rule.any, *rule.none)
    ]
    return [term for term in found if term] or ["x"]


@st.composite
def cases(draw: st.DrawFn) -> tuple[dict[str, Rule], list[tuple[str, str]]]:
    """Rules and a few entries whose texts tend to contain the rules' terms."""
    drawn = draw(rule_sets)
    text = texts_from(rule_words(drawn))
    return drawn, draw(st.lists(st.tuples(text, text), min_size=1, max_size=4))


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
@example(({"a": Rule(any=("csto",), negation=False, hypothetical=False, simulation=False,
                     retrospective=False)}, [("ANALYST", "csto ")]))  # a cue word, cues off
def test_matcher_equals_reference(case: tuple[dict[str, Rule], list[tuple[str, str]]]) -> None:
    rules, entries = case
    matcher = Matcher(rules)
    for title, summary in entries:
        assert matcher.match(title, summary) == reference_match(rules, title, summary)
