"""Command line: ``botsvc run | poll | seed | check-config | demo``.

User-facing failures end with one clear line and a non-zero status, never a traceback:
status 2 for bad configuration or arguments, 1 for runtime failures.
"""

from __future__ import annotations

import asyncio
import sqlite3
import functools
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from botsvc import __version__
from botsvc.app import App, open_app
from botsvc.commands import CommandCore
from botsvc.config import ConfigError, load_config, summarise
from botsvc.cycle import CycleReport, run_cycle
from botsvc.models import CommandContext, ItemOutcome
from botsvc import outbox_admin
from botsvc.outbox import FlushReport, channel_label
from botsvc.platforms import available_adapters, missing_credentials
from botsvc import logs
from botsvc.lock import InstanceLock
from botsvc.store import StoreError, database_problem, iso, open_store, utcnow
from botsvc.volume import recent_surges
from botsvc.web import WebSettingsError
from botsvc.subscriptions import (
    PLATFORMS,
    SubscriptionError,
    all_subscriptions,
    parse_mode,
    subscribe,
    unsubscribe,
    validate,
)

DEFAULT_DB = "botsvc.db"
DEFAULT_CONFIG = "feeds.toml"
log = logging.getLogger("botsvc")


def _setup_logging(verbose: int, *, service: bool = False) -> None:
    """Services log with timestamps at INFO; one-shot commands print only problems, tersely."""
    default = "DEBUG" if verbose > 1 else "INFO" if (verbose or service) else "WARNING"
    level = os.environ.get("BOTSVC_LOG_LEVEL", "").upper() or default
    text = "%(asctime)s %(levelname)s %(name)s: %(message)s" if service else "botsvc: %(message)s"
    shape = os.environ.get("BOTSVC_LOG_FORMAT", "text").strip().lower()
    if shape not in logs.FORMATS:
        _fail(f"BOTSVC_LOG_FORMAT={shape!r}: expected text or json", 2)
    logs.setup(getattr(logging, level, logging.INFO), shape, text, sys.stderr)
    for noisy in ("httpx", "httpcore", "apscheduler.executors", "apscheduler.scheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _fail(message: str, status: int) -> None:
    click.echo(f"botsvc: error: {message}", err=True)
    sys.exit(status)


def guarded(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn expected failures into one line on stderr and an exit status."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            _fail(str(exc), 2)
        except StoreError as exc:
            _fail(str(exc), 1)
        except sqlite3.Error as exc:  # e.g. disk full or read-only after start-up
            _fail(f"database write failed: {database_problem(exc)}; nothing was lost, the next run retries", 1)
        except WebSettingsError as exc:
            _fail(str(exc), 2)
        except KeyboardInterrupt:
            click.echo("botsvc: interrupted", err=True)
            sys.exit(130)

    return wrapper


def common(func: Callable[..., Any]) -> Callable[..., Any]:
    """Options every subcommand takes after its name."""
    func = click.option("--db", "db_path", envvar="BOTSVC_DB", default=DEFAULT_DB, show_default=True,
                        show_envvar=True, help="SQLite database file.")(func)
    func = click.option("--config", "config_path", envvar="BOTSVC_CONFIG", default=DEFAULT_CONFIG,
                        show_default=True, show_envvar=True, help="Configuration file (TOML).")(func)
    func = click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")(func)
    return guarded(func)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="botsvc")
def cli() -> None:
    """botsvc: watch news feeds, keep relevant stories, fold duplicates into events, post digests."""


def outcome_json(outcome: ItemOutcome) -> str:
    item = outcome.item
    return json.dumps({
        "feed": item.feed, "guid": item.guid, "link": item.link, "title": item.title,
        "published": iso(item.published), "source": item.source,
        "decision": outcome.decision, "reason": outcome.reason,
        "event_id": outcome.event_id, "duplicate_of": outcome.duplicate_of,
        "similarity": None if outcome.similarity is None else round(outcome.similarity, 4),
        "topics": outcome.topics, "matched_keywords": outcome.matched_keywords,
        "alerted": outcome.alerted, "held_back": outcome.held_back,
    }, ensure_ascii=False)


async def _deliver(app: App) -> FlushReport:
    adapters = available_adapters()
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
    from botsvc.retention import configured_feeds, prune

    pruned = prune(app.store, app.config.retention, configured_feeds(app.store, app.config), app.processor.clock())
    return f"; pruned {pruned.removed} seen key(s)" if pruned.removed else ""


def _poll(app: App, feeds: tuple[str, ...], as_json: bool) -> CycleReport:
    targets = app.adhoc_targets(list(feeds)) if feeds else app.targets()
    app.ensure_seeded()
    app.sync_subscriptions()
    report = asyncio.run(run_cycle(app.store, app.processor, targets, app.policy, limits=app.config.alerts))
    pruned = _prune(app)
    if as_json:
        for outcome in report.outcomes:
            click.echo(outcome_json(outcome))
        click.echo(f"botsvc: {report.summary()}{pruned}", err=True)
        return report  # inspection only: what is due stays queued for the next delivering poll
    delivery = asyncio.run(_deliver(app))
    click.echo(f"botsvc: {report.summary()}; {_delivery_summary(delivery)}{pruned}", err=True)
    for error in delivery.errors:
        click.echo(f"botsvc: {error}", err=True)
    return report


@cli.command()
@click.option("--once", is_flag=True, help="Poll every feed once, then exit (cron-friendly; `run` polls continuously).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON line per feed item instead of a digest.")
@click.argument("feeds", nargs=-1)
@common
def poll(once: bool, as_json: bool, feeds: tuple[str, ...], db_path: str, config_path: str, verbose: int) -> None:
    """Poll the configured feeds once (or the FEEDS given: http(s) URLs or local files)."""
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
    """Poll every feed on its schedule until stopped (Ctrl-C or SIGTERM)."""
    from botsvc.scheduler import serve

    _setup_logging(verbose, service=True)
    with InstanceLock(db_path, "run"):
        app = open_app(config_path, db_path)
        try:
            added = app.ensure_seeded()
            if added:
                log.info("seeded archive: %d article(s)", added)
            app.sync_subscriptions()
            asyncio.run(serve(app, available_adapters(slack_managers=app.config.slack_managers)))
        finally:
            app.close()
    log.info("stopped")


@cli.command()
@click.option("--dry-run", is_flag=True, help="Only count what would be removed.")
@common
def prune(dry_run: bool, db_path: str, config_path: str, verbose: int) -> None:
    """Forget identity keys of items long gone from their feeds ([retention] in the config)."""
    from botsvc.retention import configured_feeds, prune as prune_keys

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
    click.echo(f"{config_path}: OK")


@cli.command()
@click.argument("ref", metavar="URL_OR_GUID")
@common
def explain(ref: str, db_path: str, config_path: str, verbose: int) -> None:
    """Say why the item with this link or GUID was alerted, suppressed or judged irrelevant."""
    from botsvc import explain as explaining

    store = open_store(db_path, create=False)
    try:
        found = explaining.explain(store, ref)
        for n, explanation in enumerate(found):
            click.echo(("\n" if n else "") + explaining.render(explanation))
    finally:
        store.close()
    if not found:
        _fail(f"{ref}: no item with this link or GUID has been seen", 1)


@cli.command("rebuild-events")
@click.option("--force", is_flag=True, help="re-group even when the settings have not changed")
@common
def rebuild_events(db_path: str, config_path: str, verbose: int, force: bool) -> None:
    """Re-group stored articles into events with the current [dedup] settings."""
    from botsvc.rebuild import rebuild_events as rebuild

    config = load_config(config_path)
    store = open_store(db_path, create=False)
    try:
        report = rebuild(store, config.dedup, force=force)
    finally:
        store.close()
    click.echo(f"{report.summary()} (threshold {config.dedup.threshold}, span {config.dedup.span_days} days)")


def _open_for_subscriptions(db_path: str, config_path: str):
    config = load_config(config_path)
    return config, open_store(db_path, create=False)


@cli.command("subscribe")
@click.option("--platform", required=True, type=click.Choice(PLATFORMS), help="Chat platform (adapter).")
@click.option("--channel", required=True, help="Channel id; for a webhook platform, the webhook URL.")
@click.option("--workspace", default="", help="Slack workspace / Discord guild id (optional).")
@click.option("--topic", default=None, help="Topic name (default: the configured default topic).")
@click.option("--mode", default="realtime", show_default=True, help='realtime, hourly, or "daily HH:MM Area/City".')
@common
def subscribe_cmd(platform: str, channel: str, workspace: str, topic: str | None, mode: str,
                  db_path: str, config_path: str, verbose: int) -> None:
    """Subscribe a channel to a topic (again: change its mode, resume it if paused)."""
    config, store = _open_for_subscriptions(db_path, config_path)
    try:
        topic = topic or config.default_topic
        try:
            validate(platform, channel, topic, [t.name for t in config.topics])
            parsed = parse_mode(mode)
        except SubscriptionError as exc:
            _fail(str(exc), 2)
        sub, created = subscribe(store, platform=platform, channel=channel, topic=topic, mode=parsed,
                                 workspace=workspace, origin="cli", now=utcnow())
    finally:
        store.close()
    verb = "subscribed" if created else "updated"
    click.echo(f"{verb}: {sub.label()} to {sub.topic}, {sub.mode} (subscription {sub.id})")
    needed = missing_credentials(platform)
    if needed:
        click.echo(f"note: set {needed} in the environment so {platform} messages can be sent", err=True)


@cli.command("unsubscribe")
@click.option("--platform", required=True, type=click.Choice(PLATFORMS))
@click.option("--channel", required=True)
@click.option("--workspace", default="")
@click.option("--topic", default=None, help="Only this topic (default: every topic of the channel).")
@common
def unsubscribe_cmd(platform: str, channel: str, workspace: str, topic: str | None,
                    db_path: str, config_path: str, verbose: int) -> None:
    """Remove a channel's subscriptions."""
    store = open_store(db_path, create=False)
    try:
        removed = unsubscribe(store, platform=platform, channel=channel, topic=topic, workspace=workspace)
    finally:
        store.close()
    if not removed:
        _fail(f"{platform}:{channel} has no subscription{' to ' + topic if topic else ''}", 1)
    click.echo(f"removed {removed} subscription(s)")


@cli.command("subscriptions")
@common
def subscriptions_cmd(db_path: str, config_path: str, verbose: int) -> None:
    """List subscriptions."""
    store = open_store(db_path, create=False)
    try:
        subs = all_subscriptions(store)
    finally:
        store.close()
    if not subs:
        click.echo("no subscriptions (poll and run subscribe the console when there are none)")
    for sub in subs:
        state = f"PAUSED: {sub.paused_reason}" if sub.paused else "active"
        click.echo(f"{sub.id}  {sub.label()}  topic {sub.topic}  {sub.mode}  [{sub.origin}] {state}")


@cli.command("status")
@common
def status_cmd(db_path: str, config_path: str, verbose: int) -> None:
    """Outbox, refused credentials, paused subscriptions, failing feeds and feeds that surged."""
    store = open_store(db_path, create=False)
    try:
        counts = outbox_admin.counts(store)
        waiting = outbox_admin.unsent(store)
        refused = outbox_admin.refused_credentials(store)
        paused = [s for s in all_subscriptions(store) if s.paused]
        failing = store.query("SELECT name, consecutive_failures, last_error, last_success_at, retry_at FROM feeds "
                              "WHERE consecutive_failures > 0 ORDER BY name")
        surges = recent_surges(store, utcnow())
    finally:
        store.close()
    click.echo(f"outbox: {counts.get('delivered', 0)} delivered, {counts.get('pending', 0)} pending, "
               f"{counts.get('held', 0)} held, {counts.get('failed', 0)} failed")
    for row in waiting:
        click.echo(f"  {_outbox_line(row)}")
    for problem in refused:
        click.echo(f"credentials refused: {problem['platform']} since {problem['since']} (last {problem['last_seen']}): "
                   f"{problem['problem']}; {problem['waiting']} message(s) wait for the token to be fixed, "
                   "no channel paused")
    for sub in paused:
        click.echo(f"paused: {sub.label()} ({sub.topic}): {sub.paused_reason}")
    for feed in failing:
        click.echo(f"failing feed: {feed['name']}: {feed['consecutive_failures']} failure(s), "
                   f"last error {feed['last_error']}, last success {feed['last_success_at'] or 'never'}, "
                   f"next attempt {feed['retry_at'] or 'at its next scheduled poll'}")
    for name, surge in sorted(surges.items()):
        click.echo(f"surging feed: {name}: {surge.describe()}")


def _outbox_line(row: dict) -> str:
    state = "" if row["status"] == "pending" else f"{row['status'].upper()} "
    return (f"message {row['id']} to {channel_label(row)} {state}(queued {row['created_at']}, "
            f"{row['attempts']} attempt(s)): {row['last_error'] or 'not sent yet'}")


@cli.group("outbox")
def outbox_group() -> None:
    """Messages not delivered: list them, retry or drop one."""


@outbox_group.command("list")
@click.option("--all", "show_all", is_flag=True, help="Also list dropped messages.")
@common
def outbox_list_cmd(show_all: bool, db_path: str, config_path: str, verbose: int) -> None:
    """Pending, held and failed messages, oldest first, with why they were not delivered."""
    store = open_store(db_path, create=False)
    try:
        rows = outbox_admin.unsent(store, (*outbox_admin.UNSENT, "dropped") if show_all else outbox_admin.UNSENT)
    finally:
        store.close()
    if not rows:
        click.echo("every message was delivered")
    for row in rows:
        click.echo(_outbox_line(row))


@outbox_group.command("retry")
@click.argument("outbox_id", metavar="ID", type=int)
@common
def outbox_retry_cmd(outbox_id: int, db_path: str, config_path: str, verbose: int) -> None:
    """Send message ID again at the next delivery (from its first part not yet sent)."""
    store = open_store(db_path, create=False)
    try:
        try:
            row = outbox_admin.retry(store, outbox_id, utcnow())
        except outbox_admin.OutboxError as exc:
            _fail(str(exc), 1)
        paused = [s for s in all_subscriptions(store) if s.id == row["subscription_id"] and s.paused]
    finally:
        store.close()
    click.echo(f"message {outbox_id} ({row['status']}) is pending again; the next `poll` or `run` delivery sends it")
    if paused:
        click.echo(f"note: its subscription is paused ({paused[0].paused_reason}); subscribe the channel again "
                   "to resume its digests", err=True)


@outbox_group.command("drop")
@click.argument("outbox_id", metavar="ID", type=int)
@common
def outbox_drop_cmd(outbox_id: int, db_path: str, config_path: str, verbose: int) -> None:
    """Never send message ID (it stays listed with `botsvc outbox list --all`)."""
    store = open_store(db_path, create=False)
    try:
        try:
            row = outbox_admin.drop(store, outbox_id)
        except outbox_admin.OutboxError as exc:
            _fail(str(exc), 1)
    finally:
        store.close()
    click.echo(f"message {outbox_id} ({row['status']}) dropped; it will not be sent")


def _command(line: str, db_path: str, config_path: str) -> None:
    """Run a /news command from the terminal (as an operator: managing is allowed)."""
    config = load_config(config_path)
    store = open_store(db_path, create=False)
    try:
        core = CommandCore(store, config, prefix="botsvc")
        reply = asyncio.run(core.run(line, CommandContext(platform="cli", channel="terminal", can_manage=True)))
    finally:
        store.close()
    if reply.ok:
        click.echo(reply.as_text())
        return
    # A refusal is one line on stderr: "there is no event 999 — usage: botsvc event <id>: ..."
    _fail(" ".join([reply.title, *(line.text for line in reply.lines)]), 2 if "usage:" in reply.title else 1)


@cli.command("search")
@click.argument("query", nargs=-1, required=True)
@common
def search_cmd(query: tuple[str, ...], db_path: str, config_path: str, verbose: int) -> None:
    """Full-text search of past events (words, since:YYYY-MM-DD, until:YYYY-MM-DD)."""
    _command("search " + " ".join(query), db_path, config_path)


@cli.command("event")
@click.argument("event_id")
@common
def event_cmd(event_id: str, db_path: str, config_path: str, verbose: int) -> None:
    """An event's timeline: first report, then each later source."""
    _command(f"event {event_id}", db_path, config_path)


@cli.command("recent")
@click.argument("count", required=False, default="5")
@common
def recent_cmd(count: str, db_path: str, config_path: str, verbose: int) -> None:
    """The latest events of the default topic."""
    _command(f"recent {count}", db_path, config_path)


@cli.command("feeds")
@common
def feeds_cmd(db_path: str, config_path: str, verbose: int) -> None:
    """Each feed's health: last success, last error, items seen."""
    _command("feeds", db_path, config_path)


@cli.command("backup")
@click.argument("target", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Replace TARGET if it exists.")
@common
def backup_cmd(target: str, force: bool, db_path: str, config_path: str, verbose: int) -> None:
    """Copy the database to TARGET while the bot keeps running (restore: stop, copy back)."""
    from botsvc.backup import backup

    size = backup(db_path, target, overwrite=force)
    click.echo(f"backed up {db_path} to {target} ({size / 1e6:.1f} MB, integrity ok)")


@cli.command("healthcheck")
@click.option("--url", default=None, help="Default: http://127.0.0.1:$BOTSVC_HTTP_PORT/healthz.")
@guarded
def healthcheck_cmd(url: str | None) -> None:
    """Exit 0 when the running bot reports healthy (for Docker's HEALTHCHECK)."""
    import httpx

    from botsvc.web import http_port

    url = url or f"http://127.0.0.1:{http_port()}/healthz"
    try:
        response = httpx.get(url, timeout=5)
    except httpx.HTTPError as exc:
        _fail(f"{url}: {exc or type(exc).__name__}", 1)
    click.echo(response.text)
    sys.exit(0 if response.status_code == 200 else 1)


def examples_dir() -> Path:
    """The bundled sample feeds and their config (source tree, or $BOTSVC_EXAMPLES)."""
    override = os.environ.get("BOTSVC_EXAMPLES")
    return Path(override) if override else Path(__file__).resolve().parent.parent / "examples"


@cli.command()
@click.option("--db", "db_path", envvar=None, default=".demo/botsvc-demo.db", show_default=True,
              help="Fresh SQLite file to create (an existing file is replaced only if it is the default).")
@click.option("--config", "config_path", default=None, help="Config to use instead of examples/feeds.toml.")
@click.option("-v", "--verbose", count=True)
@guarded
def demo(db_path: str, config_path: str | None, verbose: int) -> None:
    """One offline poll of the bundled sample feeds into a fresh database, digest on the terminal."""
    _setup_logging(verbose)
    config_path = config_path or str(examples_dir() / "feeds.toml")
    path = Path(db_path)
    if path.exists():
        if db_path != ".demo/botsvc-demo.db":
            _fail(f"demo needs a fresh database, and {db_path} exists; remove it or pick another --db", 2)
        for suffix in ("", "-wal", "-shm"):
            Path(db_path + suffix).unlink(missing_ok=True)
    app = open_app(config_path, db_path)
    try:
        added = app.ensure_seeded()
        click.echo(f"Seeded the archive with {added} reports of one known event "
                   f"(South Korea ends GSOMIA, Aug 2019); repeats of them are never alerted.")
        click.echo(f"Polling {len(app.targets())} sample feeds from {config_path} …\n")
        _poll(app, (), as_json=False)
    finally:
        app.close()
    click.echo(f"\nDatabase: {db_path}. Try `botsvc poll --once --json --db {db_path} --config {config_path}`: "
               "a second poll reports every item as duplicate.")


def main() -> None:
    cli(prog_name="botsvc")
