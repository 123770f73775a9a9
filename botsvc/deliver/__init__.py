"""Deliver: stored events in, messages for chat adapters out.

Subscriptions, neutral digests, alert limits, the outbox that survives crashes, and the
adapter interface (:mod:`botsvc.deliver.adapter`) every platform package implements.
"""

__all__ = [
    "adapter",
    "alert_limits",
    "delivery",
    "digest",
    "fairshare",
    "links",
    "outbox",
    "outbox_admin",
    "platforms",
    "redact",
    "subscriptions",
    "volume",
    "webhook_urls",
]
