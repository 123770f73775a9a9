"""Operating the bot: ``backup``, ``healthcheck``, ``migrate-to-postgres``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from botsvc.cli.base import _fail, cli, common, guarded


@cli.command("backup")
@click.argument("target", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Replace TARGET if it exists.")
@common
def backup_cmd(target: str, force: bool, db_path: str, config_path: str, verbose: int) -> None:
    """Copy the database to TARGET while the bot keeps running (restore: stop, copy back)."""
    from botsvc.store.backup import backup

    size = backup(db_path, target, overwrite=force)
    click.echo(f"backed up {db_path} to {target} ({size / 1e6:.1f} MB, integrity ok)")


@cli.command("healthcheck")
@click.option("--url", default=None, help="Default: http://127.0.0.1:$BOTSVC_HTTP_PORT/healthz.")
@guarded
def healthcheck_cmd(url: str | None) -> None:
    """Exit 0 when the running bot reports healthy (for Docker's HEALTHCHECK)."""
    import httpx

    from botsvc.service.web import http_port

    url = url or f"http://127.0.0.1:{http_port()}/healthz"
    try:
        response = httpx.get(url, timeout=5)
    except httpx.HTTPError as exc:
        _fail(f"{url}: {exc or type(exc).__name__}", 1)
    click.echo(response.text)
    sys.exit(0 if response.status_code == 200 else 1)


@cli.command("migrate-to-postgres")
@click.option(
    "--from",
    "source",
    required=True,
    type=click.Path(dir_okay=False),
    help="The SQLite database file to copy (the bot using it must be stopped).",
)
@common
def migrate_to_postgres_cmd(source: str, db_path: str, config_path: str, verbose: int) -> None:
    """Copy a SQLite database into an empty PostgreSQL one (--db or BOTSVC_DATABASE_URL) and check the copy.

    Every table is copied with its ids, so events keep their numbers and nothing already
    posted is posted again; the row counts of both sides are compared before the copy is
    committed. The SQLite file is only read (after the schema upgrade any botsvc command
    makes): keep it as a backup.
    """
    from botsvc.service.lock import InstanceLock
    from botsvc.store.backends import is_postgres_url, redacted
    from botsvc.store.store import open_store
    from botsvc.store.to_postgres import copy_to_postgres

    if not is_postgres_url(db_path):
        _fail("say where to copy to: BOTSVC_DATABASE_URL=postgresql://... (or --db postgresql://...)", 2)
    if is_postgres_url(source):
        _fail("--from takes the SQLite database file the bot used until now", 2)
    if not Path(source).is_file():
        _fail(f"{source}: no SQLite database here (--from takes the file the bot used until now)", 1)
    shown = redacted(db_path)
    with InstanceLock(source, "migrate-to-postgres"), InstanceLock(db_path, "migrate-to-postgres"):
        lite = open_store(source, create=False)
        try:
            target = open_store(db_path)
            try:
                report = copy_to_postgres(lite, target)
            finally:
                target.close()
        finally:
            lite.close()
    width = max(map(len, report.rows), default=0)
    for table, rows in sorted(report.rows.items()):
        click.echo(f"  {table:<{width}}  {rows:>9}")
    if report.nul_removed:
        click.echo(f"  ({report.nul_removed} text value(s) held NUL characters, which PostgreSQL cannot hold: removed)")
    total = sum(report.rows.values())
    click.echo(
        f"copied {source} to {shown}: {total} rows in {len(report.rows)} tables, the same count on both sides "
        f"(schema version {report.version}, {report.seconds:.1f} s)"
    )
    click.echo(f"next: set BOTSVC_DATABASE_URL={shown} for every botsvc process; keep {source} as a backup")
