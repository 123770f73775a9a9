"""Long-running mode: one APScheduler job per feed, digests after each poll.

Jobs for one feed never overlap (``max_instances=1``) and missed runs collapse into
one (``coalesce``). All jobs run on one asyncio loop, so database writes never
interleave: a job only yields while fetching.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import datetime, timezone

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from adapters.base import Adapter, ChannelAddress
from botsvc.app import App, feed_target
from botsvc.config import FeedConfig
from botsvc.cycle import CycleReport, run_cycle
from botsvc.digest import build_digest

log = logging.getLogger(__name__)


class Poller:
    """Polls one feed at a time and hands new events to an adapter."""

    def __init__(self, app: App, adapter: Adapter, channel: ChannelAddress) -> None:
        self.app = app
        self.adapter = adapter
        self.channel = channel
        self._running = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def poll_feed(self, feed: FeedConfig) -> CycleReport | None:
        self._running += 1
        self._idle.clear()
        try:
            report = await run_cycle(self.app.store, self.app.processor, [feed_target(feed)], self.app.policy)
            log.info("%s: %s", feed.name, report.summary())
            await self.deliver(report)
            return report
        except Exception:  # a job must never kill the scheduler; the next run retries
            log.exception("poll of %s failed", feed.name)
            return None
        finally:
            self._running -= 1
            if not self._running:
                self._idle.set()

    async def deliver(self, report: CycleReport) -> None:
        if not report.new_event_ids:
            return
        topic = self.app.config.topic(self.app.config.default_topic)
        digest = build_digest(self.app.store, report.new_event_ids, title=topic.title)
        for payload in self.adapter.render(digest):
            await self.adapter.send(self.channel, payload)

    async def wait_idle(self) -> None:
        await self._idle.wait()


def schedule(scheduler: AsyncIOScheduler, poller: Poller, feeds: list[FeedConfig]) -> None:
    now = datetime.now(timezone.utc)
    for feed in feeds:
        scheduler.add_job(
            poller.poll_feed, IntervalTrigger(seconds=feed.interval, jitter=min(30, feed.interval // 10)),
            args=[feed], id=f"poll:{feed.name}", name=f"poll {feed.name}",
            max_instances=1, coalesce=True, misfire_grace_time=feed.interval, next_run_time=now,
        )


async def serve(app: App, adapter: Adapter, channel: ChannelAddress, stop: asyncio.Event | None = None) -> None:
    """Run until SIGINT/SIGTERM (or ``stop`` is set), then finish the running polls and return."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - non-main thread / platform
            pass
    poller = Poller(app, adapter, channel)
    feeds = [feed for feed in app.config.feeds if feed.enabled]
    scheduler = AsyncIOScheduler(timezone=timezone.utc)
    schedule(scheduler, poller, feeds)
    await adapter.start()
    scheduler.start()
    log.info("polling %d feed(s); press Ctrl-C to stop", len(feeds))
    try:
        await stop.wait()
    finally:
        log.info("stopping: waiting for running polls to finish")
        scheduler.shutdown(wait=False)
        try:
            await asyncio.wait_for(poller.wait_idle(), timeout=20)
        except asyncio.TimeoutError:
            log.warning("a poll was still running after 20s; stopping anyway")
        await adapter.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.remove_signal_handler(sig)
            except (NotImplementedError, RuntimeError):  # pragma: no cover
                pass
