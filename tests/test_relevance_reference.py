"""Relevance reads each text once and decides exactly what the former judgement decided.

Every bundled item (the three labelled sets and the unrelated snapshots) is judged by
:class:`Relevance` and by the reference in tests/relevance_reference.py, with the
structure on and off, as published and reshaped so each way the lead is found is
taken: a summary within and beyond the lead's length, no summary (the lead is the
body's start), a body beside the summary, no headline. Same topics, keywords,
judgement, actors and relations, item by item.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from relevance_reference import reference_judge, reference_match, reference_third_party

from botsvc.config import load_config
from botsvc.ingest.parse import parse_feed
from botsvc.judge.relevance import Relevance
from botsvc.judge.structure import LEAD_CHARS, default_structure
from botsvc.judge.terms import fold
from botsvc.models import FeedItem

ROOT = Path(__file__).resolve().parents[1]
FEED_DIRS = [
    ROOT / "examples" / "feeds",
    ROOT / "tests" / "fixtures" / "dev-real" / "feeds",
    ROOT / "tests" / "fixtures" / "dev-future" / "feeds",
    ROOT / "tests" / "fixtures" / "feed-snapshots",
]
CONFIG = load_config(ROOT / "feeds.toml")
TOPIC = CONFIG.topic(CONFIG.default_topic)


@cache
def bundled() -> tuple[FeedItem, ...]:
    items = []
    for directory in FEED_DIRS:
        for path in sorted(directory.rglob("*")):
            if path.suffix in {".xml", ".rss"}:
                items += parse_feed(path.read_bytes(), feed=path.name).items
    return tuple(items)


def reshaped(item: FeedItem) -> list[FeedItem]:
    """The item as published and in each shape that changes where the lead comes from."""
    padding = "lorem ipsum " * (LEAD_CHARS // 12 + 1)  # longer than the lead, no term in it
    return [
        item,
        replace(item, summary=item.summary + padding),  # the lead: the summary's start
        replace(item, summary=padding + item.summary),  # the terms beyond the lead
        replace(item, summary="", body=item.summary),  # the lead: the body
        replace(item, summary="", body=padding + item.summary),
        replace(item, body=padding + item.summary),  # the body is not the lead
        replace(item, title=""),
    ]


@pytest.mark.parametrize("structure", [True, False], ids=["structure", "rules-only"])
def test_every_bundled_item_is_judged_as_before(structure):
    relevance = Relevance([replace(TOPIC, structure=structure)])
    differing, judgements = [], []
    for published in bundled():
        for item in reshaped(published):
            matches = relevance.match(item)
            if matches != reference_match(relevance, item):
                differing.append(item.title[:80])
            judgements += [m.judgement for m in matches]
    assert not differing
    # The comparison covers both judgements, not only the empty answer.
    assert judgements.count("rules") > 300
    assert judgements.count("structure") > 20 if structure else "structure" not in judgements


def test_every_labelled_headline_meets_the_structure_as_before():
    """The structure's own tests on every bundled headline and lead: third party, actors and relation."""
    structure = default_structure()
    third, kept = 0, 0
    for item in bundled():
        lead = item.summary or item.body
        assert structure.third_party(item.title) == reference_third_party(structure, item.title)
        assert structure.judge(item.title, lead) == reference_judge(structure, item.title, lead)
        third += structure.third_party(item.title)
        kept += structure.judge(item.title, lead) is not None
    assert third > 20 and kept > 20


@settings(max_examples=300, deadline=None)
@given(st.text(), st.text())
def test_folded_parts_joined_by_a_newline_are_the_folded_whole(first, second):
    """What lets Relevance fold headline, summary and body once and join them."""
    assert fold(f"{first}\n{second}") == f"{fold(first)}\n{fold(second)}"


VETO = [
    # The rules match and the headline is about another subject: vetoed.
    ("North Korea fires ballistic missile into the sea", "Seoul and Tokyo shared warning data under GSOMIA.", False),
    ("북한, 동해상으로 탄도미사일 발사", "한일 양국은 지소미아에 따라 정보를 공유했다.", False),
    # The other subject only beyond the headline: kept.
    ("Seoul and Tokyo share warning data under GSOMIA", "The data concerned a North Korean missile.", True),
    # The headline names the beat's own term too: kept.
    ("North Korea missile launch tests GSOMIA", "Seoul and Tokyo shared warning data.", True),
    # No rule matches and the structure would keep it: the veto holds for the structure too.
    ("Tokyo and Seoul hold talks on missile warning data", "The defence ministers met in Tokyo.", False),
    ("Tokyo and Seoul hold talks on sharing warning data", "The ministers met after a missile launch.", True),
]


@pytest.mark.parametrize("title,summary,kept", VETO)
def test_the_off_subject_veto_reads_the_headline_only_when_the_text_holds_such_a_term(title, summary, kept):
    relevance = Relevance([TOPIC])
    story = FeedItem(feed="f", guid=title, link="", title=title, summary=summary, published=None, source="s")
    assert bool(relevance.match(story)) is kept
    assert relevance.match(story) == reference_match(relevance, story)
