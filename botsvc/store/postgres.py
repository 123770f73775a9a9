"""The PostgreSQL side of the store: a connection that takes the SQL written for SQLite.

The store's statements are written once, in the SQL both databases accept (``?`` or
``:name`` placeholders, ``ON CONFLICT``, ``RETURNING id``); :class:`PostgresDatabase`
offers what the store uses of a ``sqlite_utils.Database`` (``execute``, ``executemany``,
``conn.in_transaction``, ``atomic``, ``close``) and turns placeholders into psycopg's
(``%s``, ``%(name)s``) on the way. The connection is in autocommit mode and
:meth:`Store.atomic` issues BEGIN/COMMIT (savepoints when nested), as on SQLite.

Only a ``postgresql://`` URL imports this module (and with it psycopg and its pool); what
any process needs to tell a URL from a path is in :mod:`botsvc.store.backends`.
"""

from __future__ import annotations

import atexit
import os
import secrets
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import pq
from psycopg.adapt import Loader
from psycopg_pool import ConnectionPool, PoolTimeout

from botsvc.store.backends import quote_literal, redacted, to_psycopg


class _NumberLoader(Loader):
    """``numeric`` (what ``sum()`` of a bigint gives) as int when whole, else float, as SQLite answers."""

    def load(self, data: Any) -> int | float:
        text = bytes(data).decode()
        return int(text) if text.lstrip("-").isdigit() else float(text)


Params = Sequence[Any] | Mapping[str, Any]


class PostgresDatabase:
    """One psycopg connection (autocommit) with the store's SQLite-style calling convention."""

    dialect = "postgres"

    def __init__(self, conn: psycopg.Connection[Any], *, on_close: Any = None) -> None:
        self.raw = conn
        conn.adapters.register_loader("numeric", _NumberLoader)
        self._on_close = on_close
        self.interrupt: Callable[[], int] | None = None
        """When it answers non-zero, the next statement fails (as SQLite's progress handler makes
        the running one fail): a stopping worker's transaction rolls back at its next step."""

    @property
    def conn(self) -> PostgresDatabase:
        """Itself: store code reaches ``db.conn.executemany`` / ``db.conn.in_transaction`` on both back-ends."""
        return self

    @property
    def in_transaction(self) -> bool:
        return self.raw.info.transaction_status != pq.TransactionStatus.IDLE

    def execute(self, sql: str, params: Params | None = None) -> psycopg.Cursor[Any]:
        self._check_interrupt()
        return self.raw.execute(to_psycopg(sql), params if params is not None else ())

    def executemany(self, sql: str, params: Iterable[Params]) -> psycopg.Cursor[Any]:
        self._check_interrupt()
        cursor = self.raw.cursor()
        cursor.executemany(to_psycopg(sql), list(params))
        return cursor

    def _check_interrupt(self) -> None:
        if self.interrupt is not None and self.in_transaction and self.interrupt():
            raise psycopg.errors.QueryCanceled("interrupted: the worker is stopping")

    def executescript(self, sql: str) -> None:
        """Run several statements as they are (no placeholders): migrations."""
        self.raw.execute(sql.encode())

    def commit(self) -> None:
        if self.in_transaction:
            self.raw.execute("COMMIT")

    def rollback(self) -> None:
        if self.in_transaction:
            self.raw.execute("ROLLBACK")

    @contextmanager
    def atomic(self) -> Iterator[PostgresDatabase]:
        """A transaction, or a savepoint inside one (as ``sqlite_utils.Database.atomic``)."""
        if not self.in_transaction:
            self.raw.execute("BEGIN")
            try:
                yield self
            except BaseException:
                self.rollback()
                raise
            else:
                self.raw.execute("COMMIT")
            return
        name = f"sp_{secrets.token_hex(8)}"
        self.raw.execute(f"SAVEPOINT {name}")
        try:
            yield self
        except BaseException:
            if self.in_transaction:
                self.raw.execute(f"ROLLBACK TO SAVEPOINT {name}")
                self.raw.execute(f"RELEASE SAVEPOINT {name}")
            raise
        else:
            self.raw.execute(f"RELEASE SAVEPOINT {name}")

    def close(self) -> None:
        if self.raw.closed:
            return
        if self._on_close is not None:
            self.rollback()
            self._on_close(self.raw)
        else:
            self.raw.close()


def connect(url: str) -> PostgresDatabase:
    """A new autocommit connection to ``url`` (not pooled)."""
    return PostgresDatabase(psycopg.connect(url, autocommit=True, connect_timeout=10))


POOL_SIZE = 10
"""Connections per process and database at most (``BOTSVC_DATABASE_POOL`` overrides)."""

_pools: dict[str, ConnectionPool] = {}
_migrated: set[str] = set()
_at_exit: list[object] = []
_pools_lock = threading.Lock()


def pool(url: str) -> ConnectionPool:
    """The process's connection pool for ``url`` (made at first use): the web process opens a
    store per request, and each borrows a connection instead of opening one."""
    with _pools_lock:
        found = _pools.get(url)
        if found is None:
            psycopg.connect(url, connect_timeout=10).close()  # a wrong URL or a server down: its own error, at once
            size = int(os.environ.get("BOTSVC_DATABASE_POOL") or POOL_SIZE)
            found = ConnectionPool(
                url,
                min_size=1,
                max_size=max(1, size),
                kwargs={"autocommit": True, "connect_timeout": 10},
                check=ConnectionPool.check_connection,
                timeout=30,
                open=False,
                name="botsvc",
            )
            try:
                found.open(wait=True, timeout=15)
            except PoolTimeout as exc:
                found.close()
                raise psycopg.OperationalError(f"cannot connect to {redacted(url)} within 15 s") from exc
            if not _at_exit:
                _at_exit.append(atexit.register(close_pools))  # hand connections back to the server at exit
            _pools[url] = found
        return found


def pooled(url: str) -> PostgresDatabase:
    """A connection borrowed from :func:`pool`; closing the database gives it back."""
    owner = pool(url)
    return PostgresDatabase(owner.getconn(), on_close=owner.putconn)


def migrated(url: str) -> bool:
    return url in _migrated


def mark_migrated(url: str) -> None:
    _migrated.add(url)


def close_pools() -> None:
    """Close every pool of this process (at exit, or before a test drops its database)."""
    with _pools_lock:
        for each in _pools.values():
            each.close()
        _pools.clear()
        _migrated.clear()


INSTANCE_LOCK = 0x626F7473766302
"""The advisory lock key one polling process per database holds ("botsvc" and 2)."""


def hold_instance_lock(url: str, holder: str) -> PostgresDatabase:
    """A connection holding the database's one-poller lock (close it to release); raises
    ``StoreError`` when another process holds it, naming that process."""
    from botsvc.store.store import StoreError

    try:
        db = connect(url)
        db.execute("SET application_name = " + quote_literal(holder[:60]))
        got = db.execute("SELECT pg_try_advisory_lock(?)", (INSTANCE_LOCK,)).fetchone()
        if got is not None and got[0]:
            return db
        row = db.execute(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objid = ? AND l.database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())",
            (INSTANCE_LOCK & 0xFFFFFFFF,),
        ).fetchone()
        db.close()
    except psycopg.Error as exc:
        raise StoreError(f"cannot lock database {redacted(url)}: {(str(exc).splitlines() or [''])[0]}") from None
    who = (row[0] if row and row[0] else "") or "another process"
    raise StoreError(
        f"{redacted(url)} is in use by {who}; stop it first "
        "(two processes polling one database could post the same message twice)"
    )
