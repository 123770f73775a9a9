"""The outbox: every message is written to SQLite before it is sent.

A digest for a channel becomes one row. Sending renders it with the channel's adapter
and sends the parts not sent yet, recording each part's platform message id as soon as
it is accepted. Before each request the row records the part in flight (its key and the
attempt's start) in a transaction of its own; a row found with a part in flight (after a
kill, a timeout, an answer that cannot be read) is reconciled before that part is sent
again: the adapter looks for the key on the platform (Slack message metadata, Discord's
recent messages and enforced nonce). So a crash loses nothing and posts nothing twice on
Slack and Discord; adapters that cannot read back (webhooks, the console) send the cut-off
part again (at-least-once, the repeat limited to that one part).

A failure reaches only as far as its scope (``botsvc.deliver.adapter.Scope``), and never escapes
a flush:

* temporary (rate limits, 5xx, network): retried with backoff, then left pending for the
  next flush, keeping that channel's messages in order; a send whose outcome is unknown
  (a timeout) is not retried within the flush but deferred on its row, with backoff;
* this message (a payload the platform refuses, an answer that cannot be read, anything
  unexpected): the message is marked ``failed`` with its reason and the channel goes on;
* the channel (gone, bot removed): its messages are held and its subscriptions paused;
* the credentials (a refused token): reported once for the platform, no channel paused,
  its messages stay pending until a send is accepted again.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from weakref import WeakKeyDictionary

from botsvc.clocks import not_after
from botsvc.deliver.adapter import Adapter, DeliveryError, ParentGone
from botsvc.deliver.digest import digest_from_json, digest_to_json
from botsvc.deliver.redact import redact
from botsvc.deliver.subscriptions import pause
from botsvc.deliver.threads import Parent, find_parent, refreshed_part
from botsvc.models import ChannelAddress, Digest
from botsvc.store import errors
from botsvc.store import outbox as outbox_rows
from botsvc.store.store import Store, parse_iso, parse_iso_required, utcnow
from botsvc.store.subscriptions import channel_subscription_ids, muted_subscription_ids
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
    channels_at_once: int = 8
    """Channels sent to at the same time, each in order: a hung platform delays only its own channels."""
    unknown_backoff: float = 15.0
    """Seconds before a send whose outcome is unknown (a timeout, an unreadable answer) is looked up
    and tried again (doubling per attempt): never retried within the flush."""
    longest_backoff: float = 600.0


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


EnqueueHook = Callable[[Store, ChannelAddress], None]
_enqueue_hooks: WeakKeyDictionary[Store, EnqueueHook] = WeakKeyDictionary()


def on_enqueue(store: Store, hook: EnqueueHook | None) -> None:
    """Call ``hook(store, address)`` after each outbox row written through ``store``, in its transaction.

    The job queue defers the channel's send job there, so the row and its job commit (or
    roll back) together. ``None`` removes the hook.
    """
    if hook is None:
        _enqueue_hooks.pop(store, None)
    else:
        _enqueue_hooks[store] = hook


def enqueue(
    store: Store, address: ChannelAddress, digest: Digest, *, subscription_id: int | None, now: datetime
) -> int:
    """Write a digest for ``address`` to the outbox (call inside the caller's transaction)."""
    outbox_id = outbox_rows.insert_message(
        store,
        subscription_id=subscription_id,
        platform=address.platform,
        workspace=address.workspace or "",
        channel=address.channel,
        digest=digest_to_json(digest),
        now=now,
    )
    hook = _enqueue_hooks.get(store)
    if hook is not None:
        hook(store, address)
    return outbox_id


def pending(store: Store) -> list[dict]:
    return outbox_rows.pending_messages(store)


def _address(row: dict) -> ChannelAddress:
    return ChannelAddress(row["platform"], row["channel"], row["workspace"] or None)


def _channel_key(row: dict) -> tuple[str, str, str]:
    return row["platform"], row["workspace"], row["channel"]


def channel_id(platform: str, workspace: str, channel: str) -> str:
    """A short stable name for one channel, for job arguments and locks.

    A webhook's channel is its secret URL; the queue shows job arguments in its logs and
    tables, so jobs name a channel by this digest, never by its address.
    """
    return hashlib.sha256("\x1f".join((platform, workspace or "", channel)).encode()).hexdigest()[:24]


def channel_label(row: Mapping[str, str]) -> str:
    """Where a row goes, for logs and listings: a webhook's URL is a secret, so never shown."""
    if row["platform"].endswith("webhook"):
        return f"{row['platform']} (webhook)"
    return f"{row['platform']}:{row['workspace'] + '/' if row['workspace'] else ''}{row['channel']}"


def outbox_key_prefix(store: Store) -> str:
    """``bs-<token>-``: what every key of this database's parts starts with (migration 0016 draws
    the token), so a channel's messages from another database never look like this one's."""
    token = store.get_state("outbox_key_token")
    return f"bs-{token}-" if token else "bs-"


def _secrets(row: Mapping[str, str]) -> tuple[str, ...]:
    return (row["channel"],) if row["platform"].endswith("webhook") else ()


class Courier:
    """Sends pending outbox rows through the adapters it is given.

    The transactional-outbox pattern: what is due is read at once (the one delivery of a
    process holds the claim), each channel's messages are sent in order by a lane of
    their own, ``policy.channels_at_once`` lanes at a time, and every write (marking a part
    in flight, recording it, deferring, failing) is a short transaction of its own taken
    under ``writing()`` (the process's write turn), never held across a request. So a
    hung platform delays only its own channels, and polls go on meanwhile.
    """

    def __init__(
        self,
        store: Store,
        adapters: Mapping[str, Adapter],
        *,
        policy: RetryPolicy = RetryPolicy(),
        clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        writing: Callable[[], AbstractAsyncContextManager[object]] = nullcontext,
    ) -> None:
        self.store = store
        self.adapters = adapters
        self.policy = policy
        self.clock = clock
        self.sleep = sleep
        self.writing = writing
        self._refused: set[str] = set()  # platforms whose credentials were refused in this flush
        self._silent: set[str] = set()  # platforms that left a send unanswered (timed out) in this flush
        self._key_prefix = "bs-"
        self._troubled: set[str] = set()

    async def flush(self, channel: str | None = None) -> FlushReport:
        """Send what is pending; one message's failure never stops the others, nor one channel's another's.

        ``channel``: only that channel's messages (a :func:`channel_id`), as one queue job sends them.
        """
        report = FlushReport()
        self._refused = set()
        self._silent = set()
        self._key_prefix = outbox_key_prefix(self.store)
        self._troubled = outbox_rows.troubled_platforms(self.store)
        now = self.clock()
        muted = muted_subscription_ids(self.store)
        lanes: dict[tuple[str, str, str], list[dict]] = {}
        for row in pending(self.store):
            if row["subscription_id"] in muted:  # paused from chat: it waits for /news resume
                continue
            if channel is not None and channel_id(*_channel_key(row)) != channel:
                continue
            lanes.setdefault(_channel_key(row), []).append(row)
        gate = asyncio.Semaphore(max(1, self.policy.channels_at_once))
        first_answers: dict[str, asyncio.Event] = {}

        async def lane(rows: list[dict]) -> None:
            # The first send to each platform goes alone: a platform refusing the bot's token
            # (or down) is tried once per flush, not once per channel.
            platform = rows[0]["platform"]
            answered = first_answers.get(platform)
            if answered is not None:
                await answered.wait()
                answered = None
            else:
                answered = first_answers[platform] = asyncio.Event()
            try:
                async with gate:
                    await self._send_lane(rows, report, now, answered)
            finally:
                if answered is not None:
                    answered.set()

        outcomes = await asyncio.gather(*(lane(rows) for rows in lanes.values()), return_exceptions=True)
        for outcome in outcomes:  # a database fault: every lane finished first, then it is told
            if isinstance(outcome, BaseException):
                raise outcome
        return report

    async def _send_lane(
        self, rows: list[dict], report: FlushReport, now: datetime, answered: asyncio.Event | None = None
    ) -> None:
        """One channel's messages, in order; the first that has to wait keeps the rest waiting.

        ``answered`` is set once the first of them has had its answer (see :meth:`flush`)."""
        for index, row in enumerate(rows):
            if index and answered is not None:
                answered.set()
            if row["platform"] in self._refused or row["platform"] in self._silent:  # do not hammer it
                report.waiting += len(rows) - index
                return
            next_attempt = not_after(
                parse_iso_required(row["next_attempt_at"], f"outbox {row['id']}: next_attempt_at"),
                now,
                ahead=LONGEST_DEFERRAL,
                what=f"outbox {row['id']}: next attempt",
            )
            if next_attempt > now:
                report.waiting += len(rows) - index
                return
            adapter = self.adapters.get(row["platform"])
            if adapter is None:
                await self._defer(row, f"no {row['platform']} adapter configured (missing token?)", now)
                report.waiting += len(rows) - index
                return
            outcome = await self._send(row, adapter, report)
            if outcome == "credentials":
                self._refused.add(row["platform"])
            if outcome == "unanswered":  # timed out: its other channels wait for the next delivery
                self._silent.add(row["platform"])
            if outcome in ("waiting", "held", "credentials", "unanswered"):
                report.waiting += len(rows) - index - 1
                return
            if outcome == "delivered" and row["platform"] in self._troubled:
                self._troubled.discard(row["platform"])
                await self._credentials_accepted(row["platform"])

    async def _send(self, row: dict, adapter: Adapter, report: FlushReport) -> str:
        address = _address(row)
        try:
            digest = digest_from_json(row["digest"])
            payloads = adapter.render(digest)
            parent = self._parent(row, adapter, digest)
        except Exception as exc:  # a digest this adapter cannot render: this message only
            return await self._fail(row, f"could not be rendered: {type(exc).__name__}: {exc}", report)
        message_ids = json.loads(row["message_ids"])
        part, tries = row["parts_sent"], 0
        in_flight: str | None = row["sending_key"]  # left by a kill, a timeout or an unreadable answer
        while part < len(payloads):
            # A post in the channel is another message than the reply in the thread was: its own key.
            key = f"{self._key_prefix}{row['id']}-{part}" + ("c" if digest.thread and parent is None else "")
            try:
                message_id = None
                if in_flight is not None:
                    message_id = await self._reconcile(row, adapter, in_flight, parent, payloads[part])
                    in_flight = None
                if message_id is None:
                    await self._mark_sending(row["id"], key)
                    if parent is not None:
                        try:
                            message_id = await adapter.send_in_thread(
                                address, payloads[part], parent.message_id, key=key
                            )
                        except ParentGone as exc:  # the alert was deleted: the update goes in the channel
                            log.info("outbox %s: %s; posting it in the channel", row["id"], exc)
                            parent = None
                            continue
                    else:
                        message_id = await adapter.send(address, payloads[part], key=key)
            except DeliveryError as exc:
                tries += 1
                if exc.scope == "message":
                    return await self._fail(row, str(exc), report)
                if exc.scope == "channel":
                    await self._hold(row, str(exc))
                    report.held += 1
                    report.errors.append(f"outbox {row['id']}: {redact(str(exc), _secrets(row))}")
                    return "held"
                if exc.scope == "auth":
                    await self._credentials_refused(row, str(exc), report)
                    return "credentials"
                if exc.answered and adapter.reads_back and tries < self.policy.tries_per_flush:
                    in_flight = key  # the platform is up: ask it now whether this part was posted
                    log.info("outbox %s to %s: %s", row["id"], channel_label(row), redact(str(exc), _secrets(row)))
                    continue
                if exc.answered:  # answers that never can be read: this message alone, marked failed
                    return await self._fail(row, str(exc), report, in_flight=adapter.reads_back)
                if exc.maybe_sent:  # it may be posted: ask the platform before sending again, later
                    attempts = row["attempts"] + tries
                    backoff = min(self.policy.longest_backoff, self.policy.unknown_backoff * 2 ** min(attempts - 1, 16))
                    later = self.clock() + timedelta(seconds=backoff)
                    await self._defer(row, str(exc), later, tries, in_flight=True)
                    report.waiting += 1
                    report.errors.append(f"outbox {row['id']}: {redact(str(exc), _secrets(row))}")
                    return "unanswered"
                delay = (
                    exc.retry_after
                    if exc.retry_after is not None
                    else (self.policy.base_delay * 2 ** (tries - 1) * (0.5 + random.random()))
                )
                if tries >= self.policy.tries_per_flush or delay > self.policy.max_delay:
                    later = self.clock() + timedelta(seconds=delay if delay > self.policy.max_delay else 0)
                    await self._defer(row, str(exc), later, tries)
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
            except errors.DatabaseError:  # the database's failure (a full disk), not the message's: it stays pending
                raise
            except Exception as exc:  # an SDK or adapter fault nobody foresaw: this message only
                return await self._fail(row, f"unexpected {type(exc).__name__}: {exc}", report)
            part += 1
            message_ids.append(message_id)
            await self._record_part(row["id"], part, message_ids, done=part == len(payloads))
            report.parts_sent += 1
        if part >= len(payloads):
            if not payloads:
                await self._record_part(row["id"], 0, message_ids, done=True)
            report.delivered += 1
        if parent is not None and digest.thread is not None:
            await self._edit_parent(row, adapter, parent, digest.thread.event_id)
        return "delivered"

    async def _reconcile(
        self, row: dict, adapter: Adapter, key: str, parent: Parent | None, payload: object
    ) -> str | None:
        """The id of the part whose send was cut off, if the platform has it; None: send it (again).

        A platform that cannot be read back gets the part again (at-least-once).
        """
        if not adapter.reads_back:
            log.warning(
                "outbox %s to %s: a send was cut off before its answer was recorded and %s cannot be read "
                "back; sending it again (it may show twice)",
                row["id"],
                channel_label(row),
                row["platform"],
            )
            return None
        since = parse_iso(row["sending_at"]) or self.clock()
        in_thread = parent is not None and not key.endswith("c")
        try:
            found = await adapter.find_sent(
                _address(row),
                key,
                since=since,
                parent_id=parent.message_id if in_thread and parent else None,
                payload=payload,
            )
        except DeliveryError as exc:  # not resolved: the part stays in flight, never blindly resent
            exc.maybe_sent = exc.scope == "retry" or exc.maybe_sent
            raise
        if found is not None:
            log.info(
                "outbox %s to %s: %s was posted before (%s); not sent again", row["id"], channel_label(row), key, found
            )
        return found

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

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[None]:
        """One short write transaction, in the process's write turn."""
        async with self.writing():
            with self.store.atomic():
                yield

    async def _mark_sending(self, outbox_id: int, key: str) -> None:
        """Before the request, in its own transaction: which part is in flight, since when."""
        async with self._transaction():
            outbox_rows.mark_sending(self.store, outbox_id, key, self.clock())

    async def _record_part(self, outbox_id: int, parts_sent: int, message_ids: list[str], *, done: bool) -> None:
        async with self._transaction():
            outbox_rows.record_part_sent(self.store, outbox_id, parts_sent, message_ids, done=done, now=self.clock())

    async def _defer(
        self, row: dict, error: str, next_attempt: datetime, tries: int = 0, *, in_flight: bool = False
    ) -> None:
        """Try again at ``next_attempt``; ``in_flight``: the part may be posted, so it stays marked."""
        error = redact(error, _secrets(row))
        async with self._transaction():
            outbox_rows.defer_message(self.store, row["id"], error, next_attempt, tries, in_flight=in_flight)
        if tries:
            log.warning("outbox %s to %s: %s; kept for the next cycle", row["id"], channel_label(row), error)

    async def _fail(self, row: dict, error: str, report: FlushReport, *, in_flight: bool = False) -> str:
        """This message is refused for good: mark it failed with why; its channel goes on.

        ``in_flight``: its last part may be posted, so a retry looks it up first."""
        error = redact(error, _secrets(row))
        async with self._transaction():
            outbox_rows.fail_message(self.store, row["id"], error, self.clock(), in_flight=in_flight)
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

    async def _credentials_refused(self, row: dict, error: str, report: FlushReport) -> None:
        """The platform refused the bot's credentials: say so once; the message stays pending."""
        platform, error = row["platform"], redact(error, _secrets(row))
        now = self.clock()
        async with self._transaction():
            outbox_rows.note_refused_send(self.store, row["id"], error)
            known = outbox_rows.record_platform_problem(self.store, platform, error, now)
        if not known:
            log.warning(
                "%s: the bot's credentials were refused (%s); no channel is paused, its messages wait "
                "until the token is fixed",
                platform,
                error,
            )
        report.refused_credentials[platform] = error
        report.waiting += 1

    async def _credentials_accepted(self, platform: str) -> None:
        async with self._transaction():
            outbox_rows.clear_platform_problem(self.store, platform)
        log.info("%s: the bot's credentials are accepted again; sending what waited", platform)

    async def _hold(self, row: dict, error: str) -> None:
        now = self.clock()
        error = redact(error, _secrets(row))
        async with self._transaction():
            outbox_rows.hold_channel_messages(self.store, row["platform"], row["workspace"], row["channel"], error)
            if row["subscription_id"] is not None:
                for sub_id in channel_subscription_ids(self.store, row["platform"], row["workspace"], row["channel"]):
                    pause(self.store, sub_id, error, now)
        log.warning("%s: %s; its subscriptions are paused (subscribe again to resume)", channel_label(row), error)
