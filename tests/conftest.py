"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from feedserver import FeedServer
from pgserver import PostgresServer, running_postgres


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


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL cluster for the whole run (see tests/pgserver.py)."""
    with running_postgres() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)
