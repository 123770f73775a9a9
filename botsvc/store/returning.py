"""The id an ``INSERT … RETURNING id`` wrote: one way to ask for it on every database."""

from __future__ import annotations

from typing import Any

from botsvc.store.store import StoreError


def returned_id(cursor: Any) -> int:
    """The id of the one row an ``INSERT … RETURNING id`` just wrote (all rows read, so the statement ends)."""
    rows = cursor.fetchall()
    if not rows or rows[0][0] is None:
        raise StoreError("the database gave no id for a row just inserted")
    return int(rows[0][0])
