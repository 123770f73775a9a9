"""Persistence: feeds' fetch state, articles, events, seen keys.

SQLite (through sqlite-utils) by default; PostgreSQL when opened with a
``postgresql://`` URL (:mod:`botsvc.store.postgres`, imported only then). The SQL is written once, in what
both accept; ``store.dialect`` names the one in use for the few parts that differ.
One :class:`Store` wraps one connection. Every write path runs inside
``store.atomic()`` so a crash leaves whole items, never half of one.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

import sqlite_utils

from botsvc.models import FeedItem
from botsvc.store import backends, errors, fileid, searchtext, seenkeys
from botsvc.store.backends import is_postgres_url
from botsvc.store.migrate import apply_migrations, apply_postgres_migrations
from botsvc.store.seenbatch import CHUNK, SeenBatch

log = logging.getLogger(__name__)


class StoreError(RuntimeError):
    """The database cannot be opened or written (path, permissions, disk, corruption)."""


class WriteOutsideTurn(StoreError):
    """A write was attempted without the process's write turn (see :mod:`botsvc.store.turn`)."""


WRITE_ACTIONS = frozenset(
    {
        sqlite3.SQLITE_INSERT,
        sqlite3.SQLITE_UPDATE,
        sqlite3.SQLITE_DELETE,
        sqlite3.SQLITE_CREATE_INDEX,
        sqlite3.SQLITE_CREATE_TABLE,
        sqlite3.SQLITE_CREATE_TRIGGER,
        sqlite3.SQLITE_CREATE_VIEW,
        sqlite3.SQLITE_DROP_INDEX,
        sqlite3.SQLITE_DROP_TABLE,
        sqlite3.SQLITE_DROP_TRIGGER,
        sqlite3.SQLITE_DROP_VIEW,
        sqlite3.SQLITE_ALTER_TABLE,
    }
)
"""SQLite authorizer actions that change the database (BEGIN is checked too: it may take the write lock)."""


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def iso(value: datetime | None) -> str | None:
    return value.astimezone(timezone.utc).isoformat(timespec="seconds") if value else None


def _seconds(value: datetime) -> int:
    """Unix seconds, as ``seen_hashes`` stores times."""
    return int(value.timestamp())


@lru_cache(maxsize=4)
def _seen_stamps(when: datetime) -> tuple[str, int]:
    """:func:`iso` and :func:`_seconds` of ``when``: every item judged in a cycle records its keys at the same time."""
    return cast(str, iso(when)), _seconds(when)


def parse_iso(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def parse_iso_required(value: str | None, what: str) -> datetime:
    """:func:`parse_iso` for a moment that is always written (a NOT NULL column): none means a damaged row."""
    moment = parse_iso(value)
    if moment is None:
        raise StoreError(f"{what}: no time recorded (damaged row?)")
    return moment


def inserted_id(cursor: Any) -> int:
    """The id an INSERT just wrote: its ``RETURNING id`` row (both databases), else SQLite's
    ``lastrowid`` or PostgreSQL's ``lastval()`` (the identity the insert drew on this connection)."""
    if cursor.description is not None:
        rows = cursor.fetchall()
        value = rows[0][0] if rows else None
    elif isinstance(cursor, sqlite3.Cursor):
        value = cursor.lastrowid
    else:
        value = cursor.connection.execute("SELECT lastval()").fetchone()[0]
    if value is None:
        raise StoreError("the database gave no id for a row just inserted")
    return int(value)


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
    poll_queued_at: str | None = None
    """When a poll of this feed was handed to the job queue (cleared when it ends)."""


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
    sketch: int | None = None
    """Word sketch of the title recorded with an irrelevant item's GUID key (seenkeys.title_sketch)."""


class Store:
    """The bot's database. Open with :func:`open_store`."""

    def __init__(self, db: Any, path: str) -> None:
        self.db = db
        """A ``sqlite_utils.Database``, or a :class:`~botsvc.store.postgres.PostgresDatabase`."""
        self.path = path
        self.dialect = "postgres" if getattr(db, "dialect", None) == "postgres" else "sqlite"
        """``"sqlite"`` or ``"postgres"``: for the few statements that differ."""
        self.identity = fileid.hold(path) if self.dialect == "sqlite" else None
        """(st_dev, st_ino) of the file opened; None for an in-memory database or PostgreSQL."""
        self._seen_batch: SeenBatch | None = None
        """Set while items are judged (:meth:`seen_batch`)."""
        self._may_write: Callable[[], bool] | None = None
        self._authorizer: Callable[[int, str | None, str | None, str | None, str | None], int] | None = None

    def refuse_writes_unless(self, allowed: Callable[[], bool]) -> None:
        """From now on, every write on this connection fails unless ``allowed()`` says yes.

        Checked by SQLite itself (an authorizer, consulted whenever a statement is
        prepared), so no write escapes, whichever helper issues it: a refused one fails
        with "not authorized" (:meth:`atomic` says :class:`WriteOutsideTurn` first) and
        never waits on another connection's lock. Call :meth:`recheck_writes` whenever
        ``allowed()`` may change: statements prepared before are prepared again, and so
        checked again, at their next use.
        """

        def authorize(action: int, arg1: str | None, arg2: str | None, schema: str | None, source: str | None) -> int:
            writes = action in WRITE_ACTIONS or (action == sqlite3.SQLITE_TRANSACTION and arg1 == "BEGIN")
            return sqlite3.SQLITE_DENY if writes and not allowed() else sqlite3.SQLITE_OK

        self._may_write = allowed
        if self.dialect != "sqlite":
            return  # PostgreSQL takes concurrent writers: only atomic() checks the turn
        self._authorizer = authorize
        self.db.conn.set_authorizer(authorize)

    def allow_writes(self) -> None:
        """Lift :meth:`refuse_writes_unless` (when the process stops sharing the database)."""
        self._may_write = self._authorizer = None
        if self.dialect == "sqlite":
            self.db.conn.set_authorizer(None)

    def recheck_writes(self) -> None:
        """Have every prepared statement checked again by :meth:`refuse_writes_unless`'s rule."""
        if self._authorizer is not None:
            self.db.conn.set_authorizer(self._authorizer)  # SQLite expires prepared statements

    def file_problem(self) -> str | None:
        """Why the database file is no longer the one this store opened (deleted, replaced,
        truncated, overwritten), or None. Cheap: one stat and one 100-byte read (and, only
        for a file shorter than its header says, a checkpoint). None on PostgreSQL (no file)."""
        if self.dialect != "sqlite":
            return None
        return fileid.problem(self.path, self.identity, checkpoint=self.checkpoint)

    def checkpoint(self) -> bool:
        """Copy the write-ahead log into the database file (without waiting for readers).

        True when every logged page is now in the file; False when some are not (a reader
        still uses an older snapshot, the disk is full), so the file may still look short.
        True on PostgreSQL, which has no such file.
        """
        if self.dialect != "sqlite":
            return True
        return _checkpoint(self.db)

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
        self._check_turn()
        if self.dialect != "sqlite":
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
        self._check_turn()
        conn.execute("BEGIN IMMEDIATE" if self.dialect == "sqlite" else "BEGIN")
        try:
            yield self
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")

    def _check_turn(self) -> None:
        if self._may_write is not None and not self._may_write():
            raise WriteOutsideTurn("a database write was attempted without the write turn")

    def close(self) -> None:
        self.db.close()
        if self.dialect != "sqlite":
            return
        fileid.release(self.identity)  # after the connection: the last store's close drops no lock

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict]:
        cursor = self.db.execute(sql, params)
        names = [d[0] for d in cursor.description or ()]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    # -- feeds ----------------------------------------------------------------
    def ensure_feed(self, name: str, url: str) -> None:
        """The feed's row, made if missing; a new URL drops the validators of the old one."""
        self.ensure_feeds([(name, url)])

    def ensure_feeds(self, feeds: Sequence[tuple[str, str]]) -> None:
        """:meth:`ensure_feed` for many ``(name, url)`` pairs: one statement."""
        self.db.conn.executemany(
            "INSERT INTO feeds (name, url) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET url = excluded.url, "
            "etag = CASE WHEN feeds.url = excluded.url THEN feeds.etag END, "
            "last_modified = CASE WHEN feeds.url = excluded.url THEN feeds.last_modified END",
            list(feeds),
        )

    def feeds_polled_before(self, names: Sequence[str]) -> set[str]:
        """Those of ``names`` with a successful poll on record: a query per :data:`CHUNK` names."""
        found: set[str] = set()
        for start in range(0, len(names), CHUNK):
            chunk = names[start : start + CHUNK]
            rows = self.db.execute(
                f"SELECT name FROM feeds WHERE name IN ({','.join('?' * len(chunk))}) AND last_success_at IS NOT NULL",
                list(chunk),
            )
            found.update(row[0] for row in rows)
        return found

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

    def record_not_modified(self, feeds: Sequence[tuple[str, str, str | None, str | None]], when: datetime) -> None:
        """Record polls answered 304 (``(name, url, etag, last_modified)`` each), as one statement.

        The same as :meth:`ensure_feed` then :meth:`record_fetch_success` with no items, for
        every feed at once: a warm cycle of a thousand unchanged feeds costs one short write.
        """
        stamp = iso(when)
        self.db.conn.executemany(
            "INSERT INTO feeds (name, url, etag, last_modified, last_polled_at, last_success_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET url = excluded.url, "
            "etag = coalesce(excluded.etag, CASE WHEN feeds.url = excluded.url THEN feeds.etag END), "
            "last_modified = coalesce(excluded.last_modified, "
            "CASE WHEN feeds.url = excluded.url THEN feeds.last_modified END), "
            "last_polled_at = excluded.last_polled_at, last_success_at = excluded.last_success_at, "
            "consecutive_failures = 0, retry_at = NULL",
            [(name, url, etag, last_modified, stamp, stamp) for name, url, etag, last_modified in feeds],
        )

    def polled_before(self, names: Iterable[str]) -> set[str]:
        """Those of ``names`` that have had a successful poll (the others' next one is their first)."""
        wanted = set(names)
        rows = self.db.execute("SELECT name FROM feeds WHERE last_success_at IS NOT NULL")
        return {row[0] for row in rows if row[0] in wanted}

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
    @contextmanager
    def seen_batch(self, key_groups: Iterable[Iterable[str]]) -> Iterator[None]:
        """Within it, :meth:`lookup_seen` and :meth:`mark_seen` work on the keys of ``key_groups``
        (items' keys) read a group at a time, a query per :data:`CHUNK` keys, and the new keys are written
        together when it ends (:mod:`botsvc.store.seenbatch`). Use inside the judging transaction.

        If it ends with an exception, what it held back is not written: the caller's
        transaction, rolled back, loses the rest of the judging with it.
        """
        if self._seen_batch is not None:  # already batching (an outer judging): it holds these too
            yield
            return
        batch = self._seen_batch = SeenBatch(self.db.conn)
        try:
            for keys in key_groups:
                batch.read(keys)
            yield
            batch.flush()
        finally:
            self._seen_batch = None

    def lookup_seen(self, keys: list[str]) -> SeenRecord | None:
        """The first of ``keys`` already recorded (keys are given strongest first).

        A stored article's keys are in ``seen_items``; an irrelevant item's, as hashes, in
        ``seen_hashes`` (:mod:`botsvc.store.seenkeys`).
        """
        if not keys:
            return None
        found: dict[str, tuple] = {}
        batch = self._seen_batch
        if batch is not None:
            batch.read(keys)
            recorded = batch.found(keys)
            if recorded is None:
                return None
            found = {entry[0]: entry for entry in recorded}
        else:
            marks = ",".join("?" * len(keys))
            for row in self.db.execute(
                f"SELECT key, decision, article_id, title FROM seen_items WHERE key IN ({marks})", keys
            ):
                found[row[0]] = (*row, None)
            hashes = {seenkeys.key_hash(key): key for key in keys if key not in found}
            if hashes:
                for hashed, sketch in self.db.execute(
                    f"SELECT hash, sketch FROM seen_hashes WHERE hash IN ({','.join('?' * len(hashes))})", list(hashes)
                ):
                    key = hashes[hashed]
                    found[key] = (key, "irrelevant", None, None, sketch)
        for key in keys:
            if key in found:
                others = tuple(k for k in keys if k in found and k != key)
                record, decision, article_id, title, sketch = found[key]
                event_id = None
                if article_id is not None:  # the article's event now (it may have merged since)
                    row = self.db.execute("SELECT event_id FROM articles WHERE id = ?", (article_id,)).fetchone()
                    event_id = row[0] if row else None
                return SeenRecord(record, decision, article_id, event_id, title, others=others, sketch=sketch)
        return None

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

        Keys of an item with no article (judged irrelevant) are stored as hashes. ``title``
        is kept with the GUID key (a word sketch of it, for an irrelevant item); ``replace``
        overwrites existing keys (a reused GUID), whichever table they were in.
        """
        stamp, seconds = _seen_stamps(when)
        batch = self._seen_batch
        if batch is not None:
            if not replace:
                batch.add(keys, decision, article_id, stamp=stamp, seconds=seconds, title=title)
                return
            batch.flush()  # then overwrite in the database, in order, and note it
            batch.replaced(keys, decision, article_id, title)
        conn = self.db.conn
        if article_id is None:
            if replace:
                conn.executemany("DELETE FROM seen_items WHERE key = ?", ((key,) for key in keys))
            sketch = seenkeys.title_sketch(title)
            conflict = "DO NOTHING"
            if replace:
                conflict = "DO UPDATE SET last_seen = excluded.last_seen, sketch = excluded.sketch"
            conn.executemany(
                f"INSERT INTO seen_hashes (hash, last_seen, sketch) VALUES (?, ?, ?) ON CONFLICT (hash) {conflict}",
                [(seenkeys.key_hash(key), _seconds(when), sketch if key.startswith("guid:") else None) for key in keys],
            )
            return
        if replace:
            conn.executemany("DELETE FROM seen_hashes WHERE hash = ?", ((seenkeys.key_hash(key),) for key in keys))
        conflict = (
            "DO UPDATE SET decision = excluded.decision, article_id = excluded.article_id, "
            "first_seen = excluded.first_seen, last_seen = excluded.last_seen, title = excluded.title, feed = NULL"
            if replace
            else "DO NOTHING"
        )
        conn.executemany(
            "INSERT INTO seen_items (key, decision, article_id, first_seen, last_seen, title) "
            f"VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key) {conflict}",
            [(key, decision, article_id, stamp, stamp, title if key.startswith("guid:") else None) for key in keys],
        )

    def touch_window(
        self,
        feed: str,
        keys: Iterable[str],
        when: datetime,
        *,
        tracked: bool = True,
        hashes: Sequence[int] | None = None,
    ) -> None:
        """Record that ``feed``'s current body, judged ``when``, carries the items with ``keys``.

        Call inside the feed's transaction, after its items were judged. Retention keeps
        these keys while they are in the body last judged for a configured feed.

        For a tracked feed, the keys of irrelevant items that were in its previous body and
        are not in this one are forgotten now: such an item can only be seen again if the
        feed serves it again, and then it is judged afresh (irrelevant again under the same
        rules, so nothing is stored or alerted). A feed whose items all change on every
        poll so keeps one body's keys, not every body's for ``irrelevant_days``. A body
        with no items forgets nothing (a feed that glitched empty keeps its last body).
        ``hashes``: each key's :func:`~botsvc.store.seenkeys.key_hash`, if made already.
        """
        stamp, seconds = iso(when), _seconds(when)
        keys = list(keys)
        hashes = [seenkeys.key_hash(key) for key in keys] if hashes is None else list(hashes)
        if len(hashes) != len(keys):
            raise ValueError("touch_window: one hash per key")
        conn = self.db.conn
        # Rows that already hold these values are left alone: the keys recorded by the judging
        # just before (at the same time) would only be rewritten as they are, and in a big
        # cycle's one transaction every page written stays dirty until it commits.
        items_changed = "(last_seen IS NULL OR last_seen <> ? OR feed IS NULL OR feed <> ?)"
        if self.dialect == "postgres":  # one statement per table, not one per key
            self.db.execute(
                f"UPDATE seen_items SET last_seen = ?, feed = ? WHERE key = ANY(?) AND {items_changed}",
                (stamp, feed, keys, stamp, feed),
            )
            self.db.execute(
                "UPDATE seen_hashes SET last_seen = ? WHERE hash = ANY(?) AND last_seen <> ?",
                (seconds, hashes, seconds),
            )
        else:  # one statement per CHUNK keys, not one per key
            for start in range(0, len(keys), CHUNK):
                chunk, hashed = keys[start : start + CHUNK], hashes[start : start + CHUNK]
                marks = ",".join("?" * len(chunk))
                conn.execute(
                    f"UPDATE seen_items SET last_seen = ?, feed = ? WHERE key IN ({marks}) AND {items_changed}",
                    [stamp, feed, *chunk, stamp, feed],
                )
                conn.execute(
                    f"UPDATE seen_hashes SET last_seen = ? WHERE hash IN ({marks}) AND last_seen <> ?",
                    [seconds, *hashed, seconds],
                )
        if not tracked:
            return
        self.db.execute("UPDATE feeds SET window_at = ? WHERE name = ?", (stamp, feed))
        if not hashes:
            return
        body = set(hashes)
        row = self.db.execute("SELECT keys FROM feed_bodies WHERE feed = ?", (feed,)).fetchone()
        if row is not None:
            before = seenkeys.unpack(row[0])
            if before == body:
                return  # the same items as last time (a feed without ETag): nothing to rewrite
            conn.executemany("DELETE FROM seen_hashes WHERE hash = ?", ((h,) for h in before - body))
        self.db.execute(
            "INSERT INTO feed_bodies (feed, keys) VALUES (?, ?) ON CONFLICT (feed) DO UPDATE SET keys = excluded.keys",
            (feed, seenkeys.pack(body)),
        )

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
            "last_published, member_count) VALUES (?, ?, ?, ?, ?, ?, ?, 1) RETURNING id",
            (title, topic, int(seeded), iso(when), iso(when), iso(published), iso(published)),
        )
        event_id = inserted_id(cursor)
        self._add_outlet(event_id, outlet)
        return event_id

    def _add_outlet(self, event_id: int, outlet: str) -> None:
        """Note that ``outlet`` reported ``event_id`` (after the outlets that reported it first).

        The next position is read from the index on (event_id, position) in one step: the
        cost does not grow with the outlets the event has (counting them did)."""
        self.db.execute(
            "INSERT INTO event_outlets (event_id, outlet, position) "
            "SELECT ?, ?, coalesce(max(position) + 1, 0) FROM event_outlets WHERE event_id = ? "
            "ON CONFLICT DO NOTHING",
            (event_id, outlet, event_id),
        )

    def event_outlets(self, event_id: int) -> list[str]:
        """The outlets that reported an event, in order of their first report."""
        rows = self.db.execute(
            "SELECT outlet FROM event_outlets WHERE event_id = ? ORDER BY position, outlet", (event_id,)
        )
        return [row[0] for row in rows]

    def add_event_member(self, event_id: int, *, published: datetime | None, outlet: str, when: datetime) -> None:
        row = self.db.execute("SELECT first_published, last_published FROM events WHERE id = ?", (event_id,)).fetchone()
        if row is None:
            raise StoreError(f"event {event_id} does not exist")
        first, last = parse_iso(row[0]), parse_iso(row[1])
        if published is not None:
            first = published if first is None or published < first else first
            last = published if last is None or published > last else last
        self.db.execute(
            "UPDATE events SET member_count = member_count + 1, last_seen = ?, "
            "first_published = ?, last_published = ? WHERE id = ?",
            (iso(when), iso(first), iso(last), event_id),
        )
        self._add_outlet(event_id, outlet)

    def event(self, event_id: int) -> dict | None:
        """An event's row, with ``outlets``: the outlets that reported it, in order of first report."""
        rows = self.query("SELECT * FROM events WHERE id = ?", (event_id,))
        if not rows:
            return None
        row = rows[0]
        row["outlets"] = self.event_outlets(event_id)
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
            "UPDATE events SET title = CASE WHEN seeded <> 0 THEN title ELSE ? END, first_seen = ?, "
            "last_seen = ?, first_published = ?, last_published = ?, member_count = ? "
            "WHERE id = ?",
            (
                members[0]["title"],
                seen[0],
                seen[-1],
                published[0] if published else None,
                published[-1] if published else None,
                len(members),
                event_id,
            ),
        )
        if outlets != self.event_outlets(event_id):
            self.db.execute("DELETE FROM event_outlets WHERE event_id = ?", (event_id,))
            self.db.conn.executemany(
                "INSERT INTO event_outlets (event_id, outlet, position) VALUES (?, ?, ?)",
                [(event_id, outlet, position) for position, outlet in enumerate(outlets)],
            )

    def hold_back_event(self, event_id: int, reason: str) -> None:
        """Mark an event the cycle never alerts (``reported``: opened by a person's report)."""
        self.db.execute("UPDATE events SET held_back = ? WHERE id = ?", (reason, event_id))

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
    def insert_article(self, item: FeedItem, **fields: Any) -> int:
        """Store an article; its id (the fields and what they mean: :meth:`insert_placed_article`)."""
        return self.insert_placed_article(item, **fields)[0]

    def insert_placed_article(
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
        relevance: dict | None = None,
    ) -> tuple[int, int | None]:
        """:meth:`insert_article`, returning the article's id and the placement number it took
        (the placement clock's value once it is stored, :mod:`botsvc.store.placement`)."""
        # SQLite's index triggers call search_text(); PostgreSQL gets the same words as a tsvector.
        # SQLite: the row carries its placement number, so the clock's trigger need not rewrite it
        # (migration placement_writes); PostgreSQL's trigger sets it before the row is written.
        extra, values, vector = ", placed_seq", ", (SELECT seq + 1 FROM placement_clock)", cast(tuple[str, ...], ())
        if self.dialect != "sqlite":
            extra, values = ", search", ", ?::tsvector"
            vector = (searchtext.tsvector(item.title, item.summary, item.body),)
        cursor = self.db.execute(
            "INSERT INTO articles (feed, guid, url, title, summary, body, published, source, byline, language, "
            "topics, matched_keywords, event_id, similarity, first_seen, fingerprint, event_time, "
            f"duplicate_of, placement, neighbours, relevance{extra}) "
            f"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?{values}) RETURNING id, placed_seq",
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
                json.dumps(relevance, ensure_ascii=False) if relevance is not None else None,
                *vector,
            ),
        )
        rows = cursor.fetchall()
        if not rows or rows[0][0] is None:
            raise StoreError("the database gave no id for a row just inserted")
        return int(rows[0][0]), None if rows[0][1] is None else int(rows[0][1])

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
            "CASE WHEN byline = '' THEN source ELSE source || ? || byline END AS outlet "
            "FROM articles WHERE event_id IS NOT NULL ORDER BY id",
            (OUTLET_SEPARATOR,),
        )

    def refresh_fingerprints(self, make: Callable[[str, str, str], bytes], batch: int = 500) -> int:
        """Make every grouped article's fingerprint again from its text (the concepts changed).

        In batches, each its own write turn, so a large archive never holds one long
        transaction; an interrupted refresh is simply run again. Returns the articles refreshed.
        """
        done, last = 0, 0
        while True:
            rows = self.db.execute(
                "SELECT id, title, summary, body FROM articles "
                "WHERE event_id IS NOT NULL AND id > ? ORDER BY id LIMIT ?",
                (last, batch),
            ).fetchall()
            if not rows:
                return done
            updates = [(make(title, summary, body), article_id) for article_id, title, summary, body in rows]
            with self.atomic():
                self.db.conn.executemany("UPDATE articles SET fingerprint = ? WHERE id = ?", updates)
            done += len(rows)
            last = rows[-1][0]

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
            row["relevance"] = json.loads(row["relevance"]) if row.get("relevance") else None
        return rows

    def counts(self) -> dict[str, int]:
        return {
            table: self.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("feeds", "articles", "events", "seen_items", "seen_hashes")
        }


OUTLET_SEPARATOR = "\x1f"
"""Between an outlet's name and a byline in an outlet key (SQLite's char(31), bound as a value)."""


def is_busy(exc: Exception) -> bool:
    """A lock held by someone else: worth retrying later, unlike a full or read-only disk."""
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def database_problem(exc: Exception) -> str:
    """A short operator-facing description of a database failure."""
    if is_busy(exc):
        return "the database is locked by another process (busy for more than 10 s)"
    text = str(exc).lower()
    if "readonly" in text or "read-only" in text:
        return "the database or its directory is read-only"
    if "full" in text:
        return "the disk is full"
    if "disk i/o" in text:
        return "disk I/O error"
    if "connection" in text and ("refused" in text or "closed" in text or "lost" in text or "terminat" in text):
        return "the database server cannot be reached (" + (str(exc).splitlines() or [""])[0] + ")"
    return (str(exc).splitlines() or [""])[0]


def _checkpoint(db: sqlite_utils.Database) -> bool:
    """A passive checkpoint; True when every page of the write-ahead log is in the file."""
    try:
        _busy, logged, copied = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    except sqlite3.Error:
        return False
    return bool(logged == copied)


def finish_pending_checkpoint(db: sqlite_utils.Database, path: str) -> None:
    """At start-up: complete a checkpoint a full disk interrupted, or refuse a truncated file.

    A checkpoint writes page 1 (with the new page count) before the pages that grow the
    file; when the disk fills in between, the file is shorter than its header says but
    every page is still in the write-ahead log, so the database is whole: finish the
    checkpoint, log one line, carry on. Only a file whose missing pages are in neither is
    truncated (restore it); one the full disk still keeps short is used as it is.
    """
    identity = fileid.identify(path)
    short = fileid.looks_short(path, identity)
    if short is None:
        return
    size, expected = short
    if _checkpoint(db) and fileid.looks_short(path, identity) is None:
        log.info(
            "database %s: finished a checkpoint that was interrupted (the file had %d of %d bytes; "
            "the rest were in its write-ahead log)",
            path,
            size,
            expected,
        )
        return
    try:
        check = db.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.DatabaseError as exc:  # "database disk image is malformed"
        check = str(exc)
    if check != "ok":
        raise StoreError(
            f"database {path} is truncated ({size} bytes; its header says {expected}) and its "
            "write-ahead log does not hold the rest; restore it from a backup"
        )
    log.warning(
        "database %s: its write-ahead log is not yet copied into the file (is the disk full?); "
        "nothing is lost, a later checkpoint copies it",
        path,
    )


def check_directory(path: str | Path) -> None:
    """Refuse a database path whose directory is missing or is not a directory.

    No folders are made: a mistyped ``--db`` would otherwise quietly start a second, empty
    database (which alerts everything again) somewhere nobody looks.
    """
    path = str(path)
    if path == ":memory:":
        return
    parent = Path(path).expanduser().parent
    if parent.is_dir():
        return
    existing = parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise StoreError(f"database {path}: {existing} is not a directory (check --db)")
    raise StoreError(f"database {path}: the directory {parent} does not exist; create it first (or check --db)")


def open_store(path: str | Path, *, migrate: bool = True, create: bool = True) -> Store:
    """Open the database at ``path`` (SQLite, in WAL mode) or a ``postgresql://`` URL, fully migrated.

    ``create``: make it if it does not exist. Commands that only read or change settings
    pass False, so a mistyped ``--db`` is an error rather than an empty database (on
    PostgreSQL the database itself is made by its administrator; ``create`` is moot).
    """
    path = str(path)
    if is_postgres_url(path):
        return _open_postgres(path, migrate=migrate)
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
        check_directory(path)
        conn = sqlite3.connect(path, timeout=10.0)
        searchtext.register(conn)  # the search index's triggers call it
        db = sqlite_utils.Database(conn)
        db.execute("PRAGMA busy_timeout = 10000")
        db.execute("PRAGMA foreign_keys = ON")
        if create and path != ":memory:":
            finish_pending_checkpoint(db, path)
        if path != ":memory:":
            db.enable_wal()
        db.execute("PRAGMA synchronous = NORMAL")
        store = Store(db, path)
        if migrate:
            apply_migrations(db.conn)
    except StoreError:
        raise
    except (sqlite3.Error, OSError, RuntimeError) as exc:
        raise StoreError(f"cannot open database {path}: {exc}") from exc
    return store


def _open_postgres(url: str, *, migrate: bool) -> Store:
    """A store on a PostgreSQL connection from the process's pool for ``url``, migrated once per process."""
    from botsvc.store import postgres  # psycopg and its pool load only here, not in a process on SQLite

    shown = backends.redacted(url)
    try:
        db = postgres.pooled(url)
    except errors.DatabaseError as exc:
        raise StoreError(f"cannot open database {shown}: {database_problem(exc)}") from exc
    try:
        if migrate and not postgres.migrated(url):
            apply_postgres_migrations(db)
            postgres.mark_migrated(url)
    except errors.DatabaseError + (OSError, RuntimeError) as exc:
        db.close()
        raise StoreError(f"cannot open database {shown}: {exc}") from exc
    return Store(db, url)  # the URL itself: workers reopen it (messages show backends.redacted(url))
