"""Reading and re-grouping what was judged: ``explain``, ``rebuild-events``, ``search``, ``event``,
``recent`` (``feeds`` is in :mod:`botsvc.cli.feeds`)."""

from __future__ import annotations

import asyncio
import csv
import json
import sys
from datetime import datetime

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


def _command(line: str, db_path: str, config_path: str, *, as_json: bool = False) -> None:
    """Run a /news command from the terminal (as an operator: managing is allowed).

    ``as_json``: print the answer's records, one JSON object per line, instead of its text.
    """
    config = load_config(config_path)
    store = open_store(db_path, create=False)
    try:
        core = CommandCore(store, config, prefix="botsvc")
        reply = asyncio.run(core.run(line, CommandContext(platform="cli", channel="terminal", can_manage=True)))
    finally:
        store.close()
    if reply.ok and as_json:
        for record in reply.records:
            click.echo(json.dumps(record, ensure_ascii=False))
        return
    if reply.ok:
        click.echo(reply.as_text())
        return
    # A refusal is one line on stderr: "there is no event 999 — usage: botsvc event <id>: ..."
    _fail(" ".join([reply.title, *(line.text for line in reply.lines)]), 2 if "usage:" in reply.title else 1)


JSON_HELP = "One JSON object per line instead of text."


@cli.command("search")
@click.argument("query", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@common
def search_cmd(query: tuple[str, ...], as_json: bool, db_path: str, config_path: str, verbose: int) -> None:
    """Full-text search of past events: every word must match (since:YYYY-MM-DD, until:YYYY-MM-DD narrow it)."""
    words = list(query)
    if words[-1].lower() == "share":  # in chat a last `share` posts the answer; here it is a word
        words[-1] = f'"{words[-1]}"'
    _command("search " + " ".join(words), db_path, config_path, as_json=as_json)


@cli.command("event")
@click.argument("event_id")
@click.option("--json", "as_json", is_flag=True, help="The event and its reports as one JSON object.")
@common
def event_cmd(event_id: str, as_json: bool, db_path: str, config_path: str, verbose: int) -> None:
    """An event's timeline: first report, then each later source."""
    _command(f"event {event_id}", db_path, config_path, as_json=as_json)


@cli.command("recent")
@click.argument("count", required=False, default="5")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@common
def recent_cmd(count: str, as_json: bool, db_path: str, config_path: str, verbose: int) -> None:
    """The latest events of the default topic, by latest report."""
    _command(f"recent {count}", db_path, config_path, as_json=as_json)


@cli.group("events")
def events_group() -> None:
    """All events at once: export them with their reports."""


@events_group.command("export")
@click.option(
    "--since",
    required=True,
    type=click.DateTime(formats=["%Y-%m-%d"]),
    metavar="YYYY-MM-DD",
    help="Events with a report on or after this day (UTC).",
)
@click.option(
    "--format",
    "shape",
    type=click.Choice(["json", "csv"]),
    default="json",
    show_default=True,
    help="json: one event per line with its reports; csv: one row per report.",
)
@common
def export_cmd(since: datetime, shape: str, db_path: str, config_path: str, verbose: int) -> None:
    """Every event since a day with its reports (members), earliest first, to stdout."""
    from botsvc.store.export import CSV_COLUMNS, csv_rows, events_since

    store = open_store(db_path, create=False)
    try:
        out = sys.stdout
        if shape == "json":
            for record in events_since(store, since.date()):
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
            return
        writer: csv.DictWriter[str] = csv.DictWriter(out, fieldnames=list(CSV_COLUMNS), lineterminator="\n")
        writer.writeheader()
        for record in events_since(store, since.date()):
            writer.writerows(csv_rows(record))
    finally:
        store.close()
