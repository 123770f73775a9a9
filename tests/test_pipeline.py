"""Exact dedup and storage, on both databases (a real SQLite file; PostgreSQL), across reopenings."""

from datetime import datetime, timezone

from botsvc.config import Rule, Topic
from botsvc.judge.relevance import Relevance
from botsvc.models import FeedItem
from botsvc.store.events import EventBook
from botsvc.store.pipeline import Processor
from botsvc.store.store import open_store

TOPIC = Topic("jk", "Japan–Korea", (Rule(any=("GSOMIA",)),))


def item(guid, title="Seoul ends GSOMIA", link=None, feed="wire", source="Wire", published=None):
    return FeedItem(
        feed=feed,
        guid=guid,
        link=link or f"https://wire.example/{guid}",
        title=title,
        summary="",
        published=published,
        source=source,
    )


def processor(path):
    store = open_store(path)
    return Processor(store, Relevance([TOPIC]), EventBook(store))


def judge(proc, *items):
    with proc.store.atomic():
        return proc.process(list(items))


def test_repeat_after_restart_is_duplicate_and_not_stored_twice(db_at):
    first = processor(db_at("p.db"))
    [outcome] = judge(first, item("g1"))
    assert outcome.decision == "new" and outcome.event_id and outcome.matched_keywords == ["GSOMIA"]
    first.store.close()

    again = processor(db_at("p.db"))
    [repeat] = judge(again, item("g1"))
    assert repeat.decision == "duplicate" and repeat.duplicate_of == outcome.article_id
    assert repeat.event_id == outcome.event_id
    assert again.store.counts()["articles"] == 1


def test_same_link_new_guid_and_same_title_same_outlet_are_duplicates(db_at):
    proc = processor(db_at("p.db"))
    [a] = judge(proc, item("g1", link="https://wire.example/story"))
    [b] = judge(proc, item("g2", title="Different words GSOMIA", link="https://wire.example/story"))
    [c] = judge(proc, item("g3", title="Seoul ends GSOMIA!", link="https://wire.example/other"))
    assert a.decision == "new"
    assert b.decision == "duplicate" and "same link" in b.reason
    assert c.decision == "duplicate" and "same title" in c.reason
    assert proc.store.counts()["articles"] == 1


def test_same_title_from_another_outlet_is_a_near_duplicate_stored_in_the_same_event(db_at):
    proc = processor(db_at("p.db"))
    [first] = judge(proc, item("g1"))
    [other] = judge(proc, item("x1", feed="other", source="Other"))
    assert other.decision == "duplicate" and other.duplicate_of == first.article_id
    assert other.event_id == first.event_id and other.article_id != first.article_id
    assert "similar to article" in other.reason and other.similarity == 1.0
    event = proc.store.event(first.event_id)
    assert event["member_count"] == 2 and event["outlets"] == ["Wire", "Other"]


def test_irrelevant_items_are_remembered_but_not_stored(db_at):
    proc = processor(db_at("p.db"))
    [skip] = judge(proc, item("g9", title="Typhoon hits Kanto"))
    assert skip.decision == "irrelevant" and skip.event_id is None
    [again] = judge(proc, item("g9", title="Typhoon hits Kanto"))
    assert again.decision == "duplicate" and "irrelevant" in again.reason
    assert proc.store.counts()["articles"] == 0


def test_items_are_judged_oldest_first_but_reported_in_feed_order(db_at):
    proc = processor(db_at("p.db"))
    late = item("late", title="GSOMIA later", published=datetime(2019, 8, 23, tzinfo=timezone.utc))
    early = item("early", title="GSOMIA earlier", published=datetime(2019, 8, 22, tzinfo=timezone.utc))
    outcomes = judge(proc, late, early)
    assert [o.item.guid for o in outcomes] == ["late", "early"]
    assert outcomes[1].article_id < outcomes[0].article_id


def test_a_guid_reused_for_a_different_story_is_judged_as_new(db_at):
    proc = processor(db_at("p.db"))
    [first] = judge(proc, item("g1", link="https://wire.example/a"))
    [edited] = judge(proc, item("g1", title="Seoul ends GSOMIA pact", link="https://wire.example/b"))
    assert edited.decision == "duplicate" and "same GUID" in edited.reason  # a title edit is a repeat
    [reused] = judge(
        proc, item("g1", title="Tokyo and Seoul revive GSOMIA talks after summit", link="https://wire.example/c")
    )
    assert reused.decision in ("new", "duplicate") and reused.article_id is not None
    assert proc.store.counts()["articles"] == 2
    [again] = judge(
        proc, item("g1", title="Tokyo and Seoul revive GSOMIA talks after summit", link="https://wire.example/c")
    )
    assert again.decision == "duplicate" and again.article_id is None and again.duplicate_of == reused.article_id


def test_a_reused_guid_after_an_irrelevant_story_is_judged_again(db_at):
    proc = processor(db_at("p.db"))
    [skip] = judge(proc, item("g7", title="Typhoon hits Kanto", link="https://wire.example/t"))
    assert skip.decision == "irrelevant"
    [story] = judge(proc, item("g7", title="Seoul ends GSOMIA", link="https://wire.example/g"))
    assert story.decision == "new"


def test_an_irrelevant_items_edited_title_is_a_repeat_and_a_reused_guid_is_not(db_at):
    proc = processor(db_at("p.db"))
    [skip] = judge(proc, item("g8", title="Typhoon hits Kanto", link="https://wire.example/t"))
    [edited] = judge(proc, item("g8", title="Typhoon hits Kanto region", link="https://wire.example/t2"))
    assert skip.decision == "irrelevant" and edited.decision == "duplicate" and "same GUID" in edited.reason
    [story] = judge(proc, item("g8", title="Seoul ends GSOMIA", link="https://wire.example/g8"))
    assert story.decision == "new"
    # The story now owns the GUID: its keys are a stored article's, no longer an irrelevant item's.
    [again] = judge(proc, item("g8", title="Seoul ends GSOMIA", link="https://wire.example/g8"))
    assert again.decision == "duplicate" and again.duplicate_of == story.article_id
