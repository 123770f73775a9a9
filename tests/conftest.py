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
