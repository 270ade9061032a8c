"""The evaluation corpus (tests/data/corpus/headlines.yaml) keeps the structure its header
promises: unique ids, known indicator ids, known kinds and languages, dates in the corpus
window, and the dev/test split given by the header's formula. Labels themselves are not checked
here (they are a human reader's judgement)."""

from __future__ import annotations

import hashlib
import re
from datetime import date
from pathlib import Path

import yaml

CORPUS = Path(__file__).parent / "data" / "corpus" / "headlines.yaml"

# The indicator ids of the shipped questions, as listed in the labelling notes.
INDICATORS = {
    "csto-afghan-deploy-decision", "csto-exercises-tajikistan", "russia-201-base-reinforced",
    "csto-tajik-afghan-border-aid", "afghan-spillover-attack",
    "uz-csto-talks", "uz-csto-formal-step", "uz-csto-observer-status",
    "uz-csto-exercise-participation", "uz-nonalignment-reaffirmed",
    "az-csto-membership-talk", "az-csto-observer-status", "az-russia-allied-declaration",
    "az-turkey-alliance-deepens", "az-nonalignment-reaffirmed",
    "am-csto-withdrawal-talk", "am-csto-freeze", "am-csto-no-show", "am-csto-criticism",
    "am-csto-active-participation",
    "csto-article-4-invoked", "csto-member-requests-help", "csto-forces-arrive",
    "csto-afghan-threat-warning", "csto-member-unrest",
    "kg-tj-border-shooting", "kg-tj-border-deaths", "kg-tj-heavy-weapons", "kg-tj-ceasefire",
    "csto-kg-tj-mediation",
}
KINDS = {"event", "negated", "hypothetical", "drill", "denial", "peace", "retrospective",
         "sports", "unrelated"}
FIELDS = {"id", "date", "lang", "split", "kind", "title", "summary", "fires", "not", "note"}
SECOND_BATCH = 175
THIRD_BATCH = 306
FOURTH_BATCH = 434
FIFTH_BATCH = 561


def items() -> list[dict]:
    loaded = yaml.safe_load(CORPUS.read_text("utf-8"))
    assert isinstance(loaded, list)
    return loaded


def number(item: dict) -> int:
    return int(item["id"][1:])


def test_ids_are_unique_and_well_formed() -> None:
    ids = [i["id"] for i in items()]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"h\d{3}", i) for i in ids)


def test_every_item_has_the_documented_fields() -> None:
    for item in items():
        assert set(item) <= FIELDS, item["id"]
        assert FIELDS - {"note"} <= set(item), item["id"]
        assert item["lang"] in {"en", "ru"}, item["id"]
        assert item["kind"] in KINDS, item["id"]
        assert item["title"].strip() and item["summary"].strip(), item["id"]
        assert date(2021, 7, 1) <= item["date"] <= date(2025, 12, 31), item["id"]


def test_labels_name_known_indicators_and_do_not_contradict() -> None:
    for item in items():
        fires, traps = set(item["fires"]), set(item["not"])
        assert fires <= INDICATORS, (item["id"], fires - INDICATORS)
        assert traps <= INDICATORS, (item["id"], traps - INDICATORS)
        assert not fires & traps, item["id"]


def test_split_follows_the_header_formula() -> None:
    for item in items():
        digest = int(hashlib.sha256(item["id"].encode("utf-8")).hexdigest(), 16)
        assert item["split"] == ("dev" if digest % 2 == 0 else "test"), item["id"]


def test_later_batches_run_in_date_order() -> None:
    # each later batch (second: h175-h305, third: h306-h433, fourth: h434-h560, fifth: h561-)
    # has contiguous ids in date order
    for first, last in ((SECOND_BATCH, THIRD_BATCH - 1), (THIRD_BATCH, FOURTH_BATCH - 1),
                        (FOURTH_BATCH, FIFTH_BATCH - 1), (FIFTH_BATCH, 10**6)):
        batch = sorted((i for i in items() if first <= number(i) <= last), key=number)
        assert batch, f"the batch starting at h{first} is missing"
        dates = [i["date"] for i in batch]
        assert dates == sorted(dates), first
        assert [number(i) for i in batch] == list(range(first, first + len(batch)))


def test_header_counts_match_the_items() -> None:
    header = CORPUS.read_text("utf-8").split("\n- id:", 1)[0]
    all_items = items()
    dev = sum(1 for i in all_items if i["split"] == "dev")
    assert f"Counts: total {len(all_items)}; dev {dev} (" in header
    assert f"test {len(all_items) - dev} (" in header
