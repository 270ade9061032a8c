"""Benchmark: Matcher against a naive loop of per-term regular expressions, and the cost of
sentence scope and cues (docs/matching.md) against the entry-scope rule of DESIGN §3.

Generates synthetic entries (English and Russian headlines with summaries, some HTML) and
indicator rules from a seeded random generator. Times, in one run: the Matcher with the rules
at entry scope and cues off (what matching was before sentence scope), the same rules with the
defaults (sentence scope, every cue checked), and a naive loop (every rule, every term's regex
on every entry) that must find the same matches as the entry-scope Matcher. Prints entries per
second and the ratios.

    python bench/match.py [--entries 100000] [--indicators 300] [--naive-entries 3000]
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tracker.matching import Matcher, Rule, normalize  # noqa: E402


def vocabulary(words: str) -> list[str]:
    """A word list written as one string."""
    return words.split()


ENGLISH = vocabulary(
    "the a of to in and on for with at by from after before over under between against amid "
    "says said will would could may new more than officials government minister president "
    "talks meeting visit agreement deal plan report sources week year month day today "
    "regional security economic trade energy gas oil water power transport road rail "
    "foreign defence defense military army police forces border region capital city country "
    "leaders leader delegation joint statement cooperation relations partners partnership "
    "investment project projects bank loan growth inflation prices market currency exports "
    "imports election parliament vote law reform court protest opposition media journalist "
    "analysts expert experts warned announced confirmed denied rejected signed approved "
    "discussed held hosted attended proposed called urged expected planned launched "
    "first second third last next major key senior former current local national "
    "international bilateral multilateral strategic political social public private"
)
RUSSIAN = vocabulary(
    "в на с по о об для из за к от при после до над под между против заявил заявила "
    "сообщил сообщили будет может могут новый новые новых более чем власти правительство "
    "министр президент переговоры встреча визит соглашение сделка план доклад источники "
    "неделе году месяце сегодня региональной безопасности экономического торговли энергетики "
    "газа нефти воды транспорта дороги железной внешней обороны армии полиции сил границе "
    "региона столице города страны лидеры лидер делегация совместное заявление "
    "сотрудничества отношения партнеры инвестиции проекта банк кредит рост инфляция цены "
    "рынок валюта экспорт импорт выборы парламент закон реформа суд протест оппозиция "
    "эксперты предупредили объявили подтвердили отвергли подписали одобрили обсудили "
    "провели первый второй последний следующий ключевой бывший местный национальный "
    "международный двусторонний стратегический политический"
)
# Words the news is about, as they appear in text (inflected, mixed case).
ENGLISH_NEWS = vocabulary(
    "CSTO NATO SCO EAEU Uzbekistan Uzbek Tashkent Kazakhstan Astana Kyrgyzstan Bishkek "
    "Tajikistan Dushanbe Armenia Yerevan Azerbaijan Baku Belarus Minsk Russia Moscow Kremlin "
    "Afghanistan Kabul Taliban Turkmenistan China Beijing Iran Turkey Georgia Mirziyoyev "
    "Tokayev Japarov Rahmon Pashinyan Aliyev Lukashenko Putin rejoin rejoins rejoining return "
    "returns withdrawal withdraws troops border clashes clash summit membership sanctions "
    "pipeline exercises drills peacekeepers peacekeeping Kyrgyz-Tajik U.S. football concert "
    "weather Collective Security Treaty Organization military base bases"
)
RUSSIAN_NEWS = vocabulary(
    "ОДКБ НАТО ШОС ЕАЭС Узбекистан Узбекистана Узбекистаном Ташкент Ташкенте Казахстан "
    "Казахстана Киргизии Киргизия Таджикистан Таджикистана Армения Армении Азербайджан "
    "Азербайджана Белоруссии Россия России Москва Москве Афганистан Афганистане талибы "
    "Мирзиёев Токаев Пашинян Алиев Лукашенко Путин вступление вступить выход выхода войска "
    "войск границе границы столкновения саммит саммите членство санкции санкций учения "
    "учениях миротворцы футбол погода"
)

ACTORS = [
    "Uzbekistan", "Tashkent", "Mirziyoyev", "Узбекистан*", "Ташкент*", "Kazakhstan", "Astana",
    "Tokayev", "Казахстан*", "Kyrgyzstan", "Bishkek", "Japarov", "Киргиз*", "Tajikistan",
    "Dushanbe", "Rahmon", "Таджикистан*", "Armenia", "Yerevan", "Pashinyan", "Армени*",
    "Azerbaijan", "Baku", "Aliyev", "Азербайджан*", "Belarus", "Minsk", "Lukashenko",
    "Белорусси*", "Russia", "Moscow", "Kremlin", "Putin", "Росси*", "Москв*", "Afghanistan",
    "Kabul", "Taliban", "Афганистан*", "талиб*", "China", "Beijing", "Iran", "Turkey", "U.S.",
    "Kyrgyz-Tajik", "Turkmenistan",
]  # fmt: skip
ORGANIZATIONS = [
    "CSTO", "ОДКБ", "Collective Security Treaty", "NATO", "НАТО", "SCO", "ШОС",
    "Shanghai Cooperation Organization", "EAEU", "ЕАЭС", "Eurasian Economic Union",
]  # fmt: skip
ACTIONS = [
    "rejoin*", "return*", "membership", "вступ*", "членств*", "withdraw*", "troops", "войск*",
    "border", "границ*", "clash*", "столкновени*", "summit", "саммит*", "sanction*", "санкци*",
    "pipeline", "exercises", "drills", "учени*", "peacekeep*", "миротвор*", "military base",
    "air base", "выход*", "joint exercises",
]  # fmt: skip
EXCLUSIONS = ["football", "футбол*", "concert", "weather", "погода"]


def make_rules(count: int, rng: random.Random) -> dict[str, Rule]:
    """`count` indicator rules drawn from the actor, organization and action vocabularies."""
    rules: dict[str, Rule] = {}
    for n in range(count):
        groups = [tuple(rng.sample(ACTORS, rng.randint(1, 4)))]
        if rng.random() < 0.6:
            groups.append(tuple(rng.sample(ORGANIZATIONS, rng.randint(1, 3))))
        # A rule needs two conditions at least: an actor and an organization or an action.
        any_: tuple[str, ...] = ()
        if len(groups) == 1 or rng.random() < 0.5:
            any_ = tuple(rng.sample(ACTIONS, rng.randint(1, 4)))
        none = tuple(rng.sample(EXCLUSIONS, rng.randint(1, 2))) if rng.random() < 0.3 else ()
        rules[f"indicator-{n}"] = Rule(all=tuple(groups), any=any_, none=none)
    return rules


def make_entries(count: int, rng: random.Random) -> list[tuple[str, str]]:
    """`count` (title, summary) pairs of about 40 words, half Russian, some HTML."""
    entries = []
    for _ in range(count):
        filler, news = (RUSSIAN, RUSSIAN_NEWS) if rng.random() < 0.5 else (ENGLISH, ENGLISH_NEWS)

        def words(k: int, filler: Sequence[str] = filler, news: Sequence[str] = news) -> str:
            return " ".join(rng.choice(news) if rng.random() < 0.03 else rng.choice(filler)
                            for _ in range(k))  # fmt: skip

        title = words(rng.randint(7, 12))
        summary = words(rng.randint(25, 35))
        if rng.random() < 0.3:
            summary = f'<p>{summary}</p>\n<p><a href="https://example.org/a?b=1&amp;c=2">'
            summary += f"{words(3)}</a> &amp; {words(2)}</p>"
        if rng.random() < 0.2:
            title = title.upper()
        entries.append((title, summary))
    return entries


def term_regex(term: str) -> re.Pattern[str] | None:
    """A term as one regex with word-boundary lookarounds; None if it can match nothing."""
    body = " ".join(unicodedata.normalize("NFKC", term).casefold().split())
    star = body.endswith("*")
    if star:
        body = body[:-1].rstrip()
    if not body:
        return None
    return re.compile(r"(?<!\w)" + re.escape(body) + (r"\w*" if star else "") + r"(?!\w)")


def naive_match(
    rules: Mapping[str, Rule], entries: Iterable[tuple[str, str]]
) -> list[dict[str, tuple[str, ...]]]:
    """For each entry, for each rule, search each term's regex over the normalized text."""
    patterns = {
        term: term_regex(term)
        for rule in rules.values()
        for term in (*(t for group in rule.all for t in group), *rule.any, *rule.none)
    }
    results = []
    for title, summary in entries:
        text = normalize(title) + "\n" + normalize(summary)
        result: dict[str, tuple[str, ...]] = {}
        for indicator, rule in rules.items():
            groups = [*rule.all, *((rule.any,) if rule.any else ())]
            hits = {}
            for term in (*(t for group in groups for t in group), *rule.none):
                pattern = patterns[term]
                hits[term] = pattern is not None and pattern.search(text) is not None
            if not groups or any(hits[t] for t in rule.none):
                continue
            if all(any(hits[t] for t in group) for group in groups):
                result[indicator] = tuple(dict.fromkeys(t for g in groups for t in g if hits[t]))
        results.append(result)
    return results


def timed(label: str, rules: Mapping[str, Rule], entries: Sequence[tuple[str, str]]
          ) -> tuple[float, list[dict[str, tuple[str, ...]]]]:
    """Compile and match every entry; print and return entries per second and the matches."""
    start = time.perf_counter()
    matcher = Matcher(rules)
    compiled = time.perf_counter()
    found = [matcher.find(title, summary) for title, summary in entries]
    done = time.perf_counter()
    rate = len(entries) / (done - start)
    hits = sum(len(f.matches) for f in found)
    blocked = sum(len(f.blocked) for f in found)
    print(f"{label}: compile {1000 * (compiled - start):.1f} ms, match {done - compiled:.2f} s; "
          f"{rate:,.0f} entries/s; {hits:,} hits, {blocked:,} blocked")
    return rate, [{m.indicator: m.terms for m in f.matches} for f in found]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--indicators", type=int, default=300)
    parser.add_argument(
        "--naive-entries", type=int, default=3_000,
        help="entries the naive loop is timed on (it is slow); figures are per entry",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=2021)
    args = parser.parse_args(argv)

    rng = random.Random(args.seed)
    rules = make_rules(args.indicators, rng)
    entries = make_entries(args.entries, rng)
    words = sum(len(t.split()) + len(s.split()) for t, s in entries) / max(1, len(entries))
    print(f"{len(entries):,} entries (~{words:.0f} words each), {len(rules)} indicators")

    entry_rules = {i: replace(r, scope="entry", negation=False, hypothetical=False,
                              simulation=False, retrospective=False) for i, r in rules.items()}
    fast_rate, fast = timed("Matcher, entry scope, cues off", entry_rules, entries)
    sentence_rate, _ = timed("Matcher, sentence scope and cues", rules, entries)
    print(f"sentence scope and cues cost {fast_rate / sentence_rate:.2f}x the entry scope "
          f"(target: within 2x)")

    sample = entries[: args.naive_entries]
    start = time.perf_counter()
    naive = naive_match(entry_rules, sample)
    naive_rate = len(sample) / (time.perf_counter() - start)
    scope = "" if len(sample) == len(entries) else f" (timed on the first {len(sample):,})"
    print(f"naive loop{scope}: {naive_rate:,.0f} entries/s")

    same = naive == fast[: len(sample)]
    print(f"same matches on {len(sample):,} entries: {'yes' if same else 'NO'}")
    print(f"ratio: Matcher (entry scope) is {fast_rate / naive_rate:.1f}x the naive loop, "
          f"with sentence scope and cues {sentence_rate / naive_rate:.1f}x")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
