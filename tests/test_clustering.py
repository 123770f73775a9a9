"""Event assignment (botsvc.judge.clustering)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from botsvc.judge.clustering import (
    BRIDGE_RATIO,
    DEFAULT_LEAD_HOURS,
    DEFAULT_SPAN_DAYS,
    DEFAULT_THRESHOLD,
    EventAssigner,
)
from botsvc.judge.fingerprint import make_fingerprint
from botsvc.judge.similarity import SimilarityIndex

T0 = datetime(2019, 8, 22, 10, 0, tzinfo=timezone.utc)

TERMINATION = [
    (
        "Seoul decides to end military intelligence pact with Tokyo",
        "South Korea's presidential office said Thursday it will not extend the General Security of "
        "Military Information Agreement with Japan, arguing that Tokyo's downgrade of Seoul's trade "
        "status had brought about a grave change in security cooperation.",
    ),
    (
        "Japan summons Korean envoy, calls intelligence pact decision 'extremely regrettable'",
        "Foreign Minister Taro Kono protested Seoul's refusal to renew the bilateral military "
        "intelligence agreement and said tying it to Japan's export-control review was unacceptable.",
    ),
    (
        "Pentagon voices strong concern over Seoul's intelligence-pact decision",
        "A Pentagon spokesman said defence ties with both Seoul and Tokyo must hold firm and that "
        "trilateral cooperation would continue, despite South Korea ending the military information pact.",
    ),
]
TERMINATION_REWRITE = (
    "South Korea scraps GSOMIA, pulls out of military info-sharing deal with Japan",
    "Seoul said it would not renew the 2016 military intelligence agreement with Tokyo, blaming "
    "Japan's decision to downgrade South Korea's trade status; Japan called the move regrettable.",
)
SUSPENSION = (
    "Seoul suspends notice ending GSOMIA hours before the pact expires",
    "South Korea conditionally froze its termination notice for the military intelligence pact with "
    "Japan, while export-control talks resume and its WTO complaint is paused.",
)
BOYCOTT = (
    "Korean shoppers shun Japanese beer and clothing as boycott spreads",
    "Supermarkets pulled Japanese goods from shelves and convenience stores reported sharp drops in "
    "sales of Asahi and Kirin, while Uniqlo outlets also felt the pinch.",
)


def _seeded(**kwargs) -> EventAssigner:
    assigner = EventAssigner(**kwargs)
    for doc_id, (title, summary) in enumerate(TERMINATION, start=1):
        assigner.record(doc_id, 1, make_fingerprint(title, summary), T0 + timedelta(hours=doc_id))
    return assigner


def test_defaults_are_the_documented_ones():
    a = EventAssigner()
    assert a.threshold == DEFAULT_THRESHOLD == 0.2
    assert a.span == timedelta(days=DEFAULT_SPAN_DAYS) == timedelta(days=3.5)
    assert a.lead == timedelta(hours=DEFAULT_LEAD_HOURS) == timedelta(hours=36)


def test_same_story_reworded_joins_its_event():
    assigner = _seeded()
    a = assigner.assign(make_fingerprint(*TERMINATION_REWRITE), T0 + timedelta(days=1))
    assert a.event_id == 1
    assert a.duplicate_of in {1, 2, 3}
    assert a.similarity >= assigner.threshold
    assert a.neighbours and a.neighbours[0].similarity >= a.similarity - 1e-9
    assert assigner.event_of(a.duplicate_of) == 1
    assert a.reason.startswith(f"similar to article {a.duplicate_of} (")
    assert "of event 1" in a.reason and "days after its first report" in a.reason


def test_same_topic_but_different_event_opens_a_new_one():
    assigner = _seeded()
    # The same quarrel, a different story, two days later: too little in common.
    boycott = assigner.assign(make_fingerprint(*BOYCOTT), T0 + timedelta(days=2))
    assert boycott.event_id is None
    assert boycott.reason.startswith("new event: no archive item at or above 0.20 in an event of the time")
    # The same pact three months later: a new development, however similar the words.
    suspension = assigner.assign(make_fingerprint(*SUSPENSION), T0 + timedelta(days=92))
    assert suspension.event_id is None
    assert suspension.neighbours and assigner.event_of(suspension.neighbours[0].doc_id) == 1


def test_an_event_does_not_grow_past_its_span():
    assigner = _seeded(span_days=3)
    fp = make_fingerprint(*TERMINATION_REWRITE)
    first = T0 + timedelta(hours=1)
    assert assigner.assign(fp, first + timedelta(days=2.9)).event_id == 1
    late = assigner.assign(fp, first + timedelta(days=3.5))
    assert late.event_id is None
    assert "began 3.5 days earlier (span 3 days)" in late.reason
    # The span runs from the event's *first* report: a later member does not stretch it.
    assigner.record(10, 1, make_fingerprint(*TERMINATION_REWRITE), first + timedelta(days=2.5))
    assert assigner.assign(fp, first + timedelta(days=4)).event_id is None
    assert assigner.first_published(1) == first


def test_an_item_published_before_the_event_began_does_not_join_it():
    assigner = _seeded()
    fp = make_fingerprint(*TERMINATION_REWRITE)
    first = T0 + timedelta(hours=1)
    # Within clock and time-zone noise of the first report: the same happening.
    assert assigner.assign(fp, first - timedelta(hours=30)).event_id == 1
    early = assigner.assign(fp, first - timedelta(days=2))
    assert early.event_id is None
    assert "began 2.0 days after this item" in early.reason


def test_two_stories_of_one_outlet_in_one_hour_stay_apart():
    assigner = EventAssigner()
    curbs = (
        "Japan widens export controls on chip chemicals bound for South Korea",
        "Tokyo adds two more materials to the list needing case-by-case licences for South Korea, "
        "the trade ministry in Tokyo said.",
    )
    pact = (
        "Japan and South Korea move to restore intelligence pact",
        "Tokyo and Seoul said they would put the military intelligence pact back on a normal footing, "
        "the foreign ministry in Tokyo said.",
    )
    assigner.record(1, 1, make_fingerprint(*pact), T0, outlet="Wire A")
    fp = make_fingerprint(*curbs)
    probe = assigner.index.query(fp, k=1)[0]
    assert probe.similarity >= assigner.threshold  # the generic words alone would merge them
    same = assigner.assign(fp, T0 + timedelta(minutes=20), outlet="Wire A")
    assert same.event_id is None and "another story of the same outlet" in same.reason
    # A near-identical copy from the same outlet (a re-issued item) still joins.
    assert assigner.assign(make_fingerprint(*pact), T0 + timedelta(minutes=20), outlet="Wire A").event_id == 1


def test_a_long_running_campaign_keeps_its_event_open():
    assigner = EventAssigner()
    assigner.record(1, 7, make_fingerprint(*BOYCOTT), T0)
    later = (
        "Boycott of Japanese beer and Uniqlo in South Korea passes 100 days",
        "Korean consumers still shun Japanese beer and Uniqlo stores as the boycott continues.",
    )
    a = assigner.assign(make_fingerprint(*later), T0 + timedelta(days=80))
    assert a.event_id == 7  # the boycott concept runs for months
    other = assigner.assign(make_fingerprint(*TERMINATION_REWRITE), T0 + timedelta(days=80))
    assert other.event_id is None


def test_undated_item_uses_the_time_it_is_seen():
    assigner = EventAssigner()
    now = datetime.now(timezone.utc)
    assigner.record(1, 5, make_fingerprint(*TERMINATION[0]), now - timedelta(days=1))
    assert assigner.assign(make_fingerprint(*TERMINATION_REWRITE), None).event_id == 5
    assigner.record(2, 5, make_fingerprint(*TERMINATION_REWRITE), None)  # stored with its seen time
    assert assigner.last_published(5) >= now
    old = EventAssigner()
    old.record(1, 5, make_fingerprint(*TERMINATION[0]), now - timedelta(days=60))
    assert old.assign(make_fingerprint(*TERMINATION_REWRITE), None).event_id is None


def test_naive_datetimes_are_utc():
    assigner = _seeded()
    naive = (T0 + timedelta(days=1)).replace(tzinfo=None)
    assert assigner.assign(make_fingerprint(*TERMINATION_REWRITE), naive).event_id == 1


def test_best_event_inside_the_span_wins_over_a_closer_match_outside_it():
    assigner = EventAssigner()
    fp = make_fingerprint(*TERMINATION_REWRITE)
    assigner.record(1, 1, make_fingerprint(*TERMINATION_REWRITE), T0 - timedelta(days=40))  # identical, too old
    assigner.record(2, 2, make_fingerprint(*TERMINATION[0]), T0)
    a = assigner.assign(fp, T0 + timedelta(days=1))
    assert a.event_id == 2 and a.duplicate_of == 2
    assert a.neighbours[0].doc_id == 1 and a.neighbours[0].similarity == pytest.approx(1.0)


def test_events_grow_through_record():
    assigner = _seeded()
    assert assigner.members(1) == [1, 2, 3]
    assert assigner.first_published(1) == T0 + timedelta(hours=1)
    assert len(assigner) == 1 and len(assigner.index) == 3
    assigner.record(3, 1, make_fingerprint(*TERMINATION[2]), T0 + timedelta(hours=3))  # again: no change
    assert assigner.members(1) == [1, 2, 3]
    with pytest.raises(ValueError):
        assigner.record(3, 2, make_fingerprint(*TERMINATION[2]), T0)
    assert assigner.event_of(99) is None and assigner.members(99) == []


def test_an_external_index_is_used_and_unassigned_documents_never_match():
    index = SimilarityIndex()
    index.add(42, make_fingerprint(*TERMINATION_REWRITE))  # in the index, in no event
    assigner = EventAssigner(index=index)
    a = assigner.assign(make_fingerprint(*TERMINATION_REWRITE), T0)
    assert a.event_id is None and a.neighbours[0].doc_id == 42


def test_invalid_settings():
    with pytest.raises(ValueError):
        EventAssigner(threshold=1.5)
    with pytest.raises(ValueError):
        EventAssigner(span_days=-1)
    with pytest.raises(ValueError):
        EventAssigner(lead_hours=-1)


def test_seed_reports_cut_to_headline_and_lead_join_the_seeded_event():
    from botsvc.store.seed_data import load_seed_articles

    seeds = load_seed_articles()
    assert len(seeds) == 5
    for left_out in range(len(seeds)):
        assigner = EventAssigner()
        for doc_id, art in enumerate(seeds, start=1):
            if doc_id - 1 != left_out:
                assigner.record(doc_id, 1, make_fingerprint(art.title, art.lead, art.body), art.published)
        art = seeds[left_out]
        a = assigner.assign(make_fingerprint(art.title, art.lead), art.published)
        assert a.event_id == 1, (art.title, a.reason)
    # ...while the later suspension of the termination is a new event.
    later = assigner.assign(make_fingerprint(*SUSPENSION), datetime(2019, 11, 22, 9, 0, tzinfo=timezone.utc))
    assert later.event_id is None


def test_record_many_rebuilds_the_same_state():
    rows = [
        (doc_id, 1, make_fingerprint(title, summary), T0 + timedelta(hours=doc_id))
        for doc_id, (title, summary) in enumerate(TERMINATION, start=1)
    ]
    rows.append((7, 2, make_fingerprint(*BOYCOTT), T0 + timedelta(days=1)))
    bulk = EventAssigner()
    bulk.record_many((d, e, fp.to_bytes(), w) for d, e, fp, w in rows)
    one = EventAssigner()
    for row in rows:
        one.record(*row)
    for assigner in (bulk, one):
        assert assigner.members(1) == [1, 2, 3] and assigner.members(2) == [7]
        assert assigner.last_published(1) == T0 + timedelta(hours=3)
    fp = make_fingerprint(*TERMINATION_REWRITE)
    assert bulk.assign(fp, T0 + timedelta(days=2)) == one.assign(fp, T0 + timedelta(days=2))
    with pytest.raises(ValueError):
        EventAssigner().record_many([rows[0], (1, 2, rows[0][2], T0)])


RADAR_TALKS = "Kihara Shin Won-sik Shangri-La Singapore radar lock-on settlement destroyer patrol aircraft"
SWAP_TALKS = "currency swap finance ministers Suzuki Choo Kyung-ho Tokyo dialogue billion"


def _two_events(second_first: timedelta, second_last: timedelta | None = None) -> EventAssigner:
    """Event 1 (radar talks at T0) and event 2 (swap talks), over an archive of unrelated stories."""
    assigner = EventAssigner()
    assigner.record(1, 1, make_fingerprint(RADAR_TALKS, ""), T0)
    assigner.record(2, 2, make_fingerprint(SWAP_TALKS, ""), T0 + second_first)
    if second_last is not None:
        assigner.record(3, 2, make_fingerprint(SWAP_TALKS + " again", ""), T0 + second_last)
    for doc_id in range(10, 40):
        text = f"unrelated story number {doc_id} about weather sport music {doc_id * 7}"
        assigner.record(doc_id, 100 + doc_id, make_fingerprint(text, ""), T0 - timedelta(days=30))
    return assigner


def test_a_report_as_close_to_two_open_events_bridges_them_into_the_first_opened():
    assigner = _two_events(timedelta(hours=1))
    both = make_fingerprint("Kihara Shin Won-sik Shangri-La radar lock-on; Suzuki Choo Kyung-ho currency swap", "")
    bridge = assigner.assign(both, T0 + timedelta(hours=2))
    assert bridge.event_id == 1 and bridge.merges == (2,)
    assert "event(s) 2 merged into event 1" in bridge.reason
    assigner.merge(2, 1)
    assert assigner.event_of(2) == 1 and sorted(assigner.members(1)) == [1, 2] and assigner.members(2) == []
    # Its members now answer for event 1: a later report of the swap talks joins event 1.
    assert assigner.assign(make_fingerprint(SWAP_TALKS, ""), T0 + timedelta(hours=5)).event_id == 1


def test_a_report_mainly_of_one_event_does_not_bridge_it_with_another():
    assigner = _two_events(timedelta(hours=1))
    mostly_radar = make_fingerprint(RADAR_TALKS + " currency swap Suzuki Choo Kyung-ho", "")
    found = assigner.assign(mostly_radar, T0 + timedelta(hours=2))
    similarity = {n.doc_id: n.similarity for n in found.neighbours}
    assert similarity[2] >= assigner.threshold  # it passes with event 2 too ...
    assert similarity[2] < BRIDGE_RATIO * similarity[1]  # ... but is far closer to event 1
    assert found.event_id == 1 and found.merges == ()


def test_a_bridge_never_makes_an_event_longer_than_one_span():
    # Event 2 runs from 4.9 to 6 days after event 1 began: together they would span 6 days.
    assigner = _two_events(timedelta(days=4.9), timedelta(days=6))
    both = make_fingerprint("Kihara Shin Won-sik Shangri-La radar lock-on; Suzuki Choo Kyung-ho currency swap", "")
    found = assigner.assign(both, T0 + timedelta(days=3.4))
    assert {n.doc_id for n in found.neighbours if n.similarity >= assigner.threshold} >= {1, 2}
    assert found.event_id == 1 and found.merges == ()


MEMORANDUM_EN = (
    "Seoul, Tokyo defence chiefs sign memorandum on framework for regular exchanges",
    "The defence ministers of South Korea and Japan signed a memorandum in Busan on Tuesday setting up a framework "
    "of regular exchanges and agreed on measures to prevent a recurrence of maritime incidents.",
)
MEMORANDUM_KO = (
    "한일 국방장관, 부산서 정례 교류 프레임워크 양해각서 체결",
    "한국과 일본 국방장관이 2일 부산에서 회담을 열고 국방 교류를 정례화하는 프레임워크 양해각서에 서명했다. "
    "양측은 해상 사고 재발 방지 대책에도 합의했다.",
)
MEMORANDUM_JA = (
    "日韓防衛相、釜山で覚書に署名　交流の枠組み制度化",
    "日韓の防衛相は2日、釜山で会談し、防衛交流を定例化する枠組みの覚書に署名した。海上での事故の再発防止策でも合意した。",
)
WHITE_PAPER_PROTEST_KO = (
    "외교부, 日 방위백서 독도 영유권 주장에 항의…주한 일본 무관 초치",
    "외교부는 일본 정부가 2일 발표한 방위백서에서 독도 영유권 주장을 되풀이한 데 대해 강력히 항의하고 주한 일본대사관 "
    "무관을 초치했다.",
)


def test_first_reports_in_other_languages_join_by_what_happened_and_where():
    """No shared word, no named official: the kind of happening (memorandum, framework) and the place do it."""
    t = datetime(2027, 3, 2, 1, 0, tzinfo=timezone.utc)
    assigner = EventAssigner()
    assigner.record(1, 1, make_fingerprint(*MEMORANDUM_EN), t)
    for report in (MEMORANDUM_KO, MEMORANDUM_JA):
        found = assigner.assign(make_fingerprint(*report), t + timedelta(hours=3))
        assert found.event_id == 1, found.reason
        assert "memorandum" in found.reason and "busan" in found.reason
    # The same two states on the same day, another kind of happening: a new event.
    other = assigner.assign(make_fingerprint(*WHITE_PAPER_PROTEST_KO), t + timedelta(hours=3))
    assert other.event_id is None
