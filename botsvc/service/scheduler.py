"""Long-running mode: one APScheduler job per feed, deliveries after each poll.

Jobs for one feed never overlap (``max_instances=1``) and missed runs collapse into
one (``coalesce``). All jobs run on one asyncio loop, which also serves ``/healthz`` and
Slack's ``/news``; parsing, judging and storing run in the intake thread
(:mod:`botsvc.service.intake`) so a big feed never holds the loop. Database writes never
interleave: every writer holds the intake's write turn (a feed's transaction in the
thread; queueing, each short outbox write, backoff bookkeeping and every command's writes
on the loop), both connections refuse a write made without it, and no one holds it across
a request to a chat platform.
A minutely job serves hourly/daily subscriptions and retries held-back messages; one
lock keeps two deliveries from sending the same outbox row. A retention job prunes
stale seen keys at start and every ``[retention] interval``, a batch per turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from botsvc.clocks import not_after
from botsvc.config import FeedConfig
from botsvc.deliver.adapter import Adapter, DeliveryError
from botsvc.service.app import App, feed_target
from botsvc.service.backoff import LONGEST_DELAY, retry_delay
from botsvc.service.cycle import CycleReport, run_cycle
from botsvc.service.health import Health, max_age_for
from botsvc.service.intake import Intake
from botsvc.service.metrics import Metrics
from botsvc.service.replays import StoredReplays
from botsvc.service.web import start_web
from botsvc.store import errors
from botsvc.store.fileid import mark_lost
from botsvc.store.retention import Pruner, configured_feeds
from botsvc.store.store import StoreError, database_problem, is_busy, parse_iso

if TYPE_CHECKING:
    from botsvc.ingest.connect import FetchClient

log = logging.getLogger(__name__)

DATABASE_CHECK_INTERVAL = 15.0
"""Seconds between checks that the database file is still there and whole (also done before each job)."""
SHUTDOWN_GRACE = 6.0
"""Seconds SIGTERM waits for running polls before cancelling them (exit well within 10 s)."""


class Poller:
    """Polls one feed at a time and delivers what is due through the adapters.

    With an ``intake`` (as ``serve`` gives it), judging and storing run in its thread;
    without one, on the loop (tests that drive a poller directly).
    """

    def __init__(
        self, app: App, adapters: Mapping[str, Adapter], metrics: Metrics | None = None, intake: Intake | None = None
    ) -> None:
        self.app = app
        self.adapters = adapters
        self.metrics = metrics
        self.intake = intake
        self.health: Health | None = None
        self._running = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._delivering = asyncio.Lock()
        self._tasks: set[asyncio.Task] = set()
        self.fatal: Exception | None = None
        self.on_fatal: Callable[[], None] | None = None
        self.client: FetchClient | None = None
        """A fetch client kept open across polls (a queue worker's); None: one per poll."""

    def database_lost(self, problem: str | None = None) -> bool:
        """Whether the database file is gone or damaged (checked now unless ``problem`` is given).

        Polling on would write into a file nobody will read again and a restart would
        alert everything anew, so the first time it is seen the bot stops.
        """
        problem = problem or self.app.store.file_problem()
        if problem is None:
            return False
        if self.fatal is None:
            self.fatal = StoreError(
                f"{problem}; stopped so nothing is alerted twice. Restore the database "
                "(or remove it to start afresh), then start again"
            )
            log.error("%s; stopping", problem)
            mark_lost(self.app.store.path, problem)
            if self.on_fatal:
                self.on_fatal()
        return True

    async def check_database(self) -> None:
        """The periodic job: stop if the database file was deleted, replaced or truncated."""
        self.database_lost()

    async def poll_feed(self, feed: FeedConfig) -> CycleReport | None:
        async with self._busy():
            if self.database_lost():
                return None
            now = self.app.processor.clock()
            state = self.app.store.feed_state(feed.name)
            retry_at = (
                None
                if state is None
                else not_after(
                    parse_iso(state.retry_at),
                    now,
                    ahead=timedelta(seconds=LONGEST_DELAY),
                    what=f"{feed.name}: next attempt",
                )
            )
            if state is not None and retry_at is not None and retry_at > now:
                log.debug(
                    "%s: resting after %d failure(s) until %s", feed.name, state.consecutive_failures, state.retry_at
                )
                return None
            try:
                if self.intake is None:
                    report = await run_cycle(
                        self.app.store,
                        self.app.processor,
                        [feed_target(feed)],
                        self.app.policy,
                        limits=self.app.config.alerts,
                        client=self.client,
                    )
                else:
                    report = await run_cycle(
                        self.intake.store,
                        self.intake.processor,
                        [feed_target(feed)],
                        self.app.policy,
                        limits=self.app.config.alerts,
                        intake=self.intake,
                        client=self.client,
                    )
                log.info("%s: %s", feed.name, report.summary())
                if self.metrics is not None:
                    self.metrics.record_cycle(report)
                if any(f.status != "error" for f in report.feeds) and self.health is not None:
                    self.health.last_success = report.finished
            except asyncio.CancelledError:  # shutdown ran out of patience: nothing was half-stored
                log.info("%s: poll cancelled by shutdown; it runs again at the next start", feed.name)
                return None
            except errors.DatabaseError as exc:
                if is_busy(exc):  # another process holds a write lock: the next run retries
                    log.warning("%s: %s; retrying at the next run", feed.name, database_problem(exc))
                    return None
                self.fatal = exc  # a full or read-only disk: stop rather than poll in vain
                log.error("%s: database write failed: %s; stopping", feed.name, database_problem(exc))
                if self.on_fatal:
                    self.on_fatal()
                return None
            except Exception:  # a job must never kill the scheduler; the next run retries
                log.exception("poll of %s failed", feed.name)
                return None
            async with self._writing():
                self._rest_if_failing(feed)
            await self.deliver(realtime=True)
            return report

    def _writing(self) -> contextlib.AbstractAsyncContextManager:
        """The write turn, for writes on the loop's connection (nothing to wait for without an intake)."""
        return self.intake.turn if self.intake is not None else contextlib.nullcontext()

    def _rest_if_failing(self, feed: FeedConfig) -> None:
        state = self.app.store.feed_state(feed.name)
        if state is None or not state.consecutive_failures:
            return
        delay = retry_delay(state.consecutive_failures, feed.interval)
        retry_at = self.app.processor.clock() + timedelta(seconds=delay)
        self.app.store.set_retry_at(feed.name, retry_at)
        log.warning(
            "%s: %d consecutive failure(s) (%s); next attempt at %s",
            feed.name,
            state.consecutive_failures,
            state.last_error,
            retry_at.isoformat(timespec="seconds"),
        )

    async def deliver(self, *, realtime: bool) -> None:
        """Queue what is due and send what is pending; never raises (the outbox keeps it)."""
        async with self._busy(), self._delivering:  # the writes take the write turn themselves
            if self.database_lost():
                return
            try:
                report = await self.app.deliver(self.adapters, realtime=realtime, intake=self.intake)
            except asyncio.CancelledError:
                log.info("delivery cancelled by shutdown; unsent messages stay in the outbox")
                return
            except errors.DatabaseError as exc:  # a full, read-only or locked database: one line, the next run retries
                log.error(
                    "delivery: database write failed: %s; pending messages stay in the outbox", database_problem(exc)
                )
                return
            except Exception:
                log.exception("delivery failed; pending messages stay in the outbox")
                return
            if self.metrics is not None:
                self.metrics.record_delivery(report)
            if report.delivered or report.waiting or report.held or report.failed:
                log.info(
                    "delivery: %d delivered, %d waiting, %d held, %d failed",
                    report.delivered,
                    report.waiting,
                    report.held,
                    report.failed,
                )

    async def prune(self) -> None:
        """Apply ``[retention]``: one short transaction per batch, so polls and sends go on between."""
        async with self._busy():
            pruner = Pruner(
                self.app.config.retention, configured_feeds(self.app.store, self.app.config), self.app.processor.clock()
            )
            try:
                if self.intake is None:
                    while pruner.step(self.app.store):
                        await asyncio.sleep(0)
                else:
                    while await self.intake.write(pruner.step, self.intake.store):
                        pass
            except asyncio.CancelledError:
                log.info("pruning cancelled by shutdown; it goes on at the next start")
                return
            except errors.DatabaseError as exc:  # a busy or failing disk: the polls report it; retry next time
                log.warning("pruning failed: %s; retrying at the next run", database_problem(exc))
                return
            log.info("retention: %s", pruner.report.summary())

    @contextlib.asynccontextmanager
    async def _busy(self):
        self._running += 1
        self._idle.clear()
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            yield
        finally:
            self._tasks.discard(task)
            self._running -= 1
            if not self._running:
                self._idle.set()

    async def finish(self, grace: float) -> None:
        """Let running polls and deliveries finish for ``grace`` seconds, then cancel them.

        Cancelling is safe: a task only waits on the network (fetching, sending) outside
        any transaction, so a cancelled poll leaves its feed as it was (refetched next
        time) and a cancelled send leaves its message pending.
        """
        try:
            await asyncio.wait_for(self._idle.wait(), timeout=grace)
            return
        except TimeoutError:
            pass
        log.warning("still busy after %.0fs; cancelling %d task(s)", grace, len(self._tasks))
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
"""Each stops ``run`` cleanly. SIGHUP does not reload feeds.toml: the dedup index, the
adapters and the HTTP port were built from it at start-up and cannot all change in place,
so a half-applied reload would be worse than a restart. (It is also what a closed
terminal sends.)"""


def _stopper(sig: signal.Signals, stop: asyncio.Event) -> Callable[[], None]:
    def handler() -> None:
        if sig == signal.SIGHUP and not stop.is_set():
            log.info("SIGHUP: stopping cleanly (start again to apply feeds.toml changes)")
        stop.set()

    return handler


def schedule(scheduler: AsyncIOScheduler, poller: Poller, feeds: list[FeedConfig]) -> None:
    scheduler.add_job(
        poller.deliver,
        IntervalTrigger(seconds=60),
        kwargs={"realtime": False},
        id="deliver",
        name="scheduled digests and retries",
        max_instances=1,
        coalesce=True,
    )
    scheduler.add_job(
        poller.check_database,
        IntervalTrigger(seconds=DATABASE_CHECK_INTERVAL),
        id="check-database",
        name="database file check",
        max_instances=1,
        coalesce=True,
    )
    every = poller.app.config.retention.interval
    scheduler.add_job(
        poller.prune,
        IntervalTrigger(seconds=every),
        id="prune",
        name="retention of seen keys",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=every,
        next_run_time=datetime.now(timezone.utc),
    )
    sync_feed_jobs(scheduler, poller, feeds)


def sync_feed_jobs(scheduler: AsyncIOScheduler, poller: Poller, feeds: list[FeedConfig]) -> None:
    """One job per feed: add jobs for new feeds (first run now), remove those of removed ones."""
    now = datetime.now(timezone.utc)
    wanted = {f"poll:{feed.name}": feed for feed in feeds}
    for job in scheduler.get_jobs():
        if job.id.startswith("poll:") and job.id not in wanted:
            job.remove()
    for job_id, feed in wanted.items():
        if scheduler.get_job(job_id) is None:
            scheduler.add_job(
                poller.poll_feed,
                IntervalTrigger(seconds=feed.interval, jitter=min(30, feed.interval // 10)),
                args=[feed],
                id=job_id,
                name=f"poll {feed.name}",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=feed.interval,
                next_run_time=now,
            )


async def serve(app: App, adapters: Mapping[str, Adapter], stop: asyncio.Event | None = None) -> None:
    """Run until SIGINT/SIGTERM/SIGHUP (or ``stop`` is set), then finish the running polls and return."""
    intake = await Intake.open(app)
    try:
        await _serve(app, adapters, stop or asyncio.Event(), intake)
    finally:
        await intake.close()


async def _serve(app: App, adapters: Mapping[str, Adapter], stop: asyncio.Event, intake: Intake) -> None:
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        try:
            loop.add_signal_handler(sig, _stopper(sig, stop))
        except (NotImplementedError, RuntimeError):  # pragma: no cover - non-main thread / platform
            pass
    metrics = Metrics(app.store)
    poller = Poller(app, adapters, metrics, intake)
    poller.on_fatal = stop.set
    feeds = app.feeds()
    scheduler = AsyncIOScheduler(timezone=timezone.utc)
    schedule(scheduler, poller, feeds)
    commands = app.commands(on_feeds_changed=lambda: sync_feed_jobs(scheduler, poller, app.feeds()), turn=intake.turn)
    replays = StoredReplays(app.store, intake)
    for adapter in adapters.values():
        adapter.attach_commands(commands.run)
        adapter.remember_requests(replays)
    health = Health(
        app.store,
        metrics,
        lambda: scheduler.running,
        max_age_for([feed.interval for feed in feeds]),
        app.processor.clock(),
    )
    health.on_file_problem = poller.database_lost
    poller.health = health
    routes = health.routes() + [route for adapter in adapters.values() for route in adapter.http_routes()]
    web_runner = await start_web(routes)
    for name, adapter in adapters.items():
        try:
            await adapter.start()
        except DeliveryError as exc:  # e.g. a platform briefly down: sending retries later
            log.warning("%s: could not start (%s); messages wait in the outbox until it can send", name, exc)
    scheduler.start()
    log.info("polling %d feed(s); delivering through %s; press Ctrl-C to stop", len(feeds), ", ".join(sorted(adapters)))
    try:
        await stop.wait()
    finally:
        log.info("stopping: letting running polls finish")
        scheduler.pause()  # no new runs; shutting the executor down now would cancel running ones
        await poller.finish(grace=SHUTDOWN_GRACE)
        scheduler.shutdown(wait=False)
        for adapter in adapters.values():
            try:
                await asyncio.wait_for(adapter.stop(), timeout=2)
            except (TimeoutError, Exception) as exc:  # never block the exit on a platform
                log.warning("stopping an adapter: %s", exc or "timed out")
        try:  # the last admitted chat requests are recorded, so a restart refuses their replays
            await asyncio.wait_for(replays.settle(), timeout=2)
        except TimeoutError:
            log.info("stopping: the last chat requests were not recorded in time")
        if web_runner is not None:
            await web_runner.cleanup()
        for sig in STOP_SIGNALS:
            try:
                loop.remove_signal_handler(sig)
            except (NotImplementedError, RuntimeError):  # pragma: no cover
                pass
    if poller.fatal is not None:
        raise poller.fatal
