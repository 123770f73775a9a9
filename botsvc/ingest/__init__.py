"""Ingest: feed addresses in, plain :class:`~botsvc.models.FeedItem` lists out.

Fetching politely (conditional GET, size and time caps, the address checks that keep
the bot out of its own network), parsing hostile bytes, normalising links and titles.
Imports nothing of botsvc but itself and :mod:`botsvc.models`.
"""

__all__ = ["addresses", "connect", "feedcheck", "fetch", "normalise", "parse"]
