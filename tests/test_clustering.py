"""Event assignment (botsvc.clustering)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from botsvc.clustering import DEFAULT_THRESHOLD, DEFAULT_WINDOW_DAYS, EventAssigner
from botsvc.fingerprint import make_fingerprint
from botsvc.similarity import SimilarityIndex

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
    assert a.threshold == DEFAULT_THRESHOLD == 0.16
    assert a.window == timedelta(days=DEFAULT_WINDOW_DAYS) == timedelta(days=14)


def test_same_story_reworded_joins_its_event():
    assigner = _seeded()
    a = assigner.assign(make_fingerprint(*TERMINATION_REWRITE), T0 + timedelta(days=1))
    assert a.event_id == 1
    assert a.duplicate_of in {1, 2, 3}
    assert a.similarity >= assigner.threshold
    assert a.neighbours and a.neighbours[0].similarity >= a.similarity - 1e-9
    assert assigner.event_of(a.duplicate_of) == 1
    assert a.reason.startswith(f"similar to article {a.duplicate_of} (")
    assert "of event 1" in a.reason and "days after its last member" in a.reason


def test_same_topic_but_different_event_opens_a_new_one():
    assigner = _seeded()
    # The same quarrel, a different story, two days later: too little in common.
    boycott = assigner.assign(make_fingerprint(*BOYCOTT), T0 + timedelta(days=2))
    assert boycott.event_id is None
    assert boycott.reason.startswith("new event: no archive item at or above 0.16 within 14 days")
    # The same pact three months later: a new development, however similar the words.
    suspension = assigner.assign(make_fingerprint(*SUSPENSION), T0 + timedelta(days=92))
    assert suspension.event_id is None
    assert suspension.neighbours and assigner.event_of(suspension.neighbours[0].doc_id) == 1


def test_time_window_expiry_opens_a_new_event():
    assigner = _seeded(window_days=7)
    fp = make_fingerprint(*TERMINATION_REWRITE)
    last = T0 + timedelta(hours=3)
    assert assigner.assign(fp, last + timedelta(days=6.9)).event_id == 1
    late = assigner.assign(fp, last + timedelta(days=7.5))
    assert late.event_id is None
    assert "days away (window 7 days)" in late.reason
    # The window runs from the event's *last* member: a later member keeps it open.
    assigner.record(10, 1, make_fingerprint(*TERMINATION_REWRITE), last + timedelta(days=5))
    assert assigner.assign(fp, last + timedelta(days=11)).event_id == 1
    assert assigner.last_published(1) == last + timedelta(days=5)


def test_an_item_predating_the_event_is_measured_from_its_first_member():
    assigner = _seeded(window_days=7)
    fp = make_fingerprint(*TERMINATION_REWRITE)
    assert assigner.assign(fp, T0 - timedelta(days=2)).event_id == 1
    assert assigner.assign(fp, T0 - timedelta(days=9)).event_id is None


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


def test_best_event_inside_the_window_wins_over_a_closer_match_outside_it():
    assigner = EventAssigner(window_days=7)
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
        EventAssigner(window_days=-1)


def test_seed_reports_cut_to_headline_and_lead_join_the_seeded_event():
    from botsvc.seed_data import load_seed_articles

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
