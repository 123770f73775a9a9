"""``/healthz`` and ``/metrics`` on the bot's HTTP port.

Healthy means: the database answers and its file is still the one opened (not deleted,
replaced or truncated: see ``botsvc.store.fileid``), the scheduler is running, and a feed poll has
succeeded recently (within ``max_age``; a process younger than that is "starting").
Docker's HEALTHCHECK (``botsvc healthcheck``) and load balancers read the status code:
200 healthy, 503 not.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from aiohttp import web

from botsvc.deliver.adapter import Route
from botsvc.service.metrics import CONTENT_TYPE, Metrics
from botsvc.store import errors
from botsvc.store.connection import ping
from botsvc.store.store import Store, utcnow

MIN_MAX_AGE = 900.0


def max_age_for(intervals: list[int]) -> float:
    """How old the last successful poll may be: three of the shortest interval, at least 15 min."""
    return max(MIN_MAX_AGE, 3.0 * min(intervals)) if intervals else MIN_MAX_AGE


@dataclass
class Health:
    store: Store
    metrics: Metrics
    scheduler_running: Callable[[], bool]
    max_age: float
    started: datetime
    clock: Callable[[], datetime] = utcnow
    last_success: datetime | None = None
    on_file_problem: Callable[[str], object] | None = None
    """Told when the database file was deleted, replaced or truncated (``run`` stops on it)."""
    queue_report: Callable[[], Awaitable[dict]] | None = None
    """With the job queue (PostgreSQL): jobs waiting, running, failed and stalled, read when asked."""

    def report(self) -> tuple[bool, dict]:
        now = self.clock()
        try:
            ping(self.store)
            gone = self.store.file_problem()
            database = f"error: {gone}" if gone else "ok"
        except errors.DatabaseError as exc:
            gone, database = None, f"error: {exc}"
        if gone and self.on_file_problem is not None:
            self.on_file_problem(gone)
        scheduler = "running" if self.scheduler_running() else "stopped"
        uptime = (now - self.started).total_seconds()
        age = (now - self.last_success).total_seconds() if self.last_success else None
        if age is not None:
            polls = "ok" if age <= self.max_age else "stale"
        else:
            polls = "starting" if uptime <= self.max_age else "none yet"
        healthy = database == "ok" and scheduler == "running" and polls in ("ok", "starting")
        return healthy, {
            "status": "ok" if healthy else "unhealthy",
            "database": database,
            "scheduler": scheduler,
            "last_successful_poll_age_seconds": None if age is None else round(age, 1),
            "polls": polls,
            "max_age_seconds": self.max_age,
            "uptime_seconds": round(uptime, 1),
        }

    async def _queue(self) -> dict | str:
        """The queue's figures, or why they could not be read (then the process is unhealthy)."""
        assert self.queue_report is not None
        try:
            return await self.queue_report()
        except Exception as exc:  # the queue's database is unreachable
            return f"error: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}"

    async def healthz(self, request: web.Request) -> web.Response:
        healthy, body = self.report()
        if self.queue_report is not None:
            body["queue"] = queue = await self._queue()
            if isinstance(queue, str):
                healthy, body["status"] = False, "unhealthy"
        return web.Response(status=200 if healthy else 503, text=json.dumps(body), content_type="application/json")

    async def metrics_page(self, request: web.Request) -> web.Response:
        if self.queue_report is not None:
            queue = await self._queue()
            if isinstance(queue, dict):
                self.metrics.record_queue(queue)
        return web.Response(body=self.metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    def routes(self) -> list[Route]:
        return [("GET", "/healthz", self.healthz), ("GET", "/metrics", self.metrics_page)]
