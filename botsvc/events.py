"""Placing a new relevant article into an event.

:class:`EventBook` is the seam between the pipeline and the near-duplicate engine:
it asks where an item belongs, and records the article once stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from botsvc.models import FeedItem
from botsvc.store import Store


@dataclass(frozen=True)
class Placement:
    event_id: int | None
    """Existing event the item joins, or None to open a new one."""
    duplicate_of: int | None = None
    similarity: float | None = None
    reason: str = "no earlier report of this story"


class EventBook:
    """Decides event membership for relevant articles and keeps events up to date."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def place(self, item: FeedItem, when: datetime) -> Placement:
        return Placement(event_id=None)

    def record(self, article_id: int, event_id: int, item: FeedItem, when: datetime) -> None:
        """Called after the article row exists, inside the same transaction."""
