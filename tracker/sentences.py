"""An entry's text as a reader sees it, split into sentences; pure functions, no database.

Markup is stripped in one linear pass (block tags end a line, inline tags join words),
entities decoded, NFKC applied, and each line split into sentences by razdel, a rule-based
splitter for Russian that also handles English quotes, initials and "U.S.". razdel slows
down sharply on long runs without sentence ends, so a line is cut into chunks of at most
CHUNK characters at a space first: the cost stays linear in the input, whatever it holds.
"""

from __future__ import annotations

import html
import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass

__all__ = ["Sentence", "clean_text", "fold", "plain", "sentences"]

CHUNK = 2000
# Of a summary, this much plain text is read sentence by sentence: 5x what the poller stores
# (parse.SUMMARY_MAX), and a bound on the work a hostile entry can ask for.
TEXT_MAX = 100_000

# One pass over the markup: comments, script/style blocks (with their content), tags and
# declarations. A tag's name is a letter, then letters, digits and `_ : . -` (so "<o:p>" ends a
# line, and "<script-x>" is no script); a closing tag may hold more before its `>`, as browsers
# read "</script x>". Possessive quantifiers and `[^<>]` keep every alternative linear on bad
# HTML ("<a" and a million letters with no ">" costs one scan, not one per letter).
_MARKUP = re.compile(
    r"<!--.*?(?:-->|\Z)"
    r"|<(script|style)(?![\w:.-])[^<>]*+>.*?(?:</\1(?![\w:.-])[^<>]*+>|\Z)"
    r"|</?([A-Za-z][\w:.-]*+)[^<>]*+>"
    r"|<[!?][^<>]*+>",
    re.DOTALL | re.IGNORECASE,
)

# Tags that render inside a line of text: "Uzbek<b>istan</b>" reads as one word. Every other
# tag (p, br, div, li, td, img, unknown ones) separates words, as a browser would.
INLINE_TAGS = frozenset(
    {
        "a", "abbr", "b", "bdi", "bdo", "big", "cite", "code", "data", "del", "dfn", "em",
        "font", "i", "ins", "kbd", "mark", "q", "s", "samp", "small", "span", "strike",
        "strong", "sub", "sup", "time", "tt", "u", "var", "wbr",
    }
)  # fmt: skip

# English abbreviations after which razdel ends a sentence that goes on ("on Oct. 5 the").
_ABBREVIATIONS = frozenset(
    {
        "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
        "gen", "lt", "col", "maj", "capt", "sgt", "adm", "gov", "sen", "rep", "pres", "dr",
        "mr", "mrs", "ms", "prof", "st", "no", "nos", "vs", "approx", "dept", "est", "fig",
    }
)  # fmt: skip
_LAST_WORD = re.compile(r"(\w+)\.$")
# Block tags end a line; a line break in the text itself is only wrapping. The paragraph
# separator marks the former until lines are cut.
_BLOCK = "\u2029"
_SPACES = re.compile(r"[^\S\u2029]+")


def _markup_replacement(m: re.Match[str]) -> str:
    if m.group(1):
        return _BLOCK
    name = m.group(2)
    if name is None:
        return ""
    return "" if name.lower() in INLINE_TAGS else _BLOCK


# Invisible characters a word may carry without being another word: the soft hyphen
# (&shy;, a hyphenation hint), zero-width space, non-joiner and joiner, the word joiner and a
# stray byte-order mark. "Tash&shy;kent" is Tashkent.
_INVISIBLE = re.compile("[\u00ad\u200b-\u200d\u2060\ufeff]")


def plain(text: str) -> str:
    """Markup stripped (a block tag becomes a paragraph separator), entities decoded, NFKC,
    invisible characters removed, apostrophes made one."""
    if "<" in text:
        text = _MARKUP.sub(_markup_replacement, text)
    if "&" in text:
        text = html.unescape(text)
    if not text.isascii():  # (a flag of the string: ASCII text needs none of this)
        text = _normal(text)
    return text


def _normal(text: str) -> str:
    """NFKC, invisible characters removed, apostrophes made one: text and terms alike."""
    text = _INVISIBLE.sub("", unicodedata.normalize("NFKC", text))
    if "\u2019" in text or "\u02bc" in text:
        text = text.replace("\u2019", "'").replace("\u02bc", "'")
    return text


def clean_text(text: str) -> str:
    """The plain text with every run of white space one space; block tags (p, br, li, ...)
    end a line."""
    if not text:
        return ""
    text = _SPACES.sub(" ", plain(text))
    return "\n".join(line for line in (x.strip() for x in text.split(_BLOCK)) if line)


# Letters read alike before casefolding, one for one: Russian writes ё or е for the same
# word ("развёрнуты", "развернуты"), and the capital dotted İ of Turkish and Azerbaijani names
# ("İlham") would fold to i and a combining dot, which no "Ilham" has.
_ALIKE = str.maketrans({"\u0130": "i", "\u0401": "\u0435", "\u0451": "\u0435"})


def casefold(text: str) -> str:
    """Text as matched: ё and Ё as е, İ as i, then casefolded."""
    return text.casefold() if text.isascii() else text.translate(_ALIKE).casefold()


def fold(term: str) -> str:
    """A term or cue as matched: NFKC, invisible characters removed, apostrophes made one,
    casefolded (`casefold`)."""
    return casefold(_normal(term))


def _chunks(line: str) -> list[str]:
    """A line in pieces of at most CHUNK characters, cut at a space where there is one."""
    out = []
    while len(line) > CHUNK:
        cut = line.rfind(" ", CHUNK // 2, CHUNK)
        cut = cut if cut > 0 else CHUNK
        out.append(line[:cut])
        line = line[cut:].lstrip()
    if line:
        out.append(line)
    return out


def split_sentences(text: str) -> list[str]:
    """The sentences of clean text, in order; a line break always ends one."""
    import razdel  # here, not at the top: commands that never match start 18 ms sooner

    out: list[str] = []
    for line in text.split("\n"):
        for chunk in _chunks(line):
            joined = False
            for s in razdel.sentenize(chunk):
                piece = s.text.strip()
                if not piece:
                    continue
                if joined and out:
                    out[-1] = f"{out[-1]} {piece}"
                else:
                    out.append(piece)
                m = _LAST_WORD.search(piece)
                joined = bool(m and m.group(1).casefold() in _ABBREVIATIONS)
    return out


@dataclass(frozen=True)
class Sentence:
    """One sentence as shown (`text`) and as matched (`folded`, casefolded), with the map
    from positions in `folded` back to `text` when casefolding changed the length."""

    text: str
    folded: str
    _starts: tuple[int, ...] | None = None  # folded offset where each char of text begins

    @classmethod
    def of(cls, text: str) -> Sentence:
        folded = casefold(text)
        if len(folded) == len(text):
            return cls(text, folded)
        starts, pos = [], 0
        for ch in text:
            starts.append(pos)
            pos += len(casefold(ch))
        return cls(text, folded, tuple(starts))

    def to_text(self, start: int, end: int) -> tuple[int, int]:
        """A span of `folded` as a span of `text`."""
        if self._starts is None:
            return start, end
        a = bisect_right(self._starts, start) - 1
        b = bisect_right(self._starts, end - 1) if end > 0 else 0
        return max(a, 0), b


def sentences(title: str, summary: str) -> list[Sentence]:
    """The title as a sentence of its own, then the summary's sentences."""
    head = " ".join(clean_text(title).split())
    out = [Sentence.of(head)]
    text = clean_text(summary[:10 * TEXT_MAX])[:TEXT_MAX]
    out += [Sentence.of(s) for s in split_sentences(text)]
    return out
