"""Polling commands: ``poll``, ``run``, ``prune``, ``seed``, ``check-config``, ``demo``."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from pathlib import Path

import click

from botsvc.cli.base import _fail, _setup_logging, cli, common, guarded
from botsvc.config import load_config, missing_feed_files, summarise
from botsvc.deliver.outbox import FlushReport
from botsvc.deliver.platforms import AdaptersOnDemand, available_adapters
from botsvc.models import ItemOutcome
from botsvc.service.app import App, open_app
from botsvc.service.cycle import CycleReport, FeedTarget, run_cycle
from botsvc.service.lock import InstanceLock
from botsvc.store.store import iso, open_store, utcnow

log = logging.getLogger("botsvc")
DEMO_DB = ".demo/botsvc-demo.db"


def outcome_json(outcome: ItemOutcome) -> str:
    item = outcome.item
    return json.dumps(
        {
            "feed": item.feed,
            "guid": item.guid,
            "link": item.link,
            "title": item.title,
            "published": iso(item.published),
            "source": item.source,
            "decision": outcome.decision,
            "reason": outcome.reason,
            "event_id": outcome.event_id,
            "duplicate_of": outcome.duplicate_of,
            "similarity": None if outcome.similarity is None else round(outcome.similarity, 4),
            "topics": outcome.topics,
            "matched_keywords": outcome.matched_keywords,
            "relevance": outcome.relevance,
            "alerted": outcome.alerted,
            "held_back": outcome.held_back,
        },
        ensure_ascii=False,
    )


async def _deliver(app: App) -> FlushReport:
    adapters = AdaptersOnDemand()  # only the platforms something is sent to are loaded
    try:
        return await app.deliver(adapters)
    finally:
        for adapter in adapters.values():
            await adapter.stop()


def _delivery_summary(report: FlushReport) -> str:
    text = f"delivered {report.delivered} message(s)"
    if report.waiting:
        text += f", {report.waiting} waiting for a retry"
        if report.refused_credentials:
            text += f" ({', '.join(sorted(report.refused_credentials))} credentials refused; no channel paused)"
    if report.held:
        text += f", {report.held} held (channel gone or bot removed)"
    if report.failed:
        text += f", {report.failed} failed (see `botsvc outbox list`)"
    return text


def _prune(app: App) -> str:
    """Apply ``[retention]`` after a poll; a short note for the summary line when it removed keys."""
    from botsvc.store.retention import configured_feeds, prune

    pruned = prune(app.store, app.config.retention, configured_feeds(app.store, app.config), app.processor.clock())
    return f"; pruned {pruned.removed} seen key(s)" if pruned.removed else ""


def _split_given(app: App, feeds: tuple[str, ...]) -> tuple[list[FeedTarget], list[FeedTarget]]:
    """The feeds given on the command line: those the bot polls (in feeds.toml or added from
    chat, polled as usual) and the others (only tried: :mod:`botsvc.service.trial`)."""

    def key(url: str) -> str:
        return url if url.startswith(("http://", "https://")) else str(Path(url).resolve())

    polled = {key(target.url): target for target in app.targets()}
    given = app.adhoc_targets(list(feeds))
    known = [polled[key(target.url)] for target in given if key(target.url) in polled]
    return known, [target for target in given if key(target.url) not in polled]


def _try(app: App, targets: list[FeedTarget], as_json: bool) -> CycleReport:
    """Judge feeds that are not polled; nothing is stored, queued or alerted."""
    from botsvc.service.trial import try_feeds

    report = asyncio.run(try_feeds(app.store, app.config, targets, app.policy, app.processor.clock))
    for feed in report.feeds:
        if feed.error:
            click.echo(f"botsvc: feed {feed.target.name}: {feed.error}", err=True)
        for outcome in feed.outcomes:
            if as_json:
                click.echo(outcome_json(outcome))
            else:
                click.echo(f"{outcome.decision}: {outcome.item.title[:120]} — {outcome.reason}")
    names = ", ".join(target.name for target in targets)
    click.echo(
        f"botsvc: dry run: not in {app.config.path} ({names}): {report.summary()}; nothing stored, "
        "nothing alerted (add a feed to the configuration or with /news feed add to poll it)",
        err=True,
    )
    return report


def _poll(app: App, feeds: tuple[str, ...], as_json: bool) -> CycleReport:
    known, tried = _split_given(app, feeds) if feeds else (app.targets(), [])
    app.ensure_seeded()
    trial = _try(app, tried, as_json) if tried else None
    if feeds and not known:
        assert trial is not None
        return trial
    app.sync_subscriptions()
    report = asyncio.run(
        run_cycle(app.store, app.processor, known, app.policy, limits=app.config.alerts, every_outcome=as_json)
    )
    _report_poll(app, report, as_json)
    if trial is not None:  # for the exit status: every feed given failed
        report.feeds.extend(trial.feeds)
    return report


def _report_poll(app: App, report: CycleReport, as_json: bool) -> None:
    pruned = _prune(app)
    if as_json:
        for outcome in report.outcomes:
            click.echo(outcome_json(outcome))
        click.echo(f"botsvc: {report.summary()}{pruned}", err=True)
        return  # inspection only: what is due stays queued for the next delivering poll
    delivery = asyncio.run(_deliver(app))
    click.echo(f"botsvc: {report.summary()}; {_delivery_summary(delivery)}{pruned}", err=True)
    for error in delivery.errors:
        click.echo(f"botsvc: {error}", err=True)


@cli.command()
@click.option("--once", is_flag=True, help="Poll every feed once, then exit (cron-friendly; `run` polls continuously).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON line per feed item instead of a digest.")
@click.argument("feeds", nargs=-1)
@common
def poll(once: bool, as_json: bool, feeds: tuple[str, ...], db_path: str, config_path: str, verbose: int) -> None:
    """Poll the configured feeds once, or the FEEDS given (http(s) URLs or local files).

    A feed given that is not in the configuration (nor added from chat) is only tried:
    judged as a poll would, nothing stored or alerted.
    """
    _setup_logging(verbose)
    with InstanceLock(db_path, "poll"):
        app = open_app(config_path, db_path)
        try:
            report = _poll(app, feeds, as_json)
        finally:
            app.close()
    if report.feeds and all(f.status == "error" for f in report.feeds):
        sys.exit(1)


@cli.command()
@common
def run(db_path: str, config_path: str, verbose: int) -> None:
    """Poll every feed on its schedule until stopped (Ctrl-C or SIGTERM).

    On PostgreSQL (BOTSVC_DATABASE_URL) it serves the HTTP endpoints and runs one worker
    of the job queue, which also schedules the polls; start more with botsvc worker.
    """
    from botsvc.cli.worker import database_url  # the job queue's modules load only on PostgreSQL
    from botsvc.service.scheduler import serve

    _setup_logging(verbose, service=True)
    url = database_url(db_path)
    if url is not None:
        _run_on_postgres(url, config_path)
        return
    with InstanceLock(db_path, "run"):
        app = open_app(config_path, db_path)
        try:
            added = app.ensure_seeded()
            if added:
                log.info("seeded archive: %d article(s)", added)
            app.sync_subscriptions()
            asyncio.run(
                serve(
                    app,
                    available_adapters(
                        slack_managers=app.config.slack_managers,
                        slack_managers_only=app.config.slack_managers_only,
                    ),
                )
            )
        finally:
            app.close()
    log.info("stopped")


def _run_on_postgres(url: str, config_path: str) -> None:
    """``run`` on PostgreSQL: the HTTP endpoints, the periodic tasks and one worker of the job queue."""
    from botsvc.cli.worker import queue_settings
    from botsvc.service.queueworker import work

    app = open_app(config_path, url)
    try:
        added = app.ensure_seeded()
        if added:
            log.info("seeded archive: %d article(s)", added)
        app.sync_subscriptions()
        adapters = available_adapters(
            slack_managers=app.config.slack_managers, slack_managers_only=app.config.slack_managers_only
        )
        asyncio.run(work(app, adapters, queue_settings(url, app.config), web=True, name="run"))
    finally:
        app.close()
    log.info("stopped")


@cli.command()
@click.option("--dry-run", is_flag=True, help="Only count what would be removed.")
@common
def prune(dry_run: bool, db_path: str, config_path: str, verbose: int) -> None:
    """Forget identity keys of items long gone from their feeds ([retention] in the config)."""
    from botsvc.store.retention import configured_feeds
    from botsvc.store.retention import prune as prune_keys

    config = load_config(config_path)
    if not Path(db_path).exists():
        _fail(f"{db_path}: no database here (nothing to prune)", 1)
    store = open_store(db_path)
    try:
        report = prune_keys(store, config.retention, configured_feeds(store, config), utcnow(), dry_run=dry_run)
    finally:
        store.close()
    click.echo(report.summary())


@cli.command()
@common
def seed(db_path: str, config_path: str, verbose: int) -> None:
    """Load the seeded article set (idempotent)."""
    app = open_app(config_path, db_path)
    try:
        added = app.ensure_seeded()
        event_id = app.store.seeded_event_id()
    finally:
        app.close()
    if added:
        click.echo(f"seeded {added} article(s) into event {event_id}")
    else:
        click.echo(f"already seeded (event {event_id}); nothing added")


@cli.command("check-config")
@common
def check_config(db_path: str, config_path: str, verbose: int) -> None:
    """Validate the configuration and summarise it."""
    config = load_config(config_path)
    click.echo(summarise(config))
    missing = missing_feed_files(config)
    if missing:
        _fail(f"{config_path}: {'; '.join(missing)}", 2)
    click.echo(f"{config_path}: OK")


def examples_dir() -> Path:
    """The bundled sample feeds and their config (source tree, or $BOTSVC_EXAMPLES)."""
    override = os.environ.get("BOTSVC_EXAMPLES")
    return Path(override) if override else Path(__file__).resolve().parents[2] / "examples"


@cli.command()
@click.option(
    "--db",
    "db_path",
    envvar=None,
    default=DEMO_DB,
    show_default=True,
    help="Fresh SQLite file to create (an existing file is replaced only if it is the default).",
)
@click.option("--config", "config_path", default=None, help="Config to use instead of examples/feeds.toml.")
@click.option("-v", "--verbose", count=True)
@guarded
def demo(db_path: str, config_path: str | None, verbose: int) -> None:
    """One offline poll of the bundled sample feeds into a fresh database, digest on the terminal."""
    _setup_logging(verbose)
    config_path = config_path or str(examples_dir() / "feeds.toml")
    path = Path(db_path)
    if path.exists():
        if db_path != DEMO_DB:
            _fail(f"demo needs a fresh database, and {db_path} exists; remove it or pick another --db", 2)
        for suffix in ("", "-wal", "-shm"):
            Path(db_path + suffix).unlink(missing_ok=True)
    if db_path == DEMO_DB:
        Path(DEMO_DB).parent.mkdir(exist_ok=True)  # its own folder; another --db's must exist
    app = open_app(config_path, db_path)
    try:
        added = app.ensure_seeded()
        click.echo(
            f"Seeded the archive with {added} reports of one known event "
            f"(South Korea ends GSOMIA, Aug 2019); repeats of them are never alerted."
        )
        click.echo(f"Polling {len(app.targets())} sample feeds from {config_path} …\n")
        _poll(app, (), as_json=False)
    finally:
        app.close()
    click.echo(
        f"\nDatabase: {db_path}. Try `botsvc poll --once --json --db {db_path} --config {config_path}`: "
        "a second poll reports every item as duplicate."
    )
