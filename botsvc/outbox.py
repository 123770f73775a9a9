"""The outbox: every message is written to SQLite before it is sent.

A digest for a channel becomes one row. Sending renders it with the channel's adapter
and sends the parts not sent yet, recording each part's platform message id as soon as
it is accepted. So a crash loses nothing (the row is still pending) and can repeat at
most the one part whose send was accepted but not yet recorded (at-least-once, with the
double-post window reduced to that moment). Temporary failures (rate limits, 5xx,
network) are retried with backoff, then left pending for the next flush, keeping each
channel's messages in order; a channel that is gone or revoked the bot holds its
messages and pauses its subscription.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from adapters.base import Adapter, DeliveryError
from botsvc.digest import digest_from_json, digest_to_json
from botsvc.models import ChannelAddress, Digest
from botsvc.clocks import not_after
from botsvc.store import Store, iso, parse_iso, utcnow
from botsvc.subscriptions import pause

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    tries_per_flush: int = 4
    """Attempts per message within one flush before it waits for the next one."""
    base_delay: float = 1.0
    """First backoff delay (doubles each retry, with jitter) when the platform gives no Retry-After."""
    max_delay: float = 30.0
    """Longest wait within a flush; a longer Retry-After defers the message to a later flush."""


LONGEST_DEFERRAL = timedelta(days=1)
"""A message deferred further than this (a platform's Retry-After included) was deferred by a wrong clock."""


@dataclass
class FlushReport:
    delivered: int = 0
    parts_sent: int = 0
    waiting: int = 0
    """Messages still pending after this flush (temporary failures, no credentials)."""
    held: int = 0
    """Messages held because their channel is gone or the bot was removed."""
    errors: list[str] = field(default_factory=list)


def enqueue(store: Store, address: ChannelAddress, digest: Digest, *, subscription_id: int | None,
            now: datetime) -> int:
    """Write a digest for ``address`` to the outbox (call inside the caller's transaction)."""
    cursor = store.db.execute(
        "INSERT INTO outbox (subscription_id, platform, workspace, channel, digest, next_attempt_at, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (subscription_id, address.platform, address.workspace or "", address.channel,
         digest_to_json(digest), iso(now), iso(now)),
    )
    return int(cursor.lastrowid)


def pending(store: Store) -> list[dict]:
    return store.query("SELECT * FROM outbox WHERE status = 'pending' ORDER BY id")


def _address(row: dict) -> ChannelAddress:
    return ChannelAddress(row["platform"], row["channel"], row["workspace"] or None)


def _channel_key(row: dict) -> tuple[str, str, str]:
    return row["platform"], row["workspace"], row["channel"]


class Courier:
    """Sends pending outbox rows through the adapters it is given."""

    def __init__(self, store: Store, adapters: Mapping[str, Adapter], *, policy: RetryPolicy = RetryPolicy(),
                 clock: Callable[[], datetime] = utcnow,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> None:
        self.store = store
        self.adapters = adapters
        self.policy = policy
        self.clock = clock
        self.sleep = sleep

    async def flush(self) -> FlushReport:
        report = FlushReport()
        blocked: set[tuple[str, str, str]] = set()
        now = self.clock()
        for row in pending(self.store):
            key = _channel_key(row)
            if key in blocked:  # an earlier message to this channel is still waiting: keep order
                report.waiting += 1
                continue
            next_attempt = not_after(parse_iso(row["next_attempt_at"]), now, ahead=LONGEST_DEFERRAL,
                                     what=f"outbox {row['id']}: next attempt")
            if next_attempt > now:
                blocked.add(key)
                report.waiting += 1
                continue
            adapter = self.adapters.get(row["platform"])
            if adapter is None:
                self._defer(row, f"no {row['platform']} adapter configured (missing token?)", now)
                blocked.add(key)
                report.waiting += 1
                continue
            outcome = await self._send(row, adapter, report)
            if outcome != "delivered":
                blocked.add(key)
        return report

    async def _send(self, row: dict, adapter: Adapter, report: FlushReport) -> str:
        address = _address(row)
        payloads = adapter.render(digest_from_json(row["digest"]))
        message_ids = json.loads(row["message_ids"])
        part, tries = row["parts_sent"], 0
        while part < len(payloads):
            try:
                message_id = await adapter.send(address, payloads[part], key=f"bs-{row['id']}-{part}")
            except DeliveryError as exc:
                tries += 1
                if exc.permanent:
                    self._hold(row, str(exc))
                    report.held += 1
                    report.errors.append(f"outbox {row['id']}: {exc}")
                    return "held"
                delay = exc.retry_after if exc.retry_after is not None else (
                    self.policy.base_delay * 2 ** (tries - 1) * (0.5 + random.random()))
                if tries >= self.policy.tries_per_flush or delay > self.policy.max_delay:
                    later = self.clock() + timedelta(seconds=delay if delay > self.policy.max_delay else 0)
                    self._defer(row, str(exc), later, tries)
                    report.waiting += 1
                    report.errors.append(f"outbox {row['id']}: {exc}")
                    return "waiting"
                log.info("outbox %s to %s: %s; retrying in %.1fs", row["id"], address.platform, exc, delay)
                await self.sleep(delay)
                continue
            part += 1
            message_ids.append(message_id)
            self._record_part(row["id"], part, message_ids, done=part == len(payloads))
            report.parts_sent += 1
        if part >= len(payloads):
            if not payloads:
                self._record_part(row["id"], 0, message_ids, done=True)
            report.delivered += 1
        return "delivered"

    def _record_part(self, outbox_id: int, parts_sent: int, message_ids: list[str], *, done: bool) -> None:
        with self.store.atomic():
            self.store.db.execute(
                "UPDATE outbox SET parts_sent = ?, message_ids = ?, last_error = NULL, "
                "status = CASE WHEN ? THEN 'delivered' ELSE status END, "
                "delivered_at = CASE WHEN ? THEN ? ELSE delivered_at END WHERE id = ?",
                (parts_sent, json.dumps(message_ids), done, done, iso(self.clock()), outbox_id),
            )

    def _defer(self, row: dict, error: str, next_attempt: datetime, tries: int = 0) -> None:
        with self.store.atomic():
            self.store.db.execute(
                "UPDATE outbox SET attempts = attempts + ?, last_error = ?, next_attempt_at = ? WHERE id = ?",
                (tries, error, iso(next_attempt), row["id"]),
            )
        if tries:
            log.warning("outbox %s to %s: %s; kept for the next cycle", row["id"], row["platform"], error)

    def _hold(self, row: dict, error: str) -> None:
        now = self.clock()
        with self.store.atomic():
            self.store.db.execute(
                "UPDATE outbox SET status = 'held', attempts = attempts + 1, last_error = ? "
                "WHERE status = 'pending' AND platform = ? AND workspace = ? AND channel = ?",
                (error, row["platform"], row["workspace"], row["channel"]),
            )
            if row["subscription_id"] is not None:
                for sub in self.store.query(
                    "SELECT id FROM subscriptions WHERE platform = ? AND workspace = ? AND channel = ?",
                    (row["platform"], row["workspace"], row["channel"]),
                ):
                    pause(self.store, sub["id"], error, now)
        log.warning("%s channel %s: %s; its subscriptions are paused (subscribe again to resume)",
                    row["platform"], row["channel"] if not row["platform"].endswith("webhook") else "(webhook)",
                    error)
