"""SQLite persistence (sqlite-utils): feeds' fetch state, articles, events, seen keys.

One :class:`Store` wraps one connection. Every write path runs inside
``store.atomic()`` so a crash leaves whole items, never half of one.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import sqlite_utils

from botsvc.models import FeedItem
from botsvc.store import fileid, searchtext
from botsvc.store.migrate import apply_migrations


class StoreError(RuntimeError):
    """The database cannot be opened or written (path, permissions, disk, corruption)."""


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def iso(value: datetime | None) -> str | None:
    return value.astimezone(timezone.utc).isoformat(timespec="seconds") if value else None


def parse_iso(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def parse_iso_required(value: str | None, what: str) -> datetime:
    """:func:`parse_iso` for a moment that is always written (a NOT NULL column): none means a damaged row."""
    moment = parse_iso(value)
    if moment is None:
        raise StoreError(f"{what}: no time recorded (damaged row?)")
    return moment


def inserted_id(cursor: sqlite3.Cursor) -> int:
    """The rowid an INSERT just wrote (sqlite3 leaves ``lastrowid`` None only on a cursor that ran nothing)."""
    if cursor.lastrowid is None:
        raise StoreError("the database gave no id for a row just inserted")
    return cursor.lastrowid


@dataclass(frozen=True)
class FeedState:
    name: str
    url: str
    etag: str | None
    last_modified: str | None
    last_polled_at: str | None
    last_success_at: str | None
    last_error: str | None
    last_error_at: str | None
    consecutive_failures: int
    items_seen: int
    origin: str = "config"
    added_by: str | None = None
    retry_at: str | None = None
    window_at: str | None = None
    """When the feed's current body was judged (its items' keys were last seen then)."""


@dataclass(frozen=True)
class SeenRecord:
    key: str
    decision: str
    article_id: int | None
    event_id: int | None
    title: str | None = None
    """Normalised title recorded with a GUID key (None for other keys and older rows)."""
    others: tuple[str, ...] = ()
    """The other given keys that were also recorded."""


class Store:
    """The bot's database. Open with :func:`open_store`."""

    def __init__(self, db: sqlite_utils.Database, path: str) -> None:
        self.db = db
        self.path = path
        self.identity = fileid.identify(path)
        """(st_dev, st_ino) of the file opened; None for an in-memory database."""

    def file_problem(self) -> str | None:
        """Why the database file is no longer the one this store opened (deleted, replaced,
        truncated, overwritten), or None. Cheap: one stat and one 100-byte read."""
        return fileid.problem(self.path, self.identity)

    # -- plumbing -------------------------------------------------------------
    @contextmanager
    def atomic(self) -> Iterator[Store]:
        """A write transaction (nested: a savepoint).

        The outermost one starts with BEGIN IMMEDIATE, so it takes the write lock up front
        and waits (busy_timeout) for another process's writes to finish; a deferred
        transaction that read first would instead fail at once when it tries to write.
        """
        conn = self.db.conn
        if conn.in_transaction:
            with self.db.atomic():
                yield self
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    @contextmanager
    def rehearsal(self) -> Iterator[Store]:
        """A write transaction that is always rolled back: to see what writes would do.

        Not nestable: a rollback inside someone else's transaction would undo their work.
        """
        conn = self.db.conn
        if conn.in_transaction:
            raise RuntimeError("a rehearsal cannot run inside another transaction")
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")

    def close(self) -> None:
        self.db.close()

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict]:
        cursor = self.db.execute(sql, params)
        names = [d[0] for d in cursor.description or ()]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    # -- feeds ----------------------------------------------------------------
    def ensure_feed(self, name: str, url: str) -> None:
        self.db.execute(
            "INSERT INTO feeds (name, url) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET url = excluded.url, "
            "etag = CASE WHEN feeds.url = excluded.url THEN feeds.etag END, "
            "last_modified = CASE WHEN feeds.url = excluded.url THEN feeds.last_modified END",
            (name, url),
        )

    def feed_state(self, name: str) -> FeedState | None:
        rows = self.query("SELECT * FROM feeds WHERE name = ?", (name,))
        return FeedState(**rows[0]) if rows else None

    def feed_states(self) -> list[FeedState]:
        return [FeedState(**row) for row in self.query("SELECT * FROM feeds ORDER BY name")]

    def record_fetch_success(
        self, name: str, *, etag: str | None, last_modified: str | None, items: int, when: datetime
    ) -> None:
        stamp = iso(when)
        self.db.execute(
            "UPDATE feeds SET etag = coalesce(?, etag), last_modified = coalesce(?, last_modified), "
            "last_polled_at = ?, last_success_at = ?, consecutive_failures = 0, retry_at = NULL, "
            "items_seen = items_seen + ? WHERE name = ?",
            (etag, last_modified, stamp, stamp, items, name),
        )

    def record_fetch_error(self, name: str, error: str, when: datetime) -> None:
        stamp = iso(when)
        self.db.execute(
            "UPDATE feeds SET last_polled_at = ?, last_error = ?, last_error_at = ?, "
            "consecutive_failures = consecutive_failures + 1 WHERE name = ?",
            (stamp, error, stamp, name),
        )

    def set_retry_at(self, name: str, when: datetime) -> None:
        self.db.execute("UPDATE feeds SET retry_at = ? WHERE name = ?", (iso(when), name))

    # -- seen keys ------------------------------------------------------------
    def lookup_seen(self, keys: list[str]) -> SeenRecord | None:
        """The first of ``keys`` already recorded (keys are given strongest first)."""
        if not keys:
            return None
        marks = ",".join("?" * len(keys))
        rows = self.db.execute(
            f"SELECT s.key, s.decision, s.article_id, a.event_id, s.title FROM seen_items s "
            f"LEFT JOIN articles a ON a.id = s.article_id WHERE s.key IN ({marks})",
            keys,
        ).fetchall()
        if not rows:
            return None
        by_key = {row[0]: row for row in rows}
        for key in keys:
            if key in by_key:
                others = tuple(k for k in keys if k in by_key and k != key)
                found, decision, article_id, event_id, title = by_key[key]
                return SeenRecord(found, decision, article_id, event_id, title, others=others)
        return None  # pragma: no cover

    def mark_seen(
        self,
        keys: list[str],
        decision: str,
        article_id: int | None,
        when: datetime,
        *,
        title: str | None = None,
        replace: bool = False,
    ) -> None:
        """Record identity keys. Call inside :meth:`atomic` (the hot path adds no savepoint).

        ``title`` is kept with the GUID key; ``replace`` overwrites existing keys (a reused GUID).
        """
        stamp = iso(when)
        verb = "INSERT OR REPLACE" if replace else "INSERT OR IGNORE"
        self.db.conn.executemany(
            f"{verb} INTO seen_items (key, decision, article_id, first_seen, last_seen, title) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(key, decision, article_id, stamp, stamp, title if key.startswith("guid:") else None) for key in keys],
        )

    def touch_window(self, feed: str, keys: Iterable[str], when: datetime, *, tracked: bool = True) -> None:
        """Record that ``feed``'s current body, judged ``when``, carries the items with ``keys``.

        Call inside the feed's transaction, after its items were judged. Retention keeps
        these keys while they are in the body last judged for a configured feed.
        """
        stamp = iso(when)
        self.db.conn.executemany(
            "UPDATE seen_items SET last_seen = ?, feed = ? WHERE key = ?", ((stamp, feed, key) for key in keys)
        )
        if tracked:
            self.db.execute("UPDATE feeds SET window_at = ? WHERE name = ?", (stamp, feed))

    # -- events ---------------------------------------------------------------
    def create_event(
        self,
        *,
        title: str,
        topic: str | None,
        published: datetime | None,
        outlet: str,
        when: datetime,
        seeded: bool = False,
    ) -> int:
        """A new event whose first member (published by ``outlet``) is being stored."""
        cursor = self.db.execute(
            "INSERT INTO events (title, topic, seeded, first_seen, last_seen, first_published, "
            "last_published, member_count, outlets) VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?)",
            (
                title,
                topic,
                int(seeded),
                iso(when),
                iso(when),
                iso(published),
                iso(published),
                json.dumps([outlet], ensure_ascii=False),
            ),
        )
        return inserted_id(cursor)

    def add_event_member(self, event_id: int, *, published: datetime | None, outlet: str, when: datetime) -> None:
        row = self.db.execute(
            "SELECT outlets, first_published, last_published FROM events WHERE id = ?", (event_id,)
        ).fetchone()
        if row is None:
            raise StoreError(f"event {event_id} does not exist")
        outlets = json.loads(row[0])
        if outlet not in outlets:
            outlets.append(outlet)
        first, last = parse_iso(row[1]), parse_iso(row[2])
        if published is not None:
            first = published if first is None or published < first else first
            last = published if last is None or published > last else last
        self.db.execute(
            "UPDATE events SET member_count = member_count + 1, outlets = ?, last_seen = ?, "
            "first_published = ?, last_published = ? WHERE id = ?",
            (json.dumps(outlets, ensure_ascii=False), iso(when), iso(first), iso(last), event_id),
        )

    def event(self, event_id: int) -> dict | None:
        rows = self.query("SELECT * FROM events WHERE id = ?", (event_id,))
        if not rows:
            return None
        row = rows[0]
        row["outlets"] = json.loads(row["outlets"])
        return row

    def event_articles(self, event_id: int) -> list[dict]:
        """Members of an event, earliest report first (undated ones by when they were seen)."""
        return self._decode_articles(
            self.query(
                "SELECT * FROM articles WHERE event_id = ? ORDER BY coalesce(published, first_seen), id",
                (event_id,),
            )
        )

    def refresh_event(self, event_id: int) -> None:
        """Recompute an event's span, size and outlets from its member articles.

        Used after members moved between events (``botsvc rebuild-events``); an event
        left without members is deleted, unless it was merged into another. A non-seeded
        event is titled after its first report.
        """
        members = self.query(
            "SELECT title, source, published, first_seen FROM articles WHERE event_id = ? ORDER BY event_time, id",
            (event_id,),
        )
        if not members:
            # A merged event's row stays: its id answers with the event it went into.
            self.db.execute("DELETE FROM events WHERE id = ? AND merged_into IS NULL", (event_id,))
            return
        outlets = list(dict.fromkeys(m["source"] for m in members))
        published = sorted(m["published"] for m in members if m["published"])
        seen = sorted(m["first_seen"] for m in members)
        self.db.execute(
            "UPDATE events SET title = CASE WHEN seeded THEN title ELSE ? END, first_seen = ?, "
            "last_seen = ?, first_published = ?, last_published = ?, member_count = ?, outlets = ? "
            "WHERE id = ?",
            (
                members[0]["title"],
                seen[0],
                seen[-1],
                published[0] if published else None,
                published[-1] if published else None,
                len(members),
                json.dumps(outlets, ensure_ascii=False),
                event_id,
            ),
        )

    def get_state(self, key: str) -> str | None:
        """A value the bot keeps about itself (``bot_state``), or None."""
        row = self.db.execute("SELECT value FROM bot_state WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_state(self, key: str, value: str) -> None:
        self.db.execute(
            "INSERT INTO bot_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def seeded_event_id(self) -> int | None:
        row = self.db.execute("SELECT id FROM events WHERE seeded = 1 ORDER BY id LIMIT 1").fetchone()
        return int(row[0]) if row else None

    # -- articles -------------------------------------------------------------
    def insert_article(
        self,
        item: FeedItem,
        *,
        topics: list[str],
        keywords: list[str],
        event_id: int | None,
        similarity: float | None,
        when: datetime,
        fingerprint: bytes | None = None,
        event_time: datetime | None = None,
        duplicate_of: int | None = None,
        placement: str = "",
        neighbours: list[tuple[int, float]] | None = None,
    ) -> int:
        cursor = self.db.execute(
            "INSERT INTO articles (feed, guid, url, title, summary, body, published, source, byline, language, "
            "topics, matched_keywords, event_id, similarity, first_seen, fingerprint, event_time, "
            "duplicate_of, placement, neighbours) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                item.feed,
                item.guid,
                item.link,
                item.title,
                item.summary,
                item.body,
                iso(item.published),
                item.source,
                item.byline,
                item.language,
                json.dumps(topics, ensure_ascii=False),
                json.dumps(keywords, ensure_ascii=False),
                event_id,
                similarity,
                iso(when),
                fingerprint,
                iso(event_time or item.event_time or when),
                duplicate_of,
                placement,
                json.dumps(neighbours or []),
            ),
        )
        return inserted_id(cursor)

    def article_fingerprints(self, backfill: Callable[[str, str, str], bytes]) -> list[dict]:
        """``id, event_id, fingerprint, event_time, outlet`` of every article, in storage order.

        Articles stored before fingerprints existed get one from ``backfill(title,
        summary, body)``, saved so the next start-up reads it.
        """
        missing = self.db.execute(
            "SELECT id, title, summary, body FROM articles WHERE fingerprint IS NULL AND event_id IS NOT NULL"
        ).fetchall()
        if missing:
            with self.atomic():
                self.db.conn.executemany(
                    "UPDATE articles SET fingerprint = ? WHERE id = ?",
                    [(backfill(title, summary, body), article_id) for article_id, title, summary, body in missing],
                )
        return self.query(
            "SELECT id, event_id, fingerprint, event_time, "
            "CASE WHEN byline = '' THEN source ELSE source || char(31) || byline END AS outlet "
            "FROM articles WHERE event_id IS NOT NULL ORDER BY id"
        )

    def record_republished_copy(self, item: FeedItem, original_id: int, similarity: float, when: datetime) -> None:
        """Remember an item found to be a near-verbatim copy of article ``original_id`` (for ``explain``)."""
        self.db.execute(
            "INSERT INTO republished_copies (feed, guid, url, title, published, original_id, similarity, first_seen) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                item.feed,
                item.guid,
                item.link,
                item.title,
                iso(item.published),
                original_id,
                similarity,
                iso(when),
            ),
        )

    def article(self, article_id: int) -> dict | None:
        rows = self._decode_articles(self.query("SELECT * FROM articles WHERE id = ?", (article_id,)))
        return rows[0] if rows else None

    @staticmethod
    def _decode_articles(rows: list[dict]) -> list[dict]:
        for row in rows:
            row["topics"] = json.loads(row["topics"])
            row["matched_keywords"] = json.loads(row["matched_keywords"])
        return rows

    def counts(self) -> dict[str, int]:
        return {
            table: self.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("feeds", "articles", "events", "seen_items")
        }


def is_busy(exc: sqlite3.Error) -> bool:
    """A lock held by someone else: worth retrying later, unlike a full or read-only disk."""
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def database_problem(exc: sqlite3.Error) -> str:
    """A short operator-facing description of an SQLite failure."""
    if is_busy(exc):
        return "the database is locked by another process (busy for more than 10 s)"
    text = str(exc).lower()
    if "readonly" in text or "read-only" in text:
        return "the database or its directory is read-only"
    if "full" in text:
        return "the disk is full"
    if "disk i/o" in text:
        return "disk I/O error"
    return str(exc)


def open_store(path: str | Path, *, migrate: bool = True, create: bool = True) -> Store:
    """Open the database at ``path``, in WAL mode, fully migrated.

    ``create``: make it if it does not exist. Commands that only read or change settings
    pass False, so a mistyped ``--db`` is an error rather than an empty database.
    """
    path = str(path)
    if path != ":memory:" and not Path(path).expanduser().is_file():
        if not create:
            raise StoreError(f"database {path} does not exist (only run, poll and seed create one; check --db)")
        if fileid.lost_marker(path).exists():
            raise StoreError(
                f"database {path} was lost while the bot ran ({fileid.lost_marker(path)} says how); "
                f"restore it from a backup, or delete {fileid.lost_marker(path).name} to start an "
                "empty database (every story is then alerted again)"
            )
    elif create and path != ":memory:":
        fileid.lost_marker(path).unlink(missing_ok=True)  # the database was restored
    try:
        if path != ":memory:":
            Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=10.0)
        searchtext.register(conn)  # the search index's triggers call it
        db = sqlite_utils.Database(conn)
        db.execute("PRAGMA busy_timeout = 10000")
        db.execute("PRAGMA foreign_keys = ON")
        if path != ":memory:":
            db.enable_wal()
        db.execute("PRAGMA synchronous = NORMAL")
        if migrate:
            apply_migrations(db.conn)
    except (sqlite3.Error, OSError, RuntimeError) as exc:
        raise StoreError(f"cannot open database {path}: {exc}") from exc
    return Store(db, path)
