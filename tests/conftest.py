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
def postgres_contract_database(postgres_server: PostgresServer) -> str:
    """One database for the contract tests; each test's stores live in schemas of their own."""
    return postgres_server.create_database(prefix="contract")


class Databases:
    """Where a test keeps its databases on one back-end: ``db_at("name.db")`` is a file in
    the test's folder (SQLite) or a PostgreSQL URL of its own (a fresh schema, migrated on
    first open: cheaper than a database each), the same each time it is asked for by the
    same name (a restart reopens it)."""

    def __init__(self, dialect: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
        self.dialect = dialect
        self._tmp_path = tmp_path
        self._request = request
        self._schemas: dict[str, str] = {}

    def __call__(self, name: str) -> str:
        if self.dialect == "sqlite":
            return str(self._tmp_path / name)
        database: str = self._request.getfixturevalue("postgres_contract_database")
        if name not in self._schemas:
            import psycopg

            Databases._made += 1
            schema = f"s{Databases._made}"
            with psycopg.connect(database, autocommit=True) as conn:
                conn.execute(f"CREATE SCHEMA {schema}")
            self._schemas[name] = schema
        return f"{database}?options=-csearch_path%3D{self._schemas[name]}"

    _made = 0

    def drop(self) -> None:
        if not self._schemas:
            return
        import psycopg

        from botsvc.store import postgres

        postgres.close_pools()
        database: str = self._request.getfixturevalue("postgres_contract_database")
        with psycopg.connect(database, autocommit=True) as conn:
            for schema in self._schemas.values():
                conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", "postgres"])
def db_at(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Databases]:
    """The store contract: a test taking this fixture runs once on SQLite and once on PostgreSQL."""
    databases = Databases(request.param, tmp_path, request)
    yield databases
    databases.drop()
