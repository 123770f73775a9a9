"""``botsvc worker``: one process of the job queue, when the store is PostgreSQL."""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING

import click

from botsvc.cli.base import DATABASE_URL_ENV, _fail, _setup_logging, cli, common, log
from botsvc.config import Config
from botsvc.deliver.platforms import available_adapters
from botsvc.service.app import open_app
from botsvc.store.backends import is_postgres_url

if TYPE_CHECKING:
    from botsvc.service.jobs import QueueSettings

STALLED_AFTER_ENV = "BOTSVC_STALLED_AFTER"
TICK_ENV = "BOTSVC_QUEUE_TICK"
COMMAND_CHANNELS = ("SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN")
"""What lets the Slack adapter take ``/news`` (HTTP or Socket Mode): left to ``botsvc run``."""


def database_url(db_path: str) -> str | None:
    """The PostgreSQL database the bot uses (``--db`` as resolved: BOTSVC_DATABASE_URL), or None for SQLite."""
    return db_path if is_postgres_url(db_path) else None


def queue_settings(url: str, config: Config, *, tick: int = 60, stalled_after: float = 30.0) -> QueueSettings:
    from botsvc.service.jobs import QueueSettings  # the job queue (procrastinate, psycopg) loads only on PostgreSQL

    return QueueSettings(url, tick=tick, stalled_after=stalled_after, prune_every=config.retention.interval)


@cli.command()
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Jobs this worker runs at once (polls wait on the network, so a few per process pay off).",
)
@click.option(
    "--stalled-after",
    type=click.FloatRange(1, 3600),
    default=30.0,
    show_default=True,
    envvar=STALLED_AFTER_ENV,
    show_envvar=True,
    help=(
        "Seconds without a heartbeat after which a worker counts as dead and its running jobs are run again "
        "(give every worker the same: heartbeats come every third of it)."
    ),
)
@click.option(
    "--tick",
    type=click.IntRange(1, 60),
    default=60,
    show_default=True,
    envvar=TICK_ENV,
    show_envvar=True,
    help="Seconds between two looks for due feeds, digests and stalled jobs (give every worker the same).",
)
@common
def worker(concurrency: int, stalled_after: float, tick: int, db_path: str, config_path: str, verbose: int) -> None:
    """Run queued jobs (polls, deliveries, digests, pruning) until stopped; PostgreSQL only.

    Start as many as you like, on any machines, all with the same BOTSVC_DATABASE_URL
    and configuration. SIGTERM lets running jobs finish (a few seconds) and exits; a
    worker killed outright has its jobs run again by another one after --stalled-after.
    """
    from botsvc.service.queueworker import work

    url = database_url(db_path)
    if url is None:
        _fail(
            f"botsvc worker needs PostgreSQL: set {DATABASE_URL_ENV}=postgresql://…; "
            "with SQLite, botsvc run does all the work in one process",
            2,
        )
        return
    _setup_logging(verbose, service=True)
    app = open_app(config_path, url)
    try:
        settings = queue_settings(url, app.config, tick=tick, stalled_after=stalled_after)
        # Workers only send: chat commands come in where botsvc run serves them.
        env = {name: value for name, value in os.environ.items() if name not in COMMAND_CHANNELS}
        asyncio.run(work(app, available_adapters(env), settings, concurrency=concurrency))
    finally:
        app.close()
    log.info("stopped")
