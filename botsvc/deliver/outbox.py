"""The outbox: every message is written to SQLite before it is sent.

A digest for a channel becomes one row. Sending renders it with the channel's adapter
and sends the parts not sent yet, recording each part's platform message id as soon as
it is accepted. So a crash loses nothing (the row is still pending) and can repeat at
most the one part whose send was accepted but not yet recorded (at-least-once, with the
double-post window reduced to that moment).

A failure reaches only as far as its scope (``botsvc.deliver.adapter.Scope``), and never escapes
a flush:

* temporary (rate limits, 5xx, network): retried with backoff, then left pending for the
  next flush, keeping that channel's messages in order;
* this message (a payload the platform refuses, an answer that cannot be read, anything
  unexpected): the message is marked ``failed`` with its reason and the channel goes on;
* the channel (gone, bot removed): its messages are held and its subscriptions paused;
* the credentials (a refused token): reported once for the platform, no channel paused,
  its messages stay pending until a send is accepted again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from botsvc.clocks import not_after
from botsvc.deliver.adapter import Adapter, DeliveryError, ParentGone
from botsvc.deliver.digest import digest_from_json, digest_to_json
from botsvc.deliver.redact import redact
from botsvc.deliver.subscriptions import pause
from botsvc.deliver.threads import Parent, find_parent, refreshed_part
from botsvc.models import ChannelAddress, Digest
from botsvc.store.store import Store, inserted_id, iso, parse_iso_required, utcnow
from botsvc.store.tenants import hidden_feeds, tenant_key

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
    """Messages still pending after this flush (temporary failures, no or refused credentials)."""
    held: int = 0
    """Messages held because their channel is gone or the bot was removed."""
    failed: int = 0
    """Messages refused for good for themselves (marked failed; their channel went on)."""
    refused_credentials: dict[str, str] = field(default_factory=dict)
    """Platform -> why its credentials were refused (its messages wait, no channel paused)."""
    errors: list[str] = field(default_factory=list)


def enqueue(
    store: Store, address: ChannelAddress, digest: Digest, *, subscription_id: int | None, now: datetime
) -> int:
    """Write a digest for ``address`` to the outbox (call inside the caller's transaction)."""
    cursor = store.db.execute(
        "INSERT INTO outbox (subscription_id, platform, workspace, channel, digest, next_attempt_at, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            subscription_id,
            address.platform,
            address.workspace or "",
            address.channel,
            digest_to_json(digest),
            iso(now),
            iso(now),
        ),
    )
    return inserted_id(cursor)


def pending(store: Store) -> list[dict]:
    return store.query("SELECT * FROM outbox WHERE status = 'pending' ORDER BY id")


def _address(row: dict) -> ChannelAddress:
    return ChannelAddress(row["platform"], row["channel"], row["workspace"] or None)


def _channel_key(row: dict) -> tuple[str, str, str]:
    return row["platform"], row["workspace"], row["channel"]


def channel_label(row: Mapping[str, str]) -> str:
    """Where a row goes, for logs and listings: a webhook's URL is a secret, so never shown."""
    if row["platform"].endswith("webhook"):
        return f"{row['platform']} (webhook)"
    return f"{row['platform']}:{row['workspace'] + '/' if row['workspace'] else ''}{row['channel']}"


def _secrets(row: Mapping[str, str]) -> tuple[str, ...]:
    return (row["channel"],) if row["platform"].endswith("webhook") else ()


class Courier:
    """Sends pending outbox rows through the adapters it is given."""

    def __init__(
        self,
        store: Store,
        adapters: Mapping[str, Adapter],
        *,
        policy: RetryPolicy = RetryPolicy(),
        clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.store = store
        self.adapters = adapters
        self.policy = policy
        self.clock = clock
        self.sleep = sleep

    async def flush(self) -> FlushReport:
        """Send what is pending; one message's failure never stops the others."""
        report = FlushReport()
        blocked: set[tuple[str, str, str]] = set()
        refused: set[str] = set()  # platforms whose credentials were refused in this flush
        troubled = {row["platform"] for row in self.store.query("SELECT platform FROM platform_problems")}
        now = self.clock()
        muted = {row["id"] for row in self.store.query("SELECT id FROM subscriptions WHERE muted_at IS NOT NULL")}
        for row in pending(self.store):
            if row["subscription_id"] in muted:  # paused from chat: it waits for /news resume
                continue
            key = _channel_key(row)
            if row["platform"] in refused or key in blocked:  # keep order; do not hammer a refusing platform
                report.waiting += 1
                continue
            next_attempt = not_after(
                parse_iso_required(row["next_attempt_at"], f"outbox {row['id']}: next_attempt_at"),
                now,
                ahead=LONGEST_DEFERRAL,
                what=f"outbox {row['id']}: next attempt",
            )
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
            if outcome == "credentials":
                refused.add(row["platform"])
            elif outcome in ("waiting", "held"):
                blocked.add(key)
            if outcome == "delivered" and row["platform"] in troubled:
                troubled.discard(row["platform"])
                self._credentials_accepted(row["platform"])
        return report

    async def _send(self, row: dict, adapter: Adapter, report: FlushReport) -> str:
        address = _address(row)
        try:
            digest = digest_from_json(row["digest"])
            payloads = adapter.render(digest)
            parent = self._parent(row, adapter, digest)
        except Exception as exc:  # a digest this adapter cannot render: this message only
            return self._fail(row, f"could not be rendered: {type(exc).__name__}: {exc}", report)
        message_ids = json.loads(row["message_ids"])
        part, tries = row["parts_sent"], 0
        while part < len(payloads):
            key = f"bs-{row['id']}-{part}"
            try:
                if parent is not None:
                    try:
                        message_id = await adapter.send_in_thread(address, payloads[part], parent.message_id, key=key)
                    except ParentGone as exc:  # the alert was deleted: the update goes in the channel
                        log.info("outbox %s: %s; posting it in the channel", row["id"], exc)
                        parent = None
                        continue
                else:  # a distinct key: a post in the channel is another message than the reply was
                    message_id = await adapter.send(address, payloads[part], key=key + ("c" if digest.thread else ""))
            except DeliveryError as exc:
                tries += 1
                if exc.scope == "message":
                    return self._fail(row, str(exc), report)
                if exc.scope == "channel":
                    self._hold(row, str(exc))
                    report.held += 1
                    report.errors.append(f"outbox {row['id']}: {redact(str(exc), _secrets(row))}")
                    return "held"
                if exc.scope == "auth":
                    self._credentials_refused(row, str(exc), report)
                    return "credentials"
                delay = (
                    exc.retry_after
                    if exc.retry_after is not None
                    else (self.policy.base_delay * 2 ** (tries - 1) * (0.5 + random.random()))
                )
                if tries >= self.policy.tries_per_flush or delay > self.policy.max_delay:
                    later = self.clock() + timedelta(seconds=delay if delay > self.policy.max_delay else 0)
                    self._defer(row, str(exc), later, tries)
                    report.waiting += 1
                    report.errors.append(f"outbox {row['id']}: {redact(str(exc), _secrets(row))}")
                    return "waiting"
                log.info(
                    "outbox %s to %s: %s; retrying in %.1fs",
                    row["id"],
                    address.platform,
                    redact(str(exc), _secrets(row)),
                    delay,
                )
                await self.sleep(delay)
                continue
            except Exception as exc:  # an SDK or adapter fault nobody foresaw: this message only
                return self._fail(row, f"unexpected {type(exc).__name__}: {exc}", report)
            part += 1
            message_ids.append(message_id)
            self._record_part(row["id"], part, message_ids, done=part == len(payloads))
            report.parts_sent += 1
        if part >= len(payloads):
            if not payloads:
                self._record_part(row["id"], 0, message_ids, done=True)
            report.delivered += 1
        if parent is not None and digest.thread is not None:
            await self._edit_parent(row, adapter, parent, digest.thread.event_id)
        return "delivered"

    def _parent(self, row: dict, adapter: Adapter, digest: Digest) -> Parent | None:
        """For an event's later reports: the alert whose thread they go in, if the adapter has threads."""
        if digest.thread is None or not adapter.threads or row["subscription_id"] is None:
            return None
        return find_parent(self.store, adapter, row["subscription_id"], digest.thread.event_id)

    async def _edit_parent(self, row: dict, adapter: Adapter, parent: Parent, event_id: int) -> None:
        """Show the event's running count of sources on its alert; a failure is one log line, never more."""
        try:
            hidden = hidden_feeds(self.store, tenant_key(row["platform"], row["workspace"]))
            payload = refreshed_part(self.store, adapter, parent, event_id, hidden)
            if payload is None:
                log.info(
                    "outbox %s: the alert of event %s is not edited (its message would change)", row["id"], event_id
                )
                return
            await adapter.edit(_address(row), parent.message_id, payload)
        except Exception as exc:
            log.warning(
                "outbox %s: could not edit the alert of event %s: %s",
                row["id"],
                event_id,
                redact(f"{type(exc).__name__}: {exc}", _secrets(row)),
            )

    def _record_part(self, outbox_id: int, parts_sent: int, message_ids: list[str], *, done: bool) -> None:
        with self.store.atomic():
            self.store.db.execute(
                "UPDATE outbox SET parts_sent = ?, message_ids = ?, last_error = NULL, "
                "status = CASE WHEN ? THEN 'delivered' ELSE status END, "
                "delivered_at = CASE WHEN ? THEN ? ELSE delivered_at END WHERE id = ?",
                (parts_sent, json.dumps(message_ids), done, done, iso(self.clock()), outbox_id),
            )

    def _defer(self, row: dict, error: str, next_attempt: datetime, tries: int = 0) -> None:
        error = redact(error, _secrets(row))
        with self.store.atomic():
            self.store.db.execute(
                "UPDATE outbox SET attempts = attempts + ?, last_error = ?, next_attempt_at = ? WHERE id = ?",
                (tries, error, iso(next_attempt), row["id"]),
            )
        if tries:
            log.warning("outbox %s to %s: %s; kept for the next cycle", row["id"], channel_label(row), error)

    def _fail(self, row: dict, error: str, report: FlushReport) -> str:
        """This message is refused for good: mark it failed with why; its channel goes on."""
        error = redact(error, _secrets(row))
        with self.store.atomic():
            self.store.db.execute(
                "UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = ?, failed_at = ? "
                "WHERE id = ?",
                (error, iso(self.clock()), row["id"]),
            )
        log.warning(
            "outbox %s to %s failed: %s; the channel's other messages go on (botsvc outbox retry %s, or drop %s)",
            row["id"],
            channel_label(row),
            error,
            row["id"],
            row["id"],
        )
        report.failed += 1
        return "failed"

    def _credentials_refused(self, row: dict, error: str, report: FlushReport) -> None:
        """The platform refused the bot's credentials: say so once; the message stays pending."""
        platform, error = row["platform"], redact(error, _secrets(row))
        now = iso(self.clock())
        with self.store.atomic():
            self.store.db.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE id = ?", (error, row["id"])
            )
            known = self.store.query("SELECT problem FROM platform_problems WHERE platform = ?", (platform,))
            self.store.db.execute(
                "INSERT INTO platform_problems (platform, problem, since, last_seen) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (platform) DO UPDATE SET problem = excluded.problem, last_seen = excluded.last_seen",
                (platform, error, now, now),
            )
        if not known:
            log.warning(
                "%s: the bot's credentials were refused (%s); no channel is paused, its messages wait "
                "until the token is fixed",
                platform,
                error,
            )
        report.refused_credentials[platform] = error
        report.waiting += 1

    def _credentials_accepted(self, platform: str) -> None:
        with self.store.atomic():
            self.store.db.execute("DELETE FROM platform_problems WHERE platform = ?", (platform,))
        log.info("%s: the bot's credentials are accepted again; sending what waited", platform)

    def _hold(self, row: dict, error: str) -> None:
        now = self.clock()
        error = redact(error, _secrets(row))
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
        log.warning("%s: %s; its subscriptions are paused (subscribe again to resume)", channel_label(row), error)
