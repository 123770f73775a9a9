"""Reading and re-grouping what was judged: ``explain``, ``rebuild-events``, ``search``, ``event``,
``recent`` (``feeds`` is in :mod:`botsvc.cli.feeds`)."""

from __future__ import annotations

import asyncio

import click

from botsvc.chat.commands import CommandCore
from botsvc.cli.base import _fail, cli, common
from botsvc.config import load_config
from botsvc.models import CommandContext
from botsvc.store.store import open_store


@cli.command()
@click.argument("ref", metavar="URL_OR_GUID")
@common
def explain(ref: str, db_path: str, config_path: str, verbose: int) -> None:
    """Say why the item with this link or GUID was alerted, suppressed or judged irrelevant."""
    from botsvc.store import explain as explaining

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
    from botsvc.store.rebuild import rebuild_events as rebuild

    config = load_config(config_path)
    store = open_store(db_path, create=False)
    try:
        report = rebuild(store, config.dedup, force=force)
    finally:
        store.close()
    click.echo(f"{report.summary()} (threshold {config.dedup.threshold}, span {config.dedup.span_days} days)")


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
