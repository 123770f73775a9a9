"""The feed list: ``botsvc feeds`` (health), ``feeds preview``, ``feeds import`` and ``feeds export`` (OPML)."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

import click

from botsvc.cli.base import _fail, cli, common
from botsvc.cli.events import _command
from botsvc.config import load_config
from botsvc.ingest.addresses import ALLOW_PRIVATE_ENV, AddressGuard
from botsvc.ingest.feedcheck import check_feeds
from botsvc.ingest.opml import OpmlError, read_opml, write_opml
from botsvc.store.feedlist import addresses_to_check, import_outlines, listed_feeds
from botsvc.store.store import open_store

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@cli.group("feeds", invoke_without_command=True)
@common
@click.pass_context
def feeds_group(ctx: click.Context, db_path: str, config_path: str, verbose: int) -> None:
    """Each feed's health: last success, last error, items seen (see the subcommands to manage the list)."""
    if ctx.invoked_subcommand is None:
        _command("feeds", db_path, config_path)


@feeds_group.command("list")
@common
def list_cmd(db_path: str, config_path: str, verbose: int) -> None:
    """Each feed's health (what `botsvc feeds` prints)."""
    _command("feeds", db_path, config_path)


@feeds_group.command("preview")
@click.argument("url")
@common
def preview_cmd(url: str, db_path: str, config_path: str, verbose: int) -> None:
    """What a feed's latest items would do if polled now (a site's page will do); nothing is stored.

    Like ``/news feed preview`` it fetches only public addresses, unless the operator allows
    loopback and private ones with BOTSVC_ALLOW_PRIVATE_FEEDS (test setups).
    """
    if not url.startswith(("http://", "https://")) and Path(url).is_file():
        _fail(f"{url}: a local file; try it with `botsvc poll --once --json {url}` (a dry run, nothing stored)", 2)
    internal = _internal_address(url)
    if internal:
        _fail(
            f"{url}: {internal}; feeds preview fetches only public addresses unless "
            f"{ALLOW_PRIVATE_ENV}=1 (or address:port) is set",
            1,
        )
    _command(f"feed preview {url}", db_path, config_path)


def _internal_address(url: str) -> str | None:
    """Why the operator's own preview of ``url`` would be refused before connecting, if it would."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None  # the command's own check says what is wrong with it
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return AddressGuard.from_env().host_refusal(parts.hostname, port)
    except ValueError as exc:  # a bad port, or a malformed BOTSVC_ALLOW_PRIVATE_FEEDS
        return str(exc)


@feeds_group.command("import")
@click.argument("opml_file", metavar="FILE.opml", type=click.Path(dir_okay=False, path_type=Path))
@common
def import_cmd(opml_file: Path, db_path: str, config_path: str, verbose: int) -> None:
    """Add the feeds of an OPML file (from a feed reader), as `/news feed add` would; known ones are skipped."""
    config = load_config(config_path)
    try:
        outlines = read_opml(opml_file.read_bytes())
    except OSError as exc:
        _fail(f"{opml_file}: cannot read it ({exc.strerror or exc})", 2)
    except OpmlError as exc:
        _fail(f"{opml_file}: {exc}; nothing imported", 2)
    store = open_store(db_path, create=False)
    try:
        # Every feed is fetched and checked (as `/news feed add` does) before anything is written.
        checked = asyncio.run(check_feeds(addresses_to_check(store, config, outlines), config.fetch))
        results = import_outlines(
            store, config, outlines, added_by=f"cli:import {opml_file.name}"[:120], checked=checked
        )
    finally:
        store.close()
    for result in results:
        label = " ".join((result.outline.title or result.outline.url).split())
        shown = f"{result.detail!r}" if result.outcome == "added" else result.detail
        click.echo(f"{result.outcome}: {_visible(label[:80])} <{_visible(result.outline.url[:200])}>: {shown}")
    counts = {outcome: sum(1 for r in results if r.outcome == outcome) for outcome in ("added", "skipped", "refused")}
    click.echo(
        f"{len(results)} feed(s) in {opml_file.name}: {counts['added']} added, {counts['skipped']} skipped, "
        f"{counts['refused']} refused"
    )
    if not counts["added"] and (counts["refused"] or not results):
        _fail(f"{opml_file}: no feed was added", 1)


def _visible(text: str) -> str:
    """``text`` with control characters shown as escapes: a line break in an address adds no line."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode(), text)


@feeds_group.command("export")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write here instead of stdout.")
@common
def export_cmd(output: Path | None, db_path: str, config_path: str, verbose: int) -> None:
    """Every feed (feeds.toml's and those added since) as OPML 2.0, for a feed reader."""
    config = load_config(config_path)
    store = open_store(db_path, create=False)
    try:
        feeds = listed_feeds(store, config)
    finally:
        store.close()
    web = [f for f in feeds if f.url.startswith(("http://", "https://"))]
    for local in (f for f in feeds if f not in web):
        click.echo(f"botsvc: {local.name}: a local file, not exported", err=True)
    text = write_opml(web, title="botsvc feeds", created=datetime.now(timezone.utc))
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        _fail(f"{output}: cannot write it ({exc.strerror or exc})", 1)
    click.echo(f"wrote {len(web)} feed(s) to {output}", err=True)
