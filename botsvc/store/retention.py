"""Retention: forgetting the identity keys of items that left their feeds long ago.

Every judged item leaves up to three rows in ``seen_items`` (its GUID, link and title
keys), so a feed whose GUIDs or titles change on every poll grows the table without
bound. A key is pruned when all of these hold:

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
from botsvc.store.store import Store, iso

BATCH = 5000
"""Keys looked at per transaction."""

_OUT_OF_WINDOW = (
    "NOT EXISTS (SELECT 1 FROM feeds f WHERE f.name = s.feed AND f.window_at IS NOT NULL "
    "AND s.last_seen >= f.window_at AND f.name IN (SELECT value FROM json_each(:feeds)))"
)
_IRRELEVANT = (
    "SELECT s.key FROM seen_items s WHERE s.last_seen < :cutoff AND s.article_id IS NULL AND " + _OUT_OF_WINDOW
)
# Keys stored with their article carry its timestamp, so they are skipped here and a
# prune does not walk every stored article's keys; _own_keys is what guarantees it.
_ARTICLE_KEYS = (
    "SELECT s.key, a.feed, a.guid, a.url, a.title, a.source FROM seen_items s "
    "JOIN articles a ON a.id = s.article_id "
    "WHERE s.key > :after AND s.last_seen < :cutoff AND s.first_seen <> a.first_seen AND "
    + _OUT_OF_WINDOW
    + " ORDER BY s.key LIMIT :batch"
)


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
        self.params = {"feeds": json.dumps(sorted(feeds)), "batch": BATCH}
        self.irrelevant_cutoff = iso(now - timedelta(days=settings.irrelevant_days))
        self.article_cutoff = iso(now - timedelta(days=settings.seen_days))
        self.report = PruneReport()
        self._after = ""  # article keys are walked in key order: their own keys stay behind
        self._started = False
        self._irrelevant_done = False

    def step(self, store: Store) -> bool:
        """Delete one batch; False when nothing is left to prune."""
        with store.atomic():
            if not self._started:
                self._started = True
                self.report.rows_before = _rows(store)
            if not self._irrelevant_done:
                keys = [
                    row[0]
                    for row in store.db.execute(
                        _IRRELEVANT + " LIMIT :batch", {**self.params, "cutoff": self.irrelevant_cutoff}
                    )
                ]
                if keys:
                    _delete(store, keys)
                    self.report.irrelevant += len(keys)
                    return True
                self._irrelevant_done = True
            rows = store.db.execute(
                _ARTICLE_KEYS, {**self.params, "cutoff": self.article_cutoff, "after": self._after}
            ).fetchall()
            if rows:
                self._after = rows[-1][0]
                doomed = [row[0] for row in rows if row[0] not in _own_keys(*row[1:])]
                _delete(store, doomed)
                self.report.article_keys += len(doomed)
                return True
            self.report.rows_after = _rows(store)
            return False


def prune(
    store: Store, settings: RetentionSettings, feeds: Collection[str], now: datetime, *, dry_run: bool = False
) -> PruneReport:
    """Prune ``seen_items`` (``feeds``: the configured feeds' names, whose current items are kept)."""
    if dry_run:
        return _count(store, settings, feeds, now)
    pruner = Pruner(settings, feeds, now)
    while pruner.step(store):
        pass
    return pruner.report


def _count(store: Store, settings: RetentionSettings, feeds: Collection[str], now: datetime) -> PruneReport:
    """What :func:`prune` would remove, without writing anything."""
    pruner = Pruner(settings, feeds, now)
    report = PruneReport(dry_run=True, rows_before=_rows(store))
    report.irrelevant = store.db.execute(
        f"SELECT count(*) FROM ({_IRRELEVANT})", {**pruner.params, "cutoff": pruner.irrelevant_cutoff}
    ).fetchone()[0]
    after = ""
    while rows := store.db.execute(
        _ARTICLE_KEYS, {**pruner.params, "cutoff": pruner.article_cutoff, "after": after}
    ).fetchall():
        after = rows[-1][0]
        report.article_keys += sum(1 for row in rows if row[0] not in _own_keys(*row[1:]))
    report.rows_after = report.rows_before - report.removed
    return report


def configured_feeds(store: Store, config: Config) -> set[str]:
    """Names of the feeds whose current items are kept: the configuration's and those added from chat."""
    chat = {row["name"] for row in store.query("SELECT name FROM feeds WHERE origin = 'chat'")}
    return {feed.name for feed in config.feeds} | chat


def _rows(store: Store) -> int:
    return store.db.execute("SELECT count(*) FROM seen_items").fetchone()[0]


def _delete(store: Store, keys: list[str]) -> None:
    store.db.conn.executemany("DELETE FROM seen_items WHERE key = ?", ((key,) for key in keys))
