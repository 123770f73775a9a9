"""The database's own failures, by names the rest of the bot may catch, on either back-end.

Callers outside the store never import the database driver: they catch
:data:`DatabaseError` (a full or read-only disk, a lock held too long, a damaged file, a
lost PostgreSQL connection), which tells a failure of the database apart from one of the
message or feed at hand. Each name is a tuple of SQLite's class and, once psycopg is
loaded, psycopg's, so one ``except`` clause holds on both.

A process on SQLite never loads psycopg (about 13 MB and a slower start), so the tuples
are made when they are read: psycopg's class is in them whenever psycopg is loaded, and
none of its errors can exist before. Read them at ``except`` time, as
``errors.DatabaseError`` after ``from botsvc.store import errors``; a name bound at
import (``from botsvc.store.errors import DatabaseError``) would keep the tuple of that
moment, without psycopg's class (tests/test_no_postgres_driver.py refuses it).
"""

from __future__ import annotations

import sqlite3
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    DatabaseError: tuple[type[Exception], ...]
    """Any failure of the database (full disk, lost connection, constraint, bad SQL)."""

    IntegrityError: tuple[type[Exception], ...]
    """A constraint refused a row (unique key, foreign key, check)."""

    OperationalError: tuple[type[Exception], ...]
    """The database could not do it now (locked, read-only, unreachable)."""

_CLASSES: dict[str, tuple[type[Exception], str]] = {
    "DatabaseError": (sqlite3.Error, "Error"),
    "IntegrityError": (sqlite3.IntegrityError, "IntegrityError"),
    "OperationalError": (sqlite3.OperationalError, "OperationalError"),
}
"""Each name: SQLite's class and the name of psycopg's (in ``psycopg.errors``)."""


def __getattr__(name: str) -> tuple[type[Exception], ...]:
    """``DatabaseError``, ``IntegrityError`` or ``OperationalError`` as of now (see the module's docstring)."""
    if name not in _CLASSES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    sqlite_class, psycopg_name = _CLASSES[name]
    driver = sys.modules.get("psycopg.errors")
    psycopg_class = getattr(driver, psycopg_name, None) if driver is not None else None
    return (sqlite_class,) if psycopg_class is None else (sqlite_class, psycopg_class)


__all__ = ["DatabaseError", "IntegrityError", "OperationalError"]
