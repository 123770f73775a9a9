"""Operating the bot: ``backup``, ``healthcheck``."""

from __future__ import annotations

import sys

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
