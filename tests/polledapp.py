"""A database after one poll of the sample feeds, made once per module and copied per test
(a file copy on SQLite; on PostgreSQL a database made with it as its template)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

from pgserver import PostgresServer

from botsvc.service.app import App, open_app
from botsvc.service.cycle import run_cycle
from botsvc.store import postgres

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "feeds.toml"


def polled_database(directory: Path, server: PostgresServer | None = None) -> Path | str:
    """The sample feeds polled once into ``directory``/polled.db (seeded archive included),
    or into a new database of ``server``."""
    path: Path | str = directory / "polled.db" if server is None else server.create_database(prefix="polled")
    app = open_app(EXAMPLES, path)
    app.ensure_seeded()
    asyncio.run(run_cycle(app.store, app.processor, app.targets(), app.policy))
    app.close()
    if server is not None:
        postgres.close_pools()  # a template database must have no connections
    return path


def app_on_a_copy(polled: Path | str, directory: Path, server: PostgresServer | None = None) -> Iterator[App]:
    """An app on a fresh copy of ``polled``, closed afterwards (for a fixture to yield from)."""
    if server is not None:
        url = server.create_database(template=str(polled))
        application = open_app(EXAMPLES, url)
        yield application
        application.close()
        postgres.close_pools()
        server.drop_database(url)
        return
    copy = directory / "copy.db"
    copy.write_bytes(Path(polled).read_bytes())
    application = open_app(EXAMPLES, copy)
    yield application
    application.close()
