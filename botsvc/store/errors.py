"""The database's own failures, by names the rest of the bot may catch, on either back-end.

Callers outside the store never import the database driver: they catch
:data:`DatabaseError` (a full or read-only disk, a lock held too long, a damaged file, a
lost PostgreSQL connection), which tells a failure of the database apart from one of the
message or feed at hand. Each name is a tuple of SQLite's and psycopg's class, so one
``except`` clause holds on both.
"""

from __future__ import annotations

import sqlite3

import psycopg

DatabaseError = (sqlite3.Error, psycopg.Error)
"""Any failure of the database (full disk, lost connection, constraint, bad SQL)."""

IntegrityError = (sqlite3.IntegrityError, psycopg.IntegrityError)
"""A constraint refused a row (unique key, foreign key, check)."""

OperationalError = (sqlite3.OperationalError, psycopg.OperationalError)
"""The database could not do it now (locked, read-only, unreachable)."""

__all__ = ["DatabaseError", "IntegrityError", "OperationalError"]
