"""The ``botsvc`` command group and what every subcommand shares: options, logging, failures.

User-facing failures end with one clear line and a non-zero status, never a traceback:
status 2 for bad configuration or arguments, 1 for runtime failures.
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

import click

from botsvc import __version__
from botsvc.config import ConfigError
from botsvc.service import logs
from botsvc.store import errors
from botsvc.store.backends import is_postgres_url
from botsvc.store.store import StoreError, database_problem

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


def _web_settings_error(exc: BaseException) -> bool:
    """Whether ``exc`` is the web server's refusal of its settings (told without importing aiohttp:
    if :mod:`botsvc.service.web` was never imported, nothing raised its error)."""
    web = sys.modules.get("botsvc.service.web")
    return web is not None and isinstance(exc, web.WebSettingsError)


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
        except errors.DatabaseError as exc:  # e.g. disk full or read-only after start-up, or a lost server
            _fail(f"database write failed: {database_problem(exc)}; nothing was lost, the next run retries", 1)
        except ValueError as exc:
            if not _web_settings_error(exc):
                raise
            _fail(str(exc), 2)
        except KeyboardInterrupt:
            click.echo("botsvc: interrupted", err=True)
            sys.exit(130)

    return wrapper


DATABASE_URL_ENV = "BOTSVC_DATABASE_URL"
"""A ``postgresql://`` URL here puts the store on PostgreSQL, unless ``--db`` is given (it wins over
``BOTSVC_DB``, which the image sets)."""


def _database(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """``--db`` as given, else ``BOTSVC_DATABASE_URL``, else ``BOTSVC_DB``, else the default SQLite file."""
    source = ctx.get_parameter_source(param.name or "db_path")
    url = os.environ.get(DATABASE_URL_ENV, "").strip()
    if source != click.core.ParameterSource.COMMANDLINE and url:
        if not is_postgres_url(url):
            raise click.BadParameter(f"{DATABASE_URL_ENV} must be a postgresql:// URL", ctx=ctx, param=param)
        return url
    return value


def common(func: Callable[..., Any]) -> Callable[..., Any]:
    """Options every subcommand takes after its name."""
    func = click.option(
        "--db",
        "db_path",
        envvar="BOTSVC_DB",
        default=DEFAULT_DB,
        show_default=True,
        show_envvar=True,
        callback=_database,
        help=f"SQLite database file, or a postgresql:// URL (also {DATABASE_URL_ENV}).",
    )(func)
    func = click.option(
        "--config",
        "config_path",
        envvar="BOTSVC_CONFIG",
        default=DEFAULT_CONFIG,
        show_default=True,
        show_envvar=True,
        help="Configuration file (TOML).",
    )(func)
    func = click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")(func)
    return guarded(func)


COMMAND_MODULES = {
    "backup": "ops",
    "migrate-to-postgres": "ops",
    "check-config": "polling",
    "concepts": "concepts",
    "demo": "polling",
    "event": "events",
    "events": "events",
    "explain": "events",
    "feeds": "feeds",
    "healthcheck": "ops",
    "missed": "learning",
    "outbox": "delivery",
    "poll": "polling",
    "prune": "polling",
    "rebuild-events": "events",
    "recent": "events",
    "relevance": "learning",
    "reports": "learning",
    "run": "polling",
    "search": "events",
    "seed": "polling",
    "status": "delivery",
    "subscribe": "delivery",
    "subscriptions": "delivery",
    "unsubscribe": "delivery",
    "worker": "worker",
}
"""Each command and the module of :mod:`botsvc.cli` that defines it (and registers it when imported)."""


class LazyGroup(click.Group):
    """A command group that imports a command's module only when that command is used.

    ``botsvc poll --once`` from cron then pays for the imports polling needs, not for the
    chat, web and concept modules every other command brings in.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(COMMAND_MODULES))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMAND_MODULES:
            importlib.import_module(f"botsvc.cli.{COMMAND_MODULES[cmd_name]}")
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="botsvc")
def cli() -> None:
    """botsvc: watch news feeds, keep relevant stories, fold duplicates into events, post digests."""
