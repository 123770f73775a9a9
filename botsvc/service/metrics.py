"""Prometheus metrics for ``/metrics`` (names prefixed ``botsvc_``).

Counters are per process (they start at zero when ``run`` starts, as Prometheus
expects); the outbox gauges are read from SQLite at scrape time, so they are right
even for messages queued before a restart.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from botsvc.deliver.outbox import FlushReport
from botsvc.service.cycle import CycleReport
from botsvc.store.outbox import troubled_platforms, unsent_counts
from botsvc.store.store import Store

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _OutboxCollector(Collector):
    """Messages by outbox status, counted in the database when scraped."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "botsvc_messages_queued", "Outbox messages by status (pending, held, failed)", labels=["status"]
        )
        counts = {"pending": 0, "held": 0, "failed": 0}
        counts.update(unsent_counts(self.store))
        for status, count in counts.items():
            family.add_metric([status], count)
        yield family
        refused = GaugeMetricFamily(
            "botsvc_credentials_refused", "1 while a platform refuses the bot's credentials", labels=["platform"]
        )
        for platform in troubled_platforms(self.store):
            refused.add_metric([platform], 1)
        yield refused


class Metrics:
    def __init__(self, store: Store) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.feeds_polled = Counter(
            "botsvc_feeds_polled", "Feed polls, by feed and outcome", ["feed", "outcome"], registry=r
        )
        self.fetch_errors = Counter("botsvc_fetch_errors", "Failed feed polls, by feed", ["feed"], registry=r)
        self.items = Counter("botsvc_items", "Feed items judged, by decision", ["decision"], registry=r)
        self.events_opened = Counter("botsvc_events_opened", "Events opened (new stories)", registry=r)
        self.delivered = Counter("botsvc_messages_delivered", "Outbox messages delivered", registry=r)
        self.failed = Counter(
            "botsvc_messages_failed",
            "Messages not delivered by a flush: kept for a retry, held (channel gone) or failed (refused for good)",
            ["kind"],
            registry=r,
        )
        self.cycle_duration = Histogram(
            "botsvc_cycle_duration_seconds",
            "Time to poll, judge and store one feed",
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=r,
        )
        self.last_success = Gauge(
            "botsvc_last_successful_poll_timestamp_seconds",
            "Unix time of the last poll that fetched or was answered 304",
            registry=r,
        )
        self.jobs = Gauge(
            "botsvc_jobs",
            "Job queue (PostgreSQL): jobs waiting, running, failed, and stalled (left by a worker that stopped)",
            ["status"],
            registry=r,
        )
        r.register(_OutboxCollector(store))

    def record_cycle(self, report: CycleReport) -> None:
        self.cycle_duration.observe((report.finished - report.started).total_seconds())
        for feed in report.feeds:
            self.feeds_polled.labels(feed.target.name, feed.status).inc()
            if feed.status == "error":
                self.fetch_errors.labels(feed.target.name).inc()
            else:
                self.last_success.set(report.finished.timestamp())
            for outcome in feed.outcomes:
                self.items.labels(outcome.decision).inc()
            for decision, count in feed.counted.items():  # the items the report does not list
                self.items.labels(decision).inc(count)
        self.events_opened.inc(len(report.new_event_ids))

    def record_delivery(self, report: FlushReport) -> None:
        self.delivered.inc(report.delivered)
        if report.waiting:
            self.failed.labels("retry").inc(report.waiting)
        if report.held:
            self.failed.labels("held").inc(report.held)
        if report.failed:
            self.failed.labels("failed").inc(report.failed)

    def record_queue(self, report: dict) -> None:
        """The queue's figures as read at scrape time (:func:`botsvc.service.jobs.queue_report`)."""
        for status in ("waiting", "running", "failed", "stalled"):
            self.jobs.labels(status).set(report.get(status, 0))

    def render(self) -> bytes:
        return generate_latest(self.registry)
