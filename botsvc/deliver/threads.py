"""Event threads: finding the message that first told an event, and its refreshed text.

A later report of an event goes under the alert that told it (a Slack thread, a Discord
reply), and that alert is edited to show the event's running count of sources. The
alert's outbox row (``deliveries.alert_outbox_id``) keeps its digest and the message id
of every part sent, so the parent is found again after a restart. Which part holds the
event is found by rendering the digest up to that event: every adapter fills its
messages in order, so the count of parts for that prefix is the event's part. An alert
that told an event later merged into another (:mod:`botsvc.store.merges`) stays the
parent of the merged event's later reports.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass, replace
from typing import Any

from botsvc.deliver.adapter import Adapter
from botsvc.deliver.digest import digest_event, digest_from_json
from botsvc.models import Digest
from botsvc.store.delivery_log import alert_message
from botsvc.store.merges import current_event, merges_into
from botsvc.store.store import Store


@dataclass(frozen=True)
class Parent:
    """The sent message that told an event first, and the digest it was rendered from."""

    outbox_id: int
    part: int
    message_id: str
    digest: Digest


def part_of(adapter: Adapter, digest: Digest, event_id: int) -> int | None:
    """Which of ``adapter``'s messages for ``digest`` shows ``event_id`` (None: not in it)."""
    for index, entry in enumerate(digest.events):
        if entry.event_id == event_id:
            return len(adapter.render(replace(digest, events=digest.events[: index + 1], more=()))) - 1
    return None


def find_parent(store: Store, adapter: Adapter, subscription_id: int, event_id: int) -> Parent | None:
    """The message that alerted ``event_id`` to the subscription, if it was sent and is still known."""
    alert = alert_message(store, subscription_id, event_id)
    if alert is None:
        return None
    digest = digest_from_json(alert["digest"])
    # The alert may have told an event that was later merged into this one (its reports went on).
    part = None
    for shown in (event_id, *(merge.absorbed for merge in merges_into(store, event_id))):
        part = part_of(adapter, digest, shown)
        if part is not None:
            break
    sent = json.loads(alert["message_ids"])
    if part is None or part >= len(sent):
        return None
    return Parent(alert["id"], part, str(sent[part]), digest)


def refreshed_part(
    store: Store, adapter: Adapter, parent: Parent, event_id: int, hidden: Collection[str] = ()
) -> Any | None:
    """The parent message re-rendered with every alert in it as it stands now (its count of
    sources grown); None when the event would move to another part (the edit is skipped).
    ``hidden``: feeds whose reports the channel may not see (another tenant's)."""
    shown = {entry.event_id for entry in parent.digest.events}
    entries = []
    for entry in parent.digest.events:
        now_in = current_event(store, entry.event_id)
        merged_with_shown = now_in != entry.event_id and now_in in shown
        fresh = None if entry.update or merged_with_shown else digest_event(store, now_in, hidden=hidden)
        entries.append(fresh or entry)
    digest = replace(parent.digest, events=tuple(entries))
    if part_of(adapter, digest, event_id) != parent.part:
        return None
    return adapter.render(digest)[parent.part]
