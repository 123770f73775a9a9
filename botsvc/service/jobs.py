"""Polls, deliveries, digests and pruning as jobs of a Procrastinate queue in PostgreSQL.

With PostgreSQL as the store, the work ``botsvc run`` does on its own schedule becomes
jobs that any number of ``botsvc worker`` processes, on any machines, take in turn:

* ``poll_feed(feed)`` polls one feed. Its queue lock (``feed:<name>``) keeps two polls of
  one feed from overlapping. There is no queueing lock: upstream, a queueing lock breaks
  a job that is retried. Whether a poll already waits or runs is the feeds table's
  claim (:mod:`botsvc.store.pollqueue`), and failures rest the feed by botsvc's own
  backoff (``retry_at``), never by a queue retry.
* ``queue_alerts()`` writes what realtime subscriptions are due after a poll; it and the
  periodic digests hold one lock (``digests``), so two workers never tell a channel one
  event twice. A poll asks for it unless one is already waiting.
* ``deliver_channel(channel)`` sends one channel's pending messages; its lock
  (``channel:<id>``) keeps that channel's messages in order across workers. A job may run
  twice (a killed worker's jobs are run again): the outbox's own idempotency (a part in
  flight is checked before it is sent again) keeps a message from being posted twice.
* Periodic tasks (each tick, one job per tick whatever the number of workers): enqueue the
  due feeds, queue scheduled digests and send jobs for channels with mail, retry jobs of
  workers that stopped answering; pruning by ``[retention] interval``.

Channels are named in jobs by :func:`~botsvc.deliver.outbox.channel_id`, never by their
address: a webhook's address is a secret, and the queue logs job arguments.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import procrastinate
import psycopg
from procrastinate import JobContext

from botsvc.deliver.outbox import channel_id
from botsvc.models import ChannelAddress

if TYPE_CHECKING:
    from botsvc.service.queueworker import QueueWorker

log = logging.getLogger(__name__)

POLL_TASK = "botsvc.poll_feed"
DELIVER_TASK = "botsvc.deliver_channel"
DUE_TASK = "botsvc.enqueue_due_feeds"
DIGEST_TASK = "botsvc.send_digests"
ALERT_TASK = "botsvc.queue_alerts"
DIGEST_LOCK = "digests"
"""Held by every job that writes digests: two workers judging what a subscription was told
at once would both tell it (each sees the other's digest only once committed)."""
STALLED_TASK = "botsvc.retry_stalled_jobs"
PRUNE_TASK = "botsvc.prune"
CONTEXT_KEY = "botsvc"
"""Where a job finds its process's :class:`~botsvc.service.queueworker.QueueWorker`."""


@dataclass(frozen=True)
class QueueSettings:
    url: str
    """The PostgreSQL database (the store's own)."""
    tick: int = 60
    """Seconds between two runs of the periodic tasks (1-60): due feeds, digests, stalled jobs."""
    stalled_after: float = 30.0
    """A worker without a heartbeat for this long counts as dead; its running jobs are queued again."""
    abandoned_after: float = 3600.0
    """A feed's claim whose job is still in the queue is taken over after this long regardless."""
    prune_every: int = 86400
    """Seconds between two pruning runs (``[retention] interval``)."""

    def __post_init__(self) -> None:
        if not 1 <= self.tick <= 60:
            raise ValueError(f"tick: expected 1 to 60 seconds, got {self.tick}")
        if self.stalled_after <= 0:
            raise ValueError(f"stalled_after: expected a positive number of seconds, got {self.stalled_after}")

    @property
    def heartbeat(self) -> float:
        """Seconds between a worker's heartbeats: three fit in ``stalled_after``."""
        return self.stalled_after / 3

    @property
    def cron(self) -> str:
        """The periodic tasks' schedule (a sixth cron field counts seconds)."""
        return "* * * * *" if self.tick == 60 else f"* * * * * */{self.tick}"

    @property
    def prune_cron(self) -> str:
        minutes = max(1, round(self.prune_every / 60))
        if minutes < 60:
            return f"*/{minutes} * * * *"
        hours = minutes // 60
        return f"0 */{hours} * * *" if hours < 24 else "0 0 * * *"


def _worker(context: JobContext) -> QueueWorker:
    return context.additional_context[CONTEXT_KEY]


def build_queue(settings: QueueSettings, *, pool_size: int = 4) -> procrastinate.App:
    """The queue with botsvc's tasks, on the database at ``settings.url`` (open it before use)."""
    connector = procrastinate.PsycopgConnector(conninfo=settings.url, min_size=1, max_size=max(2, pool_size))
    queue = procrastinate.App(connector=connector)

    @queue.task(name=POLL_TASK, pass_context=True)
    async def poll_feed(context: JobContext, feed: str) -> None:
        await _worker(context).poll(feed)

    @queue.task(name=DELIVER_TASK, pass_context=True)
    async def deliver_channel(context: JobContext, channel: str) -> None:
        await _worker(context).send(channel)

    @queue.periodic(cron=settings.cron)
    @queue.task(name=DUE_TASK, pass_context=True)
    async def enqueue_due_feeds(context: JobContext, timestamp: int) -> None:
        await _worker(context).enqueue_due()

    @queue.task(name=ALERT_TASK, pass_context=True)
    async def queue_alerts(context: JobContext) -> None:
        await _worker(context).queue_and_send(realtime=True)

    @queue.periodic(cron=settings.cron, lock=DIGEST_LOCK)
    @queue.task(name=DIGEST_TASK, pass_context=True)
    async def send_digests(context: JobContext, timestamp: int) -> None:
        await _worker(context).queue_and_send(realtime=False)

    @queue.periodic(cron=settings.cron)
    @queue.task(name=STALLED_TASK, pass_context=True)
    async def retry_stalled_jobs(context: JobContext, timestamp: int) -> None:
        await _worker(context).retry_stalled()

    @queue.periodic(cron=settings.prune_cron)
    @queue.task(name=PRUNE_TASK, pass_context=True)
    async def prune(context: JobContext, timestamp: int) -> None:
        await _worker(context).prune()

    return queue


async def queue_report(queue: procrastinate.App, settings: QueueSettings) -> dict[str, Any]:
    """Jobs by status across all workers, and those stuck on a worker that stopped answering."""
    counts = {"todo": 0, "doing": 0, "failed": 0}
    for row in await queue.job_manager.list_queues_async():
        for status in counts:
            counts[status] += row[status]
    stalled = list(await queue.job_manager.get_stalled_jobs(seconds_since_heartbeat=settings.stalled_after))
    return {"waiting": counts["todo"], "running": counts["doing"], "failed": counts["failed"], "stalled": len(stalled)}


class SendInTransaction:
    """Defers a channel's send job on the caller's connection, in the transaction writing its outbox row.

    The row and its job then commit or roll back together. The job goes in a savepoint:
    should deferring fail, the row is kept all the same (the periodic digest task queues a
    send for every channel with mail), so nothing is lost either way.
    """

    def __init__(self, url: str) -> None:
        self.queue = procrastinate.App(connector=procrastinate.SyncPsycopgConnector(conninfo=url))

    def defer(self, conn: psycopg.Connection, address: ChannelAddress) -> bool:
        """On ``conn`` (inside its open transaction); False if the job could not be deferred."""
        cid = channel_id(address.platform, address.workspace or "", address.channel)
        try:
            with conn.transaction():
                self.queue.configure_task(DELIVER_TASK, lock=f"channel:{cid}", connection=conn).defer(channel=cid)
        except (psycopg.Error, procrastinate.exceptions.ProcrastinateException) as exc:
            log.warning("could not queue the send to channel %s (%s); the next tick queues it", cid, exc)
            return False
        return True

    def defer_poll(self, conn: psycopg.Connection, feed: str) -> None:
        """Feed ``feed``'s poll job on ``conn``, in its open transaction (the feed's claim commits with it)."""
        self.queue.configure_task(POLL_TASK, lock=f"feed:{feed}", connection=conn).defer(feed=feed)
