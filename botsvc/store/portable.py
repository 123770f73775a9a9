"""SQL that SQLite and PostgreSQL spell differently, written once for both.

Most statements are plain standard SQL; these helpers cover the few idioms that are not
(SQLite's ``UPDATE OR IGNORE``, ``group_concat``), so store code stays one text.
"""

from __future__ import annotations

from typing import Any

_EVENT_ROW_KEYS = {
    "deliveries": ("subscription_id",),
    "event_mutes": ("subscription_id",),
    "relevance_feedback": ("platform", "workspace", '"user"'),
}
"""Tables keyed by event and something else: what, besides the event, makes a row unique."""


def move_event_rows(db: Any, table: str, new_event: int, old_event: int) -> None:
    """Move ``table``'s rows of ``old_event`` to ``new_event``, skipping those the new event
    already has (what ``UPDATE OR IGNORE`` did); the caller deletes what stayed behind."""
    keys = _EVENT_ROW_KEYS[table]
    same = " AND ".join(f"o.{key} = {table}.{key}" for key in keys)
    db.execute(
        f"UPDATE {table} SET event_id = ? WHERE event_id = ? "
        f"AND NOT EXISTS (SELECT 1 FROM {table} o WHERE o.event_id = ? AND {same})",
        (new_event, old_event, new_event),
    )


def joined(dialect: str, expression: str, separator: str) -> str:
    """An aggregate joining ``expression`` over a group with ``separator`` (a SQL string literal)."""
    function = "string_agg" if dialect == "postgres" else "group_concat"
    return f"{function}({expression}, {separator})"


def json_items(dialect: str, expression: str, alias: str) -> str:
    """A FROM item yielding the elements of the JSON array ``expression`` as rows ``alias.value``."""
    if dialect == "postgres":
        return f"jsonb_array_elements_text(CAST({expression} AS jsonb)) AS {alias}(value)"
    return f"json_each({expression}) {alias}"


def find(dialect: str, haystack: str, needle: str) -> str:
    """The 1-based position of ``needle`` in ``haystack`` (0 when absent): SQLite's instr, PostgreSQL's strpos."""
    return f"{'strpos' if dialect == 'postgres' else 'instr'}({haystack}, {needle})"


def json_ids(dialect: str, expression: str) -> str:
    """A subquery of the ids in the JSON array ``expression`` (one parameter, any number of ids)."""
    if dialect == "postgres":
        return f"SELECT CAST(value AS BIGINT) FROM {json_items(dialect, expression, 'j')}"
    return f"SELECT value FROM {json_items(dialect, expression, 'j')}"
