"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from feedserver import FeedServer


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    """A fresh loopback feed server (see tests/feedserver.py), stopped after the test."""
    with FeedServer() as server:
        yield server


@pytest.fixture(autouse=True)
def _ephemeral_http_port(monkeypatch: pytest.MonkeyPatch) -> None:
    """`botsvc run` processes started by tests listen on a free port, never on 3000."""
    monkeypatch.setenv("BOTSVC_HTTP_PORT", "0")
    monkeypatch.setenv("BOTSVC_HTTP_HOST", "127.0.0.1")
