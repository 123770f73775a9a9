"""A generated RSS feed of many GSOMIA items, for tests and benchmarks of big polls.

Every item names GSOMIA (so each one is judged relevant and placed into an event,
the expensive path) and tells a different story in words drawn from a fixed
vocabulary, so items rarely fold into one event. Deterministic for a given size.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from xml.sax.saxutils import escape

_WORDS = (
    "minister parliament seoul tokyo trade export control semiconductor chip supply chain "
    "intelligence military pact renewal deadline dispute ruling court labour wartime compensation "
    "boycott beer cars tourism flights airline retailer uniqlo samsung hynix fluoride photoresist "
    "polyimide ministry official spokesman briefing summit talks envoy negotiation washington alliance "
    "missile launch drill navy radar destroyer patrol aircraft island dokdo takeshima fisheries "
    "whitelist retaliation sanction tariff wto complaint panel appeal economy growth won yen market "
    "investors shares index exporters importers factory output jobs budget election poll approval "
    "president prime assembly opposition party leader protest rally candle citizens students"
).split()


def _item(index: int, rng: random.Random, when: datetime) -> str:
    words = rng.choices(_WORDS, k=60)
    title = f"GSOMIA report {index}: " + " ".join(words[:8])
    summary = "South Korea and Japan GSOMIA " + " ".join(words[8:]) + f" case {index}."
    return (
        f"<item><title>{escape(title)}</title>"
        f"<link>https://news.example/gsomia/{index}</link>"
        f"<guid>gsomia-{index}</guid>"
        f"<pubDate>{format_datetime(when)}</pubDate>"
        f"<description>{escape(summary)}</description></item>\n"
    )


def gsomia_feed(size: int, *, seed: int = 1, now: datetime | None = None) -> bytes:
    """An RSS document of about ``size`` bytes, newest item first, one item a minute."""
    rng = random.Random(seed)
    now = now or datetime.now(timezone.utc)
    head = (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
        "<title>GSOMIA firehose</title><link>https://news.example/</link>"
        "<description>generated</description>\n"
    )
    tail = "</channel></rss>\n"
    parts, total, index = [head], len(head) + len(tail), 0
    while total < size:
        item = _item(index, rng, now - timedelta(minutes=index))
        parts.append(item)
        total += len(item.encode())
        index += 1
    parts.append(tail)
    return "".join(parts).encode()


def item_count(feed: bytes) -> int:
    return feed.count(b"<item>")
