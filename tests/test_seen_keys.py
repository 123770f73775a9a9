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


def test_a_cycle_reads_its_seen_keys_a_chunk_at_a_time_and_sees_its_own_writes(tmp_path, monkeypatch):
    """The keys of all the feeds judged together are read in one query per CHUNK keys, not one per feed."""
    import asyncio
    from pathlib import Path

    from botsvc.ingest.normalise import identity_keys
    from botsvc.service.app import open_app
    from botsvc.service.cycle import FeedTarget, run_cycle
    from botsvc.store import seenbatch

    monkeypatch.setattr(seenbatch, "CHUNK", 40)

    root = Path(__file__).resolve().parents[1]
    feeds = sorted((root / "examples" / "feeds").glob("*.xml"))
    # The first feed twice, under another name: its items are seen within the same batch.
    targets = [FeedTarget(name=path.stem, url=str(path)) for path in feeds]
    targets.append(FeedTarget(name="again", url=str(feeds[0])))
    app = open_app(root / "examples" / "feeds.toml", tmp_path / "s.db")
    statements: list[str] = []
    app.store.db.conn.set_trace_callback(statements.append)
    report = asyncio.run(run_cycle(app.store, app.processor, targets, app.policy, every_outcome=True))
    app.store.db.conn.set_trace_callback(None)

    reads = [sql for sql in statements if sql.startswith("SELECT") and "seen_items" in sql]
    keys = {key for feed in report.feeds for o in feed.outcomes for key in identity_keys(o.item)}
    assert len(reads) == -(-len(keys) // 40) < len(targets)  # one per CHUNK keys, not one per feed or item
    again = next(feed for feed in report.feeds if feed.target.name == "again")
    assert again.outcomes and all(o.decision == "duplicate" for o in again.outcomes)
    counts = app.store.counts()
    assert counts["seen_items"] > 0 and counts["seen_hashes"] > 0

    # Files: no ETag, judged again.
    second = asyncio.run(run_cycle(app.store, app.processor, targets, app.policy, every_outcome=True))
    assert second.outcomes and all(o.decision == "duplicate" for o in second.outcomes)
    assert app.store.counts() == counts
    app.close()


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


def test_remembered_hashes_and_word_bits_are_the_stored_ones():
    import hashlib

    def reference_sketch(title: str) -> int:
        bits = 0
        for word in set(title.split()):
            bits |= 1 << (hashlib.blake2b(word.encode(), digest_size=1).digest()[0] % 64)
        return bits - (1 << 64) if bits & (1 << 63) else bits

    titles = [f"seoul tokyo talk {n} round {n % 7} gsomia" for n in range(3000)]
    for _ in range(2):  # the second pass is answered from what was kept
        assert [title_sketch(t) for t in titles] == [reference_sketch(t) for t in titles]
        assert key_hash("url:https://example.org/a") == -853079160820712725


def test_postgres_writes_a_feeds_seen_keys_in_one_statement_per_table(postgres_url, monkeypatch):
    """A poll job's seen keys (new hashes, then the window's last-seen) cost a statement each, not one per key."""
    from datetime import datetime, timezone

    from botsvc.store.seenbatch import SeenBatch
    from botsvc.store.store import open_store

    first, later = datetime(2026, 1, 1, tzinfo=timezone.utc), datetime(2026, 1, 2, tzinfo=timezone.utc)
    keys = [f"guid:f\x1f{n}" for n in range(5)] + [f"url:https://x/{n}" for n in range(5)]
    store = open_store(postgres_url)
    try:

        def one_by_one(*args, **kwargs):
            raise AssertionError("a statement per key")

        monkeypatch.setattr(store.db, "executemany", one_by_one)
        with store.atomic():
            batch = SeenBatch(store.db.conn)
            batch.add(keys, "irrelevant", None, stamp=None, seconds=int(first.timestamp()), title="typhoon hits kanto")
            batch.add(keys[:2], "irrelevant", None, stamp=None, seconds=int(first.timestamp()), title=None)  # known
            batch.flush()
            store.touch_window("f", keys, later)
        rows = store.query("SELECT hash, last_seen, sketch FROM seen_hashes")
        assert {row["hash"] for row in rows} == {key_hash(key) for key in keys}
        assert {row["last_seen"] for row in rows} == {int(later.timestamp())}
        sketches = {row["hash"]: row["sketch"] for row in rows}
        assert sketches[key_hash(keys[0])] == title_sketch("typhoon hits kanto")
        assert sketches[key_hash(keys[-1])] is None
    finally:
        store.close()


def test_touching_a_window_rewrites_only_the_keys_whose_values_change(tmp_path):
    """Keys recorded at the time the window is stamped with (a cold cycle's) are not written twice."""
    from datetime import datetime, timedelta, timezone

    from botsvc.store.store import iso, open_store

    when = datetime(2026, 1, 1, tzinfo=timezone.utc)
    irrelevant = ["guid:f\x1fa", "url:https://x/a"]
    store = open_store(tmp_path / "w.db")
    try:
        conn = store.db.conn
        with store.atomic():
            store.mark_seen(irrelevant, "irrelevant", None, when, title="typhoon hits kanto")
            store.db.execute(
                "INSERT INTO seen_items (key, decision, first_seen, last_seen) VALUES (?, ?, ?, ?)",
                ("url:https://x/b", "new", iso(when), iso(when)),
            )
            keys = [*irrelevant, "url:https://x/b"]
            before = conn.total_changes
            store.touch_window("f", keys, when, tracked=False)
            assert conn.total_changes - before == 1  # the stored article key gets its feed; the hashes are as they were
            before = conn.total_changes
            store.touch_window("f", keys, when, tracked=False)
            assert conn.total_changes == before  # nothing left to change
            store.touch_window("f", keys, when + timedelta(hours=1), tracked=False)
            assert conn.total_changes - before == 3
        later = int((when + timedelta(hours=1)).timestamp())
        assert {row["last_seen"] for row in store.query("SELECT last_seen FROM seen_hashes")} == {later}
        rows = store.query("SELECT last_seen, feed FROM seen_items")
        assert [(row["last_seen"], row["feed"]) for row in rows] == [(iso(when + timedelta(hours=1)), "f")]
    finally:
        store.close()


def test_a_window_touched_with_hashes_made_elsewhere_is_the_one_touched_without(tmp_path):
    """Parse workers hash a feed's keys: touch_window given those hashes stores what it stores hashing them."""
    from datetime import datetime, timedelta, timezone

    import pytest

    from botsvc.store.store import open_store

    when = datetime(2026, 1, 1, tzinfo=timezone.utc)
    keys = ["guid:f\x1fa", "url:https://x/a", "title:o\x1fa typhoon"]
    tables = "SELECT * FROM seen_hashes ORDER BY hash", "SELECT * FROM feed_bodies", "SELECT name, window_at FROM feeds"
    found = []
    for name, hashes in (("own.db", None), ("given.db", [key_hash(key) for key in keys])):
        store = open_store(tmp_path / name)
        try:
            with store.atomic():
                store.ensure_feed("f", "http://127.0.0.1:9/f.xml")
                store.mark_seen(keys, "irrelevant", None, when, title="a typhoon")
                store.mark_seen(["guid:f\x1fold"], "irrelevant", None, when, title="gone")
                store.touch_window("f", ["guid:f\x1fold"], when)
                store.touch_window("f", keys, when + timedelta(hours=1), hashes=hashes)
            found.append([store.query(sql) for sql in tables])
            with pytest.raises(ValueError):
                store.touch_window("f", keys, when, hashes=[1])
        finally:
            store.close()
    assert found[0] == found[1] and len(found[0][0]) == 3  # the old body's key is forgotten either way
