"""One worker process of the job queue (``botsvc worker``; ``botsvc run`` on PostgreSQL).

The jobs (:mod:`botsvc.service.jobs`) run on this process's asyncio loop; judging and
storing a feed run in the intake thread under the write turn, exactly as in ``botsvc run``
(:class:`~botsvc.service.scheduler.Poller` does the poll). SIGTERM (or SIGINT) stops the
worker cleanly: no new jobs, running ones get :data:`SHUTDOWN_GRACE` seconds to finish.
A worker killed outright leaves its jobs running in the queue's eyes; another worker's
periodic stalled-job check queues them again once its heartbeat is ``stalled_after`` old.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from datetime import timedelta

import procrastinate
from procrastinate.exceptions import ConnectorException, ProcrastinateException

from botsvc.config import FeedConfig
from botsvc.deliver.adapter import Adapter, DeliveryError
from botsvc.deliver.delivery import queue_digests
from botsvc.deliver.outbox import Courier, channel_id, on_enqueue
from botsvc.ingest.fetch import make_client
from botsvc.models import ChannelAddress
from botsvc.service.app import App
from botsvc.service.due import claim_due
from botsvc.service.health import Health, max_age_for
from botsvc.service.intake import Intake
from botsvc.service.jobs import (
    ALERT_TASK,
    CONTEXT_KEY,
    DELIVER_TASK,
    DIGEST_LOCK,
    POLL_TASK,
    QueueSettings,
    SendInTransaction,
    build_queue,
    queue_report,
)
from botsvc.service.metrics import Metrics
from botsvc.service.scheduler import SHUTDOWN_GRACE, STOP_SIGNALS, Poller
from botsvc.service.web import start_web
from botsvc.store import errors
from botsvc.store.placement import LOCK_WAITS
from botsvc.store.pollqueue import channels_to_send, claims_older_than, release_poll
from botsvc.store.queue_schema import ensure_queue_schema, store_connection
from botsvc.store.store import Store, StoreError, database_problem

log = logging.getLogger(__name__)

ORPHAN_AFTER = 120.0
"""Seconds after which a feed's claim with no poll job in the queue is taken over."""


class _QueuePoller(Poller):
    """A poll as ``botsvc run`` does it, except that delivery after it becomes send jobs."""

    def __init__(self, worker: QueueWorker, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.worker = worker

    async def deliver(self, *, realtime: bool) -> None:
        await self.worker.request_alerts()


class QueueWorker:
    """What the jobs of one process share: the app, its adapters, the intake thread and the queue."""

    def __init__(
        self,
        app: App,
        adapters: Mapping[str, Adapter],
        queue: procrastinate.App,
        settings: QueueSettings,
        intake: Intake,
        metrics: Metrics | None = None,
    ) -> None:
        self.app = app
        self.adapters = adapters
        self.queue = queue
        self.settings = settings
        self.intake = intake
        self.metrics = metrics
        self.poller = _QueuePoller(self, app, adapters, metrics, intake)
        self.stalled_retried = 0
        self.polls_in_transaction: SendInTransaction | None = None
        """Set when the store's database holds the queue: claims and poll jobs then commit together."""

    def _feed(self, name: str) -> FeedConfig | None:
        """The feed a job names: from the configuration (no query), else among those added from chat."""
        for feed in self.app.config.feeds:  # a configured name shadows a chat-added one, as in App.feeds
            if feed.name == name:
                return feed if feed.enabled else None
        return next((feed for feed in self.app.feeds() if feed.name == name), None)

    async def poll(self, name: str) -> None:
        """The ``poll_feed`` job: poll, store, queue what is due, then let go of the feed's claim."""
        try:
            feed = self._feed(name)
            if feed is None:  # removed from the configuration since it was queued
                log.info("%s: no longer configured; not polled", name)
            else:
                await self.poller.poll_feed(feed)
        finally:
            await self.intake.write(release_poll, self.intake.store, name)

    async def send(self, channel: str) -> None:
        """The ``deliver_channel`` job: send one channel's pending messages, in order."""
        courier = Courier(
            self.app.store, self.adapters, clock=self.app.processor.clock, writing=lambda: self.intake.turn
        )
        try:
            report = await courier.flush(channel=channel)
        except errors.DatabaseError as exc:
            log.error("delivery: database write failed: %s; pending messages stay in the outbox", database_problem(exc))
            return
        if self.metrics is not None:
            self.metrics.record_delivery(report)
        if report.delivered or report.waiting or report.held or report.failed:
            log.info(
                "delivery to channel %s: %d delivered, %d waiting, %d held, %d failed",
                channel,
                report.delivered,
                report.waiting,
                report.held,
                report.failed,
            )

    async def queue_and_send(self, *, realtime: bool) -> None:
        """Write the digests due now (realtime ones too after a poll), then a send job per channel with mail."""
        try:
            now = self.app.processor.clock()
            await self.intake.write(queue_digests, self.intake.store, self.app.config, now, realtime=realtime)
            await self.defer_sends()
        except errors.DatabaseError as exc:
            log.error("delivery: database write failed: %s; the next tick retries", database_problem(exc))

    async def defer_sends(self) -> int:
        """A ``deliver_channel`` job for each channel with a message due, unless one already waits."""
        channels = channels_to_send(self.app.store, self.app.processor.clock())
        if not channels:
            return 0
        waiting = {job.lock for job in await self.queue.job_manager.list_jobs_async(task=DELIVER_TASK, status="todo")}
        deferred = 0
        for key in channels:
            cid = channel_id(*key)
            lock = f"channel:{cid}"
            if lock in waiting:  # a job that has not started yet will send this mail too
                continue
            await self.queue.configure_task(DELIVER_TASK, lock=lock).defer_async(channel=cid)
            deferred += 1
        return deferred

    async def request_alerts(self) -> bool:
        """After a poll: a ``queue_alerts`` job, unless one is already waiting (it will see this poll's events)."""
        waiting = await self.queue.job_manager.list_jobs_async(task=ALERT_TASK, status="todo")
        if any(True for _ in waiting):
            return False
        await self.queue.configure_task(ALERT_TASK, lock=DIGEST_LOCK).defer_async()
        return True

    async def enqueue_due(self) -> list[str]:
        """The periodic enqueuer: claim every due feed, then queue one poll job per claim."""
        now = self.app.processor.clock()
        orphaned_before = now - timedelta(seconds=max(ORPHAN_AFTER, 2 * self.settings.tick))
        live: set[str] = set()
        if claims_older_than(self.app.store, orphaned_before):  # which of them still have a job?
            live = {
                str(job.task_kwargs.get("feed"))
                for status in ("todo", "doing")
                for job in await self.queue.job_manager.list_jobs_async(task=POLL_TASK, status=status)
            }
        together = self.polls_in_transaction
        queue_poll = None
        if together is not None:
            connection = store_connection(self.intake.store)
            queue_poll = lambda name: together.defer_poll(connection, name)  # noqa: E731
        try:
            claimed = await self.intake.write(
                claim_due,
                self.intake.store,
                self.app.feeds(),
                now,
                slack=float(self.settings.tick),
                abandoned_before=now - timedelta(seconds=self.settings.abandoned_after),
                orphaned_before=orphaned_before,
                live=live,
                queue_poll=queue_poll,
            )
        except errors.DatabaseError + (ProcrastinateException,) as exc:
            log.warning("could not queue the polls of due feeds (%s); they are tried at the next tick", exc)
            return []
        if together is not None:
            if claimed:
                log.info("queued polls of %d due feed(s)", len(claimed))
            return claimed
        for name in claimed:
            try:
                await self.queue.configure_task(POLL_TASK, lock=f"feed:{name}").defer_async(feed=name)
            except ConnectorException as exc:  # the claim would hold the feed back: let it go
                log.warning("%s: could not queue its poll (%s); it is tried at the next tick", name, exc)
                await self.intake.write(release_poll, self.intake.store, name)
        if claimed:
            log.info("queued polls of %d due feed(s)", len(claimed))
        return claimed

    async def retry_stalled(self) -> int:
        """Queue again the jobs of workers that stopped answering (killed, frozen, cut off)."""
        stalled = await self.queue.job_manager.get_stalled_jobs(seconds_since_heartbeat=self.settings.stalled_after)
        retried = 0
        for job in stalled:
            try:
                await self.queue.job_manager.retry_job(job)
            except Exception as exc:  # one job that cannot be requeued never keeps the others stuck
                log.error("job %s (%s) of a stopped worker could not be queued again: %s", job.id, job.task_name, exc)
                continue
            retried += 1
            log.warning("job %s (%s) was left running by a worker that stopped; queued again", job.id, job.task_name)
        self.stalled_retried += retried
        return retried

    async def prune(self) -> None:
        await self.poller.prune()


def send_in_transaction(sends: SendInTransaction) -> Callable[[Store, ChannelAddress], None]:
    """The outbox hook of a PostgreSQL store: the send job, on the store's connection."""

    def hook(store: Store, address: ChannelAddress) -> None:
        sends.defer(store_connection(store), address)

    return hook


async def work(
    app: App,
    adapters: Mapping[str, Adapter],
    settings: QueueSettings,
    *,
    concurrency: int = 1,
    web: bool = False,
    stop: asyncio.Event | None = None,
    name: str | None = None,
) -> None:
    """Run jobs until SIGINT/SIGTERM/SIGHUP (or ``stop``).

    ``web``: also serve ``/healthz``, ``/metrics`` and the chat platforms' routes (``botsvc run``).
    """
    stop = stop or asyncio.Event()
    try:
        if await asyncio.to_thread(ensure_queue_schema, settings.url):
            log.info("job queue tables created")
    except Exception as exc:
        raise StoreError(f"job queue: cannot reach or prepare the database: {exc}".strip()) from None
    intake = await Intake.open(app, settings.url if app.store.dialect == "postgres" else None)
    try:
        queue = build_queue(settings, pool_size=concurrency + 3)
        await queue.open_async()
        try:
            await _work(app, adapters, settings, queue, intake, concurrency=concurrency, web=web, stop=stop, name=name)
        finally:
            await queue.close_async()
    finally:
        await intake.close()


async def _work(
    app: App,
    adapters: Mapping[str, Adapter],
    settings: QueueSettings,
    queue: procrastinate.App,
    intake: Intake,
    *,
    concurrency: int,
    web: bool,
    stop: asyncio.Event,
    name: str | None,
) -> None:
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    metrics = Metrics(app.store)
    worker = QueueWorker(app, adapters, queue, settings, intake, metrics)
    if app.store.dialect == "postgres":  # the store's own database: one transaction
        for store in (app.store, intake.store):
            on_enqueue(store, send_in_transaction(SendInTransaction(settings.url)))
        worker.polls_in_transaction = SendInTransaction(settings.url)
    worker.poller.on_fatal = stop.set
    # One fetch client for every poll job of this process: its TLS context, connection
    # pools and resolver are made once, not per job (closed when the worker stops).
    client = worker.poller.client = make_client(app.policy)
    running = asyncio.create_task(
        queue.run_worker_async(
            concurrency=concurrency,
            name=name or "worker",
            additional_context={CONTEXT_KEY: worker},
            install_signal_handlers=False,
            update_heartbeat_interval=settings.heartbeat,
            stalled_worker_timeout=settings.stalled_after,
            shutdown_graceful_timeout=SHUTDOWN_GRACE,
            delete_jobs="successful",
        )
    )
    web_runner = None
    if web:
        commands = app.commands(turn=intake.turn)
        for adapter in adapters.values():
            adapter.attach_commands(commands.run)
        health = Health(
            app.store,
            metrics,
            lambda: not running.done(),
            max_age_for([feed.interval for feed in app.feeds()]),
            app.processor.clock(),
        )
        health.queue_report = lambda: queue_report(queue, settings)
        worker.poller.health = health
        routes = health.routes() + [route for adapter in adapters.values() for route in adapter.http_routes()]
        web_runner = await start_web(routes)
    for platform, adapter in adapters.items():
        try:
            await adapter.start()
        except DeliveryError as exc:
            log.warning("%s: could not start (%s); messages wait in the outbox until it can send", platform, exc)
    log.info("worker started (%d job(s) at once)", concurrency)
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        log.info("stopping: letting running jobs finish")
        stopping.cancel()
        running.cancel()  # Procrastinate stops fetching and waits for running jobs (up to the grace)
        try:
            await running
        except asyncio.CancelledError:
            pass
        except ConnectorException as exc:
            raise StoreError(f"job queue: lost the database: {exc}") from None
        finally:
            for adapter in adapters.values():
                try:
                    await asyncio.wait_for(adapter.stop(), timeout=2)
                except (TimeoutError, Exception) as exc:
                    log.warning("stopping an adapter: %s", exc or "timed out")
            if web_runner is not None:
                await web_runner.cleanup()
            await client.aclose()
            if LOCK_WAITS.count:
                log.info("placement lock: %s", LOCK_WAITS.summary())
            for sig in STOP_SIGNALS:
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(sig)
    if worker.poller.fatal is not None:
        raise worker.poller.fatal
