"""Retention: forgetting the identity keys of items that left their feeds long ago.

Every judged item leaves up to three identity keys (its GUID, link and title keys): a
stored article's in ``seen_items``, an irrelevant item's as 64-bit hashes in
``seen_hashes`` (:mod:`botsvc.store.seenkeys`). An irrelevant item's keys are forgotten
as soon as a tracked feed's next body no longer carries it
(:meth:`~botsvc.store.store.Store.touch_window`), so a feed whose GUIDs change on every
poll keeps one body's keys. What is left (keys of feeds no longer polled, of ad-hoc
polls, of bodies from before that rule) is pruned here when all of these hold:

* it was last seen, in a feed body that was judged, more than ``[retention]
  irrelevant_days`` ago (an item judged irrelevant) or ``seen_days`` ago (another key of
  a stored article: a GUID it was republished under, another link);
* it is not in the body last judged for a configured feed, so a feed that answers
  304 Not Modified for months keeps its items' keys however old;
* it is not one of the keys its article was stored under.

Nothing else is deleted: articles (relevant items), events, deliveries and the outbox
stay, and an article's own keys keep it from ever being stored twice. A pruned key only
means that if the item comes back, it is judged again (an irrelevant item is found
irrelevant again). Deleting runs in batches of short transactions, so other writers
wait at most one batch.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from botsvc.config import Config, RetentionSettings
from botsvc.ingest.normalise import identity_keys
from botsvc.models import FeedItem
from botsvc.store import seenkeys
from botsvc.store.portable import json_items
from botsvc.store.store import Store, iso

BATCH = 5000
"""Keys looked at per transaction."""

_OUT_OF_WINDOW = (
    "NOT EXISTS (SELECT 1 FROM feeds f WHERE f.name = s.feed AND f.window_at IS NOT NULL "
    "AND s.last_seen >= f.window_at AND f.name IN (SELECT value FROM {feeds}))"
)
_HASHES = "SELECT hash, last_seen FROM seen_hashes {} ORDER BY hash LIMIT :batch"
_FIRST_HASHES, _NEXT_HASHES = _HASHES.format(""), _HASHES.format("WHERE hash > :after")
# Keys stored with their article carry its timestamp, so they are skipped here and a
# prune does not walk every stored article's keys; _own_keys is what guarantees it.
_ARTICLE_KEYS = (
    "SELECT s.key, a.feed, a.guid, a.url, a.title, a.source FROM seen_items s "
    "JOIN articles a ON a.id = s.article_id "
    "WHERE s.key > :after AND s.last_seen < :cutoff AND s.first_seen <> a.first_seen AND "
    + _OUT_OF_WINDOW
    + " ORDER BY s.key LIMIT :batch"
)


def _article_keys(store: Store) -> str:
    return _ARTICLE_KEYS.format(feeds=json_items(store.dialect, ":feeds", "j"))


@dataclass
class PruneReport:
    irrelevant: int = 0
    """Keys of irrelevant items removed (to be removed, in a dry run)."""
    article_keys: int = 0
    """Other keys of stored articles removed (to be removed)."""
    rows_before: int = 0
    rows_after: int = 0
    dry_run: bool = False

    @property
    def removed(self) -> int:
        return self.irrelevant + self.article_keys

    def summary(self) -> str:
        verb = "would remove" if self.dry_run else "removed"
        return (
            f"seen keys: {self.rows_before} stored, {verb} {self.removed} ({self.irrelevant} of irrelevant "
            f"items, {self.article_keys} other keys of stored articles), {self.rows_after} kept"
        )


def _own_keys(feed: str, guid: str, url: str, title: str, source: str) -> list[str]:
    """The keys an article was stored under, rebuilt from its row as the pipeline made them."""
    return identity_keys(
        FeedItem(feed=feed, guid=guid, link=url, title=title, summary="", published=None, source=source)
    )


class Pruner:
    """Prunes in steps of one short transaction each; :meth:`step` until it returns False."""

    def __init__(self, settings: RetentionSettings, feeds: Collection[str], now: datetime) -> None:
        self.feeds = sorted(feeds)
        self.params = {"feeds": json.dumps(self.feeds), "batch": BATCH}
        self.irrelevant_cutoff = int((now - timedelta(days=settings.irrelevant_days)).timestamp())
        self.article_cutoff = iso(now - timedelta(days=settings.seen_days))
        self.report = PruneReport()
        self._hash_after: int | None = None  # irrelevant keys are walked in hash order, a batch a step
        self._after = ""  # article keys are walked in key order: their own keys stay behind
        self._started = False
        self._irrelevant_done = False
        self._current: set[int] = set()

    def _doomed_hashes(self, store: Store) -> list[int] | None:
        """The next batch's stale irrelevant keys (None once all were looked at)."""
        if self._hash_after is None:
            rows = store.db.execute(_FIRST_HASHES, {"batch": BATCH}).fetchall()
        else:
            rows = store.db.execute(_NEXT_HASHES, {"batch": BATCH, "after": self._hash_after}).fetchall()
        if not rows:
            return None
        self._hash_after = rows[-1][0]
        return [h for h, seen in rows if seen < self.irrelevant_cutoff and h not in self._current]

    def step(self, store: Store) -> bool:
        """Delete one batch; False when nothing is left to prune."""
        with store.atomic():
            if not self._started:
                self._started = True
                self.report.rows_before = _rows(store)
                self._current = current_keys(store, self.feeds)
            if not self._irrelevant_done:
                doomed = self._doomed_hashes(store)
                if doomed is not None:
                    store.db.conn.executemany("DELETE FROM seen_hashes WHERE hash = ?", ((h,) for h in doomed))
                    self.report.irrelevant += len(doomed)
                    return True
                self._irrelevant_done = True
            rows = store.db.execute(
                _article_keys(store), {**self.params, "cutoff": self.article_cutoff, "after": self._after}
            ).fetchall()
            if rows:
                self._after = rows[-1][0]
                doomed_keys = [row[0] for row in rows if row[0] not in _own_keys(*row[1:])]
                _delete(store, doomed_keys)
                self.report.article_keys += len(doomed_keys)
                return True
            # The bodies of feeds no longer configured protect nothing; a feed added again
            # starts with no previous body.
            configured = json_items(store.dialect, ":feeds", "j")
            store.db.execute(
                f"DELETE FROM feed_bodies WHERE feed NOT IN (SELECT value FROM {configured})",
                self.params,
            )
            self.report.rows_after = _rows(store)
            return False


def prune(
    store: Store, settings: RetentionSettings, feeds: Collection[str], now: datetime, *, dry_run: bool = False
) -> PruneReport:
    """Prune seen keys (``feeds``: the configured feeds' names, whose current items are kept)."""
    if dry_run:
        return _count(store, settings, feeds, now)
    pruner = Pruner(settings, feeds, now)
    while pruner.step(store):
        pass
    return pruner.report


def _count(store: Store, settings: RetentionSettings, feeds: Collection[str], now: datetime) -> PruneReport:
    """What :func:`prune` would remove, without writing anything."""
    pruner = Pruner(settings, feeds, now)
    pruner._current = current_keys(store, pruner.feeds)
    report = PruneReport(dry_run=True, rows_before=_rows(store))
    while (doomed := pruner._doomed_hashes(store)) is not None:
        report.irrelevant += len(doomed)
    after = ""
    while rows := store.db.execute(
        _article_keys(store), {**pruner.params, "cutoff": pruner.article_cutoff, "after": after}
    ).fetchall():
        after = rows[-1][0]
        report.article_keys += sum(1 for row in rows if row[0] not in _own_keys(*row[1:]))
    report.rows_after = report.rows_before - report.removed
    return report


def current_keys(store: Store, feeds: Collection[str]) -> set[int]:
    """Key hashes of the bodies last judged for ``feeds``."""
    current: set[int] = set()
    for (blob,) in store.db.execute(
        f"SELECT keys FROM feed_bodies WHERE feed IN (SELECT value FROM {json_items(store.dialect, '?', 'j')})",
        (json.dumps(sorted(feeds)),),
    ):
        current |= seenkeys.unpack(blob)
    return current


def configured_feeds(store: Store, config: Config) -> set[str]:
    """Names of the feeds whose current items are kept: the configuration's and those added from chat."""
    chat = {row["name"] for row in store.query("SELECT name FROM feeds WHERE origin = 'chat'")}
    return {feed.name for feed in config.feeds} | chat


def _rows(store: Store) -> int:
    """Seen keys stored: stored articles' (``seen_items``) and irrelevant items' (``seen_hashes``)."""
    counts = "SELECT (SELECT count(*) FROM seen_items) + (SELECT count(*) FROM seen_hashes)"
    return store.db.execute(counts).fetchone()[0]


def _delete(store: Store, keys: list[str]) -> None:
    store.db.conn.executemany("DELETE FROM seen_items WHERE key = ?", ((key,) for key in keys))
