"""Feeds added outside ``feeds.toml``: from chat (``/news feed add``) or an OPML import.

Both are stored the same way (``origin = 'chat'``): polled at the chat-feed interval and
fetched public-only on every poll, so an imported list cannot point the bot into its own
network any more than a chat user can. Both are checked the same way before they are
stored: fetched and parsed once (:func:`botsvc.ingest.feedcheck.check_feed`), a page
leading to the feed it names; the caller does that before any write.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from botsvc.config import Config
from botsvc.ingest.feedcheck import CheckedFeed, FeedCheckError, check_address
from botsvc.ingest.fetch import UNREACHABLE
from botsvc.ingest.normalise import outlet_name
from botsvc.ingest.opml import ListedFeed, Outline
from botsvc.store.store import Store

MAX_NAME = 80


def add_feed(store: Store, name: str, url: str, *, added_by: str) -> None:
    """Store a feed that is polled from now on, as one added from chat."""
    with store.atomic():
        store.ensure_feed(name, url)
        store.db.execute("UPDATE feeds SET origin = 'chat', added_by = ? WHERE name = ?", (added_by, name))


def known_names(store: Store, config: Config) -> set[str]:
    """Names in use, and those of removed tenants' feeds (whose stored stories keep their owner)."""
    return (
        {f.name for f in config.feeds}
        | {r["name"] for r in store.query("SELECT name FROM feeds")}
        | {r["feed"] for r in store.query("SELECT feed FROM feed_tenants")}
    )


def name_taken(name: str, known: Iterable[str]) -> bool:
    """Whether ``name`` is, or looks exactly like, one of ``known``."""
    return any(name in (other, outlet_name(other)) for other in known)


def is_polled(store: Store, config: Config, url: str) -> bool:
    return bool(store.query("SELECT 1 FROM feeds WHERE url = ?", (url,))) or url in {f.url for f in config.feeds}


def unique_name(title: str, url: str, known: Iterable[str]) -> str:
    """A feed name from its title (or host) that does not pass for a known one."""
    name = outlet_name(title)[:MAX_NAME] or (urlsplit(url).hostname or url)[:MAX_NAME]
    return f"{name} ({url[:60]})"[:120] if name_taken(name, known) else name


@dataclass(frozen=True)
class ImportResult:
    outline: Outline
    outcome: Literal["added", "skipped", "refused"]
    detail: str
    """The name given (added) or why not (skipped, refused)."""


def addresses_to_check(store: Store, config: Config, outlines: Iterable[Outline]) -> list[str]:
    """The outlines' addresses worth fetching: not refused by their form, not polled yet."""
    urls = []
    for outline in outlines:
        try:
            check_address(outline.url)
        except FeedCheckError:
            continue
        if not is_polled(store, config, outline.url):
            urls.append(outline.url)
    return list(dict.fromkeys(urls))


def import_outlines(
    store: Store,
    config: Config,
    outlines: Iterable[Outline],
    *,
    added_by: str,
    checked: Mapping[str, CheckedFeed | FeedCheckError],
) -> list[ImportResult]:
    """Add each outline's feed unless it is already polled, its address is refused or it
    failed its check (``checked``: what :func:`check_feeds` found at each address to check).

    Each feed is stored in a transaction of its own: one refused outline never blocks the rest.
    """
    results = []
    for outline in outlines:
        url = outline.url
        try:
            check_address(url)
        except FeedCheckError as exc:
            reason = "an internal address (only feeds.toml may name those)" if str(exc) == UNREACHABLE else str(exc)
            results.append(ImportResult(outline, "refused", reason))
            continue
        if is_polled(store, config, url):
            results.append(ImportResult(outline, "skipped", "already polled"))
            continue
        found = checked.get(url, FeedCheckError("not checked"))
        if isinstance(found, FeedCheckError):
            results.append(ImportResult(outline, "refused", str(found)))
            continue
        if found.url != url and is_polled(store, config, found.url):
            results.append(ImportResult(outline, "skipped", f"its feed {found.url} is already polled"))
            continue
        name = unique_name(outline.title or found.title, found.url, known_names(store, config))
        add_feed(store, name, found.url, added_by=added_by)
        results.append(ImportResult(outline, "added", name))
    return results


def listed_feeds(store: Store, config: Config) -> list[ListedFeed]:
    """Every feed: those of ``feeds.toml`` (with their language), then those added since."""
    configured = [ListedFeed(f.name, f.url, f.language) for f in config.feeds]
    names = {f.name for f in config.feeds}
    added = [
        ListedFeed(row["name"], row["url"])
        for row in store.query("SELECT name, url FROM feeds WHERE origin = 'chat' ORDER BY name")
        if row["name"] not in names
    ]
    return configured + added
