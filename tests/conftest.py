"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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


@pytest.fixture(scope="session")
def postgres_template(postgres_server: PostgresServer) -> str:
    """A database migrated once to the latest version, cloned for each test that wants one."""
    from botsvc.store import backends
    from botsvc.store.store import open_store

    url = postgres_server.create_database(prefix="template")
    open_store(url).close()
    backends.close_pools()  # CREATE DATABASE ... TEMPLATE needs it unused
    return url


class Databases:
    """Where a test keeps its databases on one back-end: ``db_at("name.db")`` is a file in
    the test's folder (SQLite) or a migrated PostgreSQL database of its own, the same one
    each time it is asked for by the same name (a restart reopens it)."""

    def __init__(self, dialect: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
        self.dialect = dialect
        self._tmp_path = tmp_path
        self._request = request
        self._urls: dict[str, str] = {}

    def __call__(self, name: str) -> str:
        if self.dialect == "sqlite":
            return str(self._tmp_path / name)
        if name not in self._urls:
            server: PostgresServer = self._request.getfixturevalue("postgres_server")
            template: str = self._request.getfixturevalue("postgres_template")
            self._urls[name] = server.create_database(template=template)
        return self._urls[name]

    def drop(self) -> None:
        if not self._urls:
            return
        from botsvc.store import backends

        backends.close_pools()
        server: PostgresServer = self._request.getfixturevalue("postgres_server")
        for url in self._urls.values():
            server.drop_database(url)


@pytest.fixture(params=["sqlite", "postgres"])
def db_at(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Databases]:
    """The store contract: a test taking this fixture runs once on SQLite and once on PostgreSQL."""
    databases = Databases(request.param, tmp_path, request)
    yield databases
    databases.drop()
