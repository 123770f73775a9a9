"""``botsvc concepts suggest | add``: teach the lexicon new names without a release.

``suggest`` mines the archive's recent events for names the lexicon does not know and the
Korean and Japanese spellings its cross-language events link to them
(:mod:`botsvc.judge.name_suggestions`); ``add`` writes one to ``concepts.local.toml``
beside ``feeds.toml`` (:mod:`botsvc.judge.local_concepts`), which every command and the
bot read at start-up with the configuration.
"""

from __future__ import annotations

import shlex
from datetime import datetime, timedelta, timezone
from pathlib import Path

import click

from botsvc.cli.base import _fail, cli, common
from botsvc.config import load_config
from botsvc.judge.concepts import Lexicon, default_lexicon
from botsvc.judge.local_concepts import add_concept, local_path
from botsvc.judge.name_suggestions import concept_name, suggest
from botsvc.store.concept_archive import articles_mentioning, note_fingerprint_lexicon, recent_reports
from botsvc.store.store import open_store

_LANGUAGE_NAMES = {"ko": "Korean", "ja": "Japanese"}


@cli.group("concepts")
def concepts_group() -> None:
    """Names and terms the bot folds across languages: suggest new ones, add them locally."""


@concepts_group.command("suggest")
@click.option("--days", default=30, show_default=True, type=click.IntRange(min=1), help="Events of these last days.")
@click.option(
    "--min-events",
    default=2,
    show_default=True,
    type=click.IntRange(min=1),
    help="A name, and a link to another spelling, must recur in this many events.",
)
@click.option("--limit", default=15, show_default=True, type=click.IntRange(min=1), help="Show at most this many.")
@common
def suggest_cmd(days: int, min_events: int, limit: int, db_path: str, config_path: str, verbose: int) -> None:
    """List names recurring in recent events that no concept knows, with their Korean and Japanese spellings."""
    load_config(config_path)
    store = open_store(db_path, create=False)
    try:
        reports = recent_reports(store, datetime.now(timezone.utc) - timedelta(days=days))
    finally:
        store.close()
    found = suggest(reports, default_lexicon(), min_events=min_events)[:limit]
    if not found:
        click.echo(f"No unknown name recurs in {min_events} or more events of the last {days} day(s).")
        return
    click.echo(
        f"{len(found)} name(s) recur in events of the last {days} day(s) and belong to no concept "
        "(strongest first; after a spelling: the cross-language events naming both, and the link's strength 0-1):"
    )
    for s in found:
        spellings = "; ".join(
            f"{_LANGUAGE_NAMES[link.language]} {link.spelling} ({link.joint}, {link.strength:.2f})" for link in s.links
        )
        click.echo(f"  {s.name}: {s.events} event(s){'; ' + spellings if spellings else ''}")
        options = [f"--en {shlex.quote(s.name)}"] + [
            f"--{link.language} {shlex.quote(link.spelling)}" for link in s.links
        ]
        click.echo(f"      botsvc concepts add {concept_name(s.name)} {' '.join(options)}")


@concepts_group.command("add")
@click.argument("name")
@click.option("--en", multiple=True, help="An English spelling (repeatable).")
@click.option("--ko", multiple=True, help="A Korean spelling (repeatable).")
@click.option("--ja", multiple=True, help="A Japanese spelling (repeatable).")
@common
def add_cmd(
    name: str,
    en: tuple[str, ...],
    ko: tuple[str, ...],
    ja: tuple[str, ...],
    db_path: str,
    config_path: str,
    verbose: int,
) -> None:
    """Add concept NAME (or spellings of it) to concepts.local.toml beside the configuration file."""
    if not (en or ko or ja):
        _fail("give at least one spelling: --en, --ko or --ja", 2)
    load_config(config_path)
    before = default_lexicon().signature()
    path = local_path(config_path)
    try:
        entry, origin = add_concept(path, name, {"en": list(en), "ko": list(ko), "ja": list(ja)})
    except ValueError as exc:
        _fail(str(exc), 2)
    except OSError as exc:
        _fail(f"{path}: cannot write: {exc.strerror or exc}; nothing was changed", 1)
    load_config(config_path)
    what = {"new": "added", "shipped": "replaces the shipped concept, keeping its spellings:", "local": "updated:"}
    spellings = "; ".join(f"{lang} {', '.join(terms)}" for lang, terms in entry.items() if terms)
    click.echo(f"{path}: concept {name} {what[origin]} {spellings}")
    click.echo(_rebuild_advice(db_path, name, entry, before))


def _rebuild_advice(db_path: str, name: str, entry: dict[str, list[str]], before: str) -> str:
    """Whether stored articles need new fingerprints for the concept to fold later reports with them."""
    restart = "restart the bot (botsvc run) so it judges with the concept"
    if not Path(db_path).expanduser().is_file():
        return f"No database at {db_path} yet: no rebuild needed; {restart}."
    store = open_store(db_path, create=False)
    try:
        note_fingerprint_lexicon(store, before)
        touched = articles_mentioning(store, Lexicon.from_tables({name: entry}, "concepts add"))
    finally:
        store.close()
    if not touched:
        return f"No stored article mentions these spellings: no rebuild needed; {restart}."
    return (
        f"Rebuild advised: {touched} stored article(s) mention these spellings. Stop the bot, run "
        f"`botsvc rebuild-events` so they carry the concept (later reports then fold with them), and start it again."
    )
