"""Helpers for outbox tests: a real database, real subscriptions and digests in the real outbox,
flushed through the real adapters against tests/slackmock.py and tests/discordfake.py."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path

from botsvc.deliver.adapter import Adapter
from botsvc.deliver.outbox import Courier, FlushReport, RetryPolicy, enqueue
from botsvc.deliver.subscriptions import parse_mode, subscribe
from botsvc.models import ChannelAddress, Digest, DigestEvent, DigestStory
from botsvc.store.store import Store

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "feeds.toml"
T0 = datetime(2019, 8, 22, 10, 0, tzinfo=timezone.utc)
TOPIC = "japan-korea"


def digest(*titles: str, link: str = "https://news.example/{n}") -> Digest:
    """A digest with one event per title; ``link`` may use ``{n}`` (the event number)."""
    events = tuple(
        DigestEvent(n, DigestStory(title, "Wire", link.format(n=n), T0)) for n, title in enumerate(titles, 1)
    )
    return Digest("Japan–South Korea", events, T0)


def subscribed(store: Store, platform: str, channel: str) -> int:
    return subscribe(store, platform=platform, channel=channel, topic=TOPIC, mode=parse_mode("realtime"), now=T0)[0].id


def queue(store: Store, subscription_id: int, platform: str, channel: str, message: Digest) -> int:
    """Write ``message`` to the outbox for a subscription, as queue_digests does."""
    with store.atomic():
        return enqueue(store, ChannelAddress(platform, channel), message, subscription_id=subscription_id, now=T0)


def flush(store: Store, adapters: Mapping[str, Adapter]) -> FlushReport:
    """One real flush as ``poll --once`` does it (adapters connect lazily, stopped after), no backoff sleeps."""

    async def go() -> FlushReport:
        try:
            courier = Courier(
                store,
                adapters,
                policy=RetryPolicy(base_delay=0, tries_per_flush=2),
                clock=lambda: T0,
                sleep=lambda seconds: asyncio.sleep(0),
            )
            return await courier.flush()
        finally:
            for adapter in adapters.values():
                await adapter.stop()

    return asyncio.run(go())


def statuses(store: Store) -> dict[int, str]:
    return {row["id"]: row["status"] for row in store.query("SELECT id, status FROM outbox ORDER BY id")}


def botsvc(*args: str, env: Mapping[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """The real command line in a subprocess, as an operator runs it."""
    full = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    full.update(env)
    return subprocess.run(
        [sys.executable, "-m", "botsvc", *args], cwd=cwd, env=full, capture_output=True, text=True, timeout=120
    )
