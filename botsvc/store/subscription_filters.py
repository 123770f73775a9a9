"""Subscription filter words (include/exclude) and the text an event is filtered on.

:mod:`botsvc.deliver.filters` parses and matches the words; these read and write them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from botsvc.store.store import Store


def filter_words(store: Store, subscription_id: int) -> list[tuple[str, str]]:
    """(word, kind) of one subscription: includes first, then excludes, each by word."""
    rows = store.query(
        "SELECT word, kind FROM subscription_filters WHERE subscription_id = ? ORDER BY kind DESC, word",
        (subscription_id,),
    )
    return [(row["word"], row["kind"]) for row in rows]


def add_filter_words(store: Store, rows: Iterable[tuple[int, str, str]]) -> None:
    """Add (subscription id, word, kind) rows; a word the subscription has already stays as it is."""
    store.db.conn.executemany(
        "INSERT INTO subscription_filters (subscription_id, word, kind) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        list(rows),
    )


def has_filter_word(store: Store, subscription_ids: Sequence[int], word: str, kinds: Sequence[str]) -> bool:
    """Whether any of the subscriptions has ``word`` as one of ``kinds``."""
    if not subscription_ids:
        return False
    marks = ", ".join("?" * len(subscription_ids))
    return bool(
        store.query(
            f"SELECT 1 FROM subscription_filters WHERE subscription_id IN ({marks}) AND word = ? "
            f"AND kind IN ({', '.join('?' * len(kinds))})",
            (*subscription_ids, word, *kinds),
        )
    )


def delete_filter_word(store: Store, subscription_ids: Sequence[int], word: str, kinds: Sequence[str]) -> None:
    """Remove ``word`` as each of ``kinds`` from the subscriptions."""
    if not subscription_ids:
        return
    marks = ", ".join("?" * len(subscription_ids))
    store.db.execute(
        f"DELETE FROM subscription_filters WHERE subscription_id IN ({marks}) AND word = ? "
        f"AND kind IN ({', '.join('?' * len(kinds))})",
        (*subscription_ids, word, *kinds),
    )


def event_filter_text(store: Store, event_id: int) -> list[tuple[str, str]]:
    """(title, summary) of each of the event's reports, then (the event's title, '')."""
    rows = store.query(
        "SELECT title, summary FROM articles WHERE event_id = ? UNION ALL SELECT title, '' FROM events WHERE id = ?",
        (event_id, event_id),
    )
    return [(row["title"], row["summary"]) for row in rows]
