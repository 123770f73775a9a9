"""The database's own failures, by names the rest of the bot may catch.

Callers outside the store never import the database driver: they catch
:data:`DatabaseError` (a full or read-only disk, a lock held too long, a damaged file),
which tells a failure of the database apart from one of the message or feed at hand.
"""

from __future__ import annotations

import sqlite3

DatabaseError = sqlite3.Error
"""Any failure reported by the database driver (SQLite's ``sqlite3.Error``)."""

__all__ = ["DatabaseError"]
