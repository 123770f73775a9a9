"""The seen keys of the items being judged: read a few hundred at a time, written in one statement per table.

Judging an item looks up its identity keys and records them. Done item by item that is
a few statements per item; a :class:`SeenBatch` instead reads the keys of all the items
judged together (whatever their feeds) in one query per :data:`CHUNK` keys (one per table
on PostgreSQL), answers the lookups from memory, and holds the new keys back until the
batch ends (:meth:`SeenBatch.flush`), keeping memory and database in step: what an earlier
item of the same batch recorded is seen by a later one exactly as if it had been written.

It is only ever used inside the transaction that judges the items (see
:meth:`botsvc.store.store.Store.seen_batch`); nothing it holds outlives it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from botsvc.store import seenkeys

CHUNK = 400
"""Keys per query: well under SQLite's limit on parameters."""

ItemRow = tuple[str, int | None, str | None]
"""A ``seen_items`` row: decision, article id, title (with a GUID key)."""
SeenEntry = tuple[str, str, int | None, str | None, int | None]
"""A recorded key: the key, decision, article id, title, word sketch (an irrelevant item's GUID)."""


class SeenBatch:
    """``seen_items`` and ``seen_hashes`` as far as the batch's keys go (None: not there)."""

    def __init__(self, conn: Any) -> None:
        """``conn``: the store's connection (``store.db.conn``), on either database."""
        self.conn = conn
        self.items: dict[str, ItemRow | None] = {}
        self.hashes: dict[int, int | None] = {}
        """Hash -> the sketch stored with it (None for no sketch), for the hashes that are stored."""
        self._hashed: dict[str, int] = {}
        """Key -> its hash, for the keys read: each is looked up and recorded after it is read."""
        self._new_items: list[tuple[str, str, int | None, str | None, str | None, str | None]] = []
        self._new_hashes: list[tuple[int, int, int | None]] = []

    def knows(self, key: str) -> bool:
        return key in self.items

    def _hash(self, key: str) -> int:
        hashed = self._hashed.get(key)
        if hashed is None:
            hashed = self._hashed[key] = seenkeys.key_hash(key)
        return hashed

    def read(self, keys: Iterable[str]) -> None:
        """Read the stored rows of ``keys`` (those not known yet): a query per table and :data:`CHUNK` keys
        (per table on PostgreSQL)."""
        known = self.items
        for key in keys:  # judging asks for known keys most of the time: no list for them
            if key not in known:
                break
        else:
            return
        wanted = [key for key in keys if key not in known]
        wanted = list(dict.fromkeys(wanted))
        self.flush()  # the database must hold what the batch recorded before it is asked
        postgres = getattr(self.conn, "dialect", "sqlite") == "postgres"
        size = len(wanted) if postgres else CHUNK  # PostgreSQL takes the keys as one array parameter
        for start in range(0, len(wanted), size):
            chunk = wanted[start : start + size]
            hashes = [self._hash(key) for key in chunk]
            # Two queries, not one UNION: the tables' key columns differ in type (text, integer),
            # which PostgreSQL refuses to unite.
            if postgres:
                items = self.conn.execute(
                    "SELECT key, decision, article_id, title FROM seen_items WHERE key = ANY(?)", (chunk,)
                ).fetchall()
                stored = self.conn.execute(
                    "SELECT hash, sketch FROM seen_hashes WHERE hash = ANY(?::bigint[])", (hashes,)
                ).fetchall()
            else:
                marks = ",".join("?" * len(chunk))
                items = self.conn.execute(
                    f"SELECT key, decision, article_id, title FROM seen_items WHERE key IN ({marks})", chunk
                ).fetchall()
                stored = self.conn.execute(
                    f"SELECT hash, sketch FROM seen_hashes WHERE hash IN ({marks})", hashes
                ).fetchall()
            for key in chunk:
                self.items[key] = None
            for key, decision, article_id, title in items:
                self.items[key] = (decision, article_id, title)
            for hashed, sketch in stored:
                self.hashes[hashed] = sketch

    def found(self, keys: Sequence[str]) -> list[SeenEntry] | None:
        """The recorded ones among ``keys`` (all read), in their order, as ``(key, decision, article id,
        title, sketch)``; None when none is (most items of a poll: one pass, nothing built)."""
        items, hashes, hashed = self.items, self.hashes, self._hashed
        out: list[SeenEntry] | None = None
        for key in keys:
            row = items[key]
            entry: SeenEntry
            if row is not None:
                entry = (key, *row, None)
            else:
                number = hashed.get(key)
                if number is None:
                    number = self._hash(key)
                if number not in hashes:
                    continue
                entry = (key, "irrelevant", None, None, hashes[number])
            if out is None:
                out = [entry]
            else:
                out.append(entry)
        return out

    def stored_hash(self, key: str) -> tuple[bool, int | None]:
        """Whether ``key``'s hash is in ``seen_hashes``, and the sketch stored with it."""
        hashed = self._hash(key)
        return hashed in self.hashes, self.hashes.get(hashed)

    def add(
        self,
        keys: Sequence[str],
        decision: str,
        article_id: int | None,
        *,
        stamp: str | None,
        seconds: int,
        title: str | None,
    ) -> None:
        """Record ``keys`` that are not stored yet (insert unless stored), in memory until :meth:`flush`."""
        self.read(keys)
        if article_id is None:
            sketch = seenkeys.title_sketch(title)
            for key in keys:
                hashed = self._hash(key)
                if hashed in self.hashes:
                    continue
                kept = sketch if key.startswith("guid:") else None
                self.hashes[hashed] = kept
                self._new_hashes.append((hashed, seconds, kept))
            return
        for key in keys:
            if self.items.get(key) is not None:
                continue
            kept_title = title if key.startswith("guid:") else None
            self.items[key] = (decision, article_id, kept_title)
            self._new_items.append((key, decision, article_id, stamp, stamp, kept_title))

    def replaced(self, keys: Sequence[str], decision: str, article_id: int | None, title: str | None) -> None:
        """Note that ``keys`` were just overwritten in the database (a reused GUID), whichever table they were in."""
        sketch = seenkeys.title_sketch(title) if article_id is None else None
        for key in keys:
            hashed = self._hash(key)
            kept = title if key.startswith("guid:") else None
            if article_id is None:
                self.items[key] = None
                self.hashes[hashed] = sketch if key.startswith("guid:") else None
            else:
                self.items[key] = (decision, article_id, kept)
                self.hashes.pop(hashed, None)

    def flush(self) -> None:
        """Write the keys recorded since the last flush: one statement per table.

        In key order: a chunk's keys are scattered over the whole table, and written in
        order each page is visited once, not once per key that lands on it.
        """
        self._new_hashes.sort()
        self._new_items.sort()
        if self._new_hashes and getattr(self.conn, "dialect", "sqlite") == "postgres":
            columns = [list(column) for column in zip(*self._new_hashes, strict=True)]
            self.conn.execute(  # one statement, not one per row
                "INSERT INTO seen_hashes (hash, last_seen, sketch) "
                "SELECT * FROM unnest(?::bigint[], ?::bigint[], ?::bigint[]) ON CONFLICT (hash) DO NOTHING",
                columns,
            )
            self._new_hashes = []
        elif self._new_hashes:
            self.conn.executemany(
                "INSERT INTO seen_hashes (hash, last_seen, sketch) VALUES (?, ?, ?) ON CONFLICT (hash) DO NOTHING",
                self._new_hashes,
            )
            self._new_hashes = []
        if self._new_items:
            self.conn.executemany(
                "INSERT INTO seen_items (key, decision, article_id, first_seen, last_seen, title) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
                self._new_items,
            )
            self._new_items = []
