"""Seen keys of irrelevant items are stored as hashes: the hash must never drift."""

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
