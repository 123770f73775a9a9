"""A database after one poll of the sample feeds, made once per module and copied per test."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

from botsvc.service.app import App, open_app
from botsvc.service.cycle import run_cycle

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "feeds.toml"


def polled_database(directory: Path) -> Path:
    """The sample feeds polled once into ``directory``/polled.db (seeded archive included)."""
    path = directory / "polled.db"
    app = open_app(EXAMPLES, path)
    app.ensure_seeded()
    asyncio.run(run_cycle(app.store, app.processor, app.targets(), app.policy))
    app.close()
    return path


def app_on_a_copy(polled: Path, directory: Path) -> Iterator[App]:
    """An app on a fresh copy of ``polled``, closed afterwards (for a fixture to yield from)."""
    copy = directory / "copy.db"
    copy.write_bytes(polled.read_bytes())
    application = open_app(EXAMPLES, copy)
    yield application
    application.close()
