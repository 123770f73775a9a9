"""What people taught the bot: ``missed``, ``reports list|drop`` and ``relevance report``."""

from __future__ import annotations

import click

from botsvc.cli.base import _fail, cli, common
from botsvc.cli.events import _command
from botsvc.config import load_config
from botsvc.store.store import open_store, utcnow


@cli.command("missed")
@click.argument("url")
@common
def missed_cmd(url: str, db_path: str, config_path: str, verbose: int) -> None:
    """Report a story the bot missed: fetch it (public addresses only), store it, and keep stories like it."""
    _command(f"missed {url}", db_path, config_path)


@cli.group("reports")
def reports_group() -> None:
    """Missed-story and not-relevant reports: the labelled examples the relevance judgement learns from."""


@reports_group.command("list")
@common
def reports_list(db_path: str, config_path: str, verbose: int) -> None:
    """The latest reports, newest first, and whether each is applied."""
    _command("reports", db_path, config_path)


@reports_group.command("drop")
@click.argument("report_id", type=int)
@common
def reports_drop(report_id: int, db_path: str, config_path: str, verbose: int) -> None:
    """Withdraw a report: it stays listed, and the next poll no longer applies it."""
    from botsvc.store.examples import withdraw

    store = open_store(db_path, create=False)
    try:
        dropped = withdraw(store, report_id, utcnow())
    finally:
        store.close()
    if not dropped:
        _fail(f"there is no report #{report_id} in force (see botsvc reports list)", 1)
    click.echo(f"Withdrew report #{report_id}; the next poll no longer applies it.")


@cli.group("relevance")
def relevance_group() -> None:
    """How relevance is decided in this deployment."""


@relevance_group.command("report")
@common
def relevance_report_cmd(db_path: str, config_path: str, verbose: int) -> None:
    """Precision and recall on the labelled examples (leave-one-out), and which judgement decided each."""
    from botsvc.store.learning import relevance_report

    config = load_config(config_path)
    store = open_store(db_path, create=False)
    try:
        report = relevance_report(store, config)
    finally:
        store.close()
    click.echo(report.summary())
    for judged in report.judged:
        click.echo(f"  {judged.describe()}")
