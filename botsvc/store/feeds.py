"""Feed rows as chat, the service and ``botsvc status`` read them, and removing a chat-added feed.

Polling state (ETag, failures, backoff) is written by :class:`botsvc.store.store.Store`;
adding a feed from chat or an OPML list by :mod:`botsvc.store.feedlist`.
"""

from __future__ import annotations

from botsvc.store.store import Store


def feed_rows(store: Store) -> list[dict]:
    """Every stored feed's row, in no particular order."""
    return store.query("SELECT * FROM feeds")


def feed_names_at(store: Store, url: str) -> list[str]:
    """The names of the stored feeds that poll ``url``."""
    return [row["name"] for row in store.query("SELECT name FROM feeds WHERE url = ?", (url,))]


def feed_origin(store: Store, name: str) -> dict | None:
    """``origin, added_by`` of the feed named ``name``; None when no such feed is stored."""
    rows = store.query("SELECT origin, added_by FROM feeds WHERE name = ?", (name,))
    return rows[0] if rows else None


def delete_feed(store: Store, name: str) -> None:
    """Stop polling a feed; its stored stories stay."""
    store.db.execute("DELETE FROM feeds WHERE name = ?", (name,))


def chat_feeds(store: Store) -> list[tuple[str, str]]:
    """(name, url) of the feeds added from chat or an OPML list, by name."""
    return [
        (row["name"], row["url"])
        for row in store.query("SELECT name, url FROM feeds WHERE origin = 'chat' ORDER BY name")
    ]


def failing_feeds(store: Store) -> list[dict]:
    """``name, consecutive_failures, last_error, last_success_at, retry_at`` of the feeds whose
    last polls failed, by name."""
    return store.query(
        "SELECT name, consecutive_failures, last_error, last_success_at, retry_at FROM feeds "
        "WHERE consecutive_failures > 0 ORDER BY name"
    )
