"""Database errors of either back-end, for ``except`` clauses that must hold on both.

``except errors.DatabaseError`` catches what ``except sqlite3.Error`` caught, and the
same failures from PostgreSQL (psycopg).
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
