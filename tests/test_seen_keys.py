"""Seen keys of irrelevant items are stored as hashes: the hash must never drift."""

from botsvc.models import FeedItem
from botsvc.store.seenkeys import key_hash, pack, sketch_overlap, title_sketch, unpack


def test_stored_hashes_never_change_without_a_migration():
    # Pinned: a different value would make every stored key of an irrelevant item unknown.
    assert key_hash("url:https://example.org/a") == -853079160820712725
    assert title_sketch("seoul ends gsomia") == 36029071897395200
    assert title_sketch("") is None


def test_word_sketches_tell_an_edited_title_from_another_story():
    kanto = title_sketch("typhoon hits kanto")
    assert kanto is not None
    assert sketch_overlap(kanto, title_sketch("typhoon hits kanto region") or 0) == 0.75
    assert sketch_overlap(kanto, title_sketch("seoul ends gsomia") or 0) < 0.3


def test_a_body_packs_to_eight_bytes_a_key():
    hashes = {key_hash(f"guid:feed\x1f{n}") for n in range(1000)}
    blob = pack(hashes)
    assert len(blob) == 8 * 1000 and unpack(blob) == hashes and unpack(None) == set()


def test_seen_keys_round_trip_through_either_database(db_at):
    """Hashes are signed 64-bit (BIGINT on PostgreSQL); a reused GUID replaces keys in either table."""
    from datetime import datetime, timezone

    from botsvc.store.store import open_store

    when = datetime(2026, 1, 1, tzinfo=timezone.utc)
    store = open_store(db_at("seen.db"))
    try:
        with store.atomic():
            store.mark_seen(["guid:f\x1fa", "url:https://x/a"], "irrelevant", None, when, title="typhoon hits kanto")
            store.mark_seen(["guid:f\x1fa", "url:https://x/a"], "irrelevant", None, when)  # again: ignored
            store.touch_window("f", ["guid:f\x1fa", "url:https://x/a"], when)
        found = store.lookup_seen(["guid:f\x1fa"])
        assert found is not None and found.decision == "irrelevant"
        assert found.sketch == title_sketch("typhoon hits kanto")
        assert store.counts()["seen_hashes"] == 2
        hashes = {row["hash"] for row in store.query("SELECT hash FROM seen_hashes")}
        assert hashes == {key_hash("guid:f\x1fa"), key_hash("url:https://x/a")}
        feed_bodies = store.query("SELECT keys FROM feed_bodies")
        assert unpack(bytes(feed_bodies[0]["keys"])) == hashes

        with store.atomic():
            event = store.create_event(title="t", topic="jk", published=None, outlet="o", when=when)
            item = FeedItem(feed="f", guid="a", link="https://x/a", title="T", summary="", published=None, source="o")
            article = store.insert_article(item, topics=["jk"], keywords=[], event_id=event, similarity=None, when=when)
            store.mark_seen(["guid:f\x1fa"], "new", article, when, title="t", replace=True)
        found = store.lookup_seen(["guid:f\x1fa", "url:https://x/a"])
        assert found is not None and (found.decision, found.article_id, found.event_id) == ("new", article, event)
        assert found.others == ("url:https://x/a",)
        assert store.counts()["seen_hashes"] == 1  # the GUID's hash went with the replace
    finally:
        store.close()
