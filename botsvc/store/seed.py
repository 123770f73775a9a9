"""Load the seeded article set into the store as one archived event.

The seeded reports are the archive every later story is deduplicated against: a
new item about the same event joins it and is never alerted.
"""

from __future__ import annotations

from botsvc.ingest.normalise import identity_keys
from botsvc.models import FeedItem
from botsvc.store.events import EventBook, item_fingerprint
from botsvc.store.seed_data import SEED_EVENT_TITLE, SeedArticle, load_seed_articles
from botsvc.store.store import Store, utcnow

SEED_FEED = "seed"
SEED_TOPIC = "japan-korea"


def seed_item(article: SeedArticle) -> FeedItem:
    """A seeded report as a feed item (full body, true publication date)."""
    return FeedItem(
        feed=SEED_FEED,
        guid=article.key,
        link=article.url or article.key,
        title=article.title,
        summary=article.lead,
        published=article.published,
        source=article.outlet,
        language="en",
        body=article.body,
    )


def seed_archive(store: Store, events: EventBook | None = None, articles: list[SeedArticle] | None = None) -> int:
    """Store the seeded articles as one event; returns how many were added (0 when already seeded)."""
    articles = articles if articles is not None else load_seed_articles()
    events = events or EventBook(store)
    now = utcnow()
    added = 0
    with store.atomic():
        event_id = store.seeded_event_id()
        for article in articles:
            item = seed_item(article)
            keys = identity_keys(item)
            if store.lookup_seen(keys) is not None:
                continue
            if event_id is None:
                event_id = store.create_event(
                    title=SEED_EVENT_TITLE,
                    topic=SEED_TOPIC,
                    published=article.published,
                    outlet=article.outlet,
                    when=now,
                    seeded=True,
                )
            else:
                store.add_event_member(event_id, published=article.published, outlet=article.outlet, when=now)
            fingerprint = item_fingerprint(item)
            event_time = article.published or now
            article_id = store.insert_article(
                item,
                topics=[SEED_TOPIC],
                keywords=[],
                event_id=event_id,
                similarity=None,
                when=now,
                fingerprint=fingerprint.to_bytes(),
                event_time=event_time,
                placement="seeded archive",
            )
            store.mark_seen(keys, "seeded", article_id, now)
            events.record(article_id, event_id, fingerprint, event_time)
            added += 1
    return added
