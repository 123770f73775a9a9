"""Who is told what: ``subscribe``, ``unsubscribe``, ``subscriptions``, ``status``, ``outbox``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import click

from botsvc.cli.base import _fail, cli, common
from botsvc.config import load_config
from botsvc.deliver import outbox_admin
from botsvc.deliver.outbox import channel_label
from botsvc.deliver.platforms import missing_credentials
from botsvc.deliver.subscriptions import (
    PLATFORMS,
    Subscription,
    SubscriptionError,
    all_subscriptions,
    parse_mode,
    subscribe,
    unsubscribe,
    validate,
)
from botsvc.deliver.templates import TemplateError, describe, template_from_options
from botsvc.deliver.volume import Surge, recent_surges
from botsvc.store.channel_workspace import UNIQUE_CHANNEL_IDS
from botsvc.store.feedback import FeedbackSummary, feedback_summary
from botsvc.store.feeds import failing_feeds
from botsvc.store.store import iso, open_store, utcnow


def _open_for_subscriptions(db_path: str, config_path: str):
    config = load_config(config_path)
    return config, open_store(db_path, create=False)


@cli.command("subscribe")
@click.option("--platform", required=True, type=click.Choice(PLATFORMS), help="Chat platform (adapter).")
@click.option("--channel", required=True, help="Channel id; for a webhook platform, the webhook URL.")
@click.option(
    "--workspace",
    default="",
    help="Slack workspace / Discord guild id (optional: taken from the channel's chat subscriptions, "
    "or filled in by the first managing /news command there).",
)
@click.option("--topic", default=None, help="Topic name (default: the configured default topic).")
@click.option("--mode", default="realtime", show_default=True, help='realtime, hourly, or "daily HH:MM Area/City".')
@click.option(
    "--template",
    "template_options",
    multiple=True,
    metavar="KEY=VALUE",
    help='What alerts show: "fields=outlet,time,link,sources,summary" and/or "header=Morning brief" (repeatable).',
)
@common
def subscribe_cmd(
    platform: str,
    channel: str,
    workspace: str,
    topic: str | None,
    mode: str,
    template_options: tuple[str, ...],
    db_path: str,
    config_path: str,
    verbose: int,
) -> None:
    """Subscribe a channel to a topic (again: change its mode, resume it if paused)."""
    config, store = _open_for_subscriptions(db_path, config_path)
    try:
        topic = topic or config.default_topic
        try:
            validate(platform, channel, topic, [t.name for t in config.topics])
            parsed = parse_mode(mode)
            template = template_from_options(template_options) if template_options else None
        except (SubscriptionError, TemplateError) as exc:
            _fail(str(exc), 2)
        sub, created = subscribe(
            store,
            platform=platform,
            channel=channel,
            topic=topic,
            mode=parsed,
            workspace=workspace,
            origin="cli",
            now=utcnow(),
            template=template,
        )
    finally:
        store.close()
    verb = "subscribed" if created else "updated"
    shown = "" if sub.template.is_default else f", template {describe(sub.template)}"
    click.echo(f"{verb}: {sub.label()} to {sub.topic}, {sub.mode}{shown} (subscription {sub.id})")
    if not workspace and sub.workspace:
        click.echo(f"workspace {sub.workspace}: taken from this channel's subscriptions made in chat")
    elif not sub.workspace and platform in UNIQUE_CHANNEL_IDS:
        click.echo(
            "workspace not known yet: /news in that channel sees this subscription, and its next managing "
            "command there (subscribe, pause, filter, …) fills the workspace in"
        )
    needed = missing_credentials(platform)
    if needed:
        click.echo(f"note: set {needed} in the environment so {platform} messages can be sent", err=True)


@cli.command("unsubscribe")
@click.option("--platform", required=True, type=click.Choice(PLATFORMS))
@click.option("--channel", required=True)
@click.option("--workspace", default="")
@click.option("--topic", default=None, help="Only this topic (default: every topic of the channel).")
@common
def unsubscribe_cmd(
    platform: str, channel: str, workspace: str, topic: str | None, db_path: str, config_path: str, verbose: int
) -> None:
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
        if sub.muted:
            state += f", paused from chat since {iso(sub.muted_at)}"
        if sub.quiet:
            state += f", quiet {sub.quiet}"
        if not sub.template.is_default:
            state += f", template {describe(sub.template)}"
        click.echo(f"{sub.id}  {sub.label()}  topic {sub.topic}  {sub.mode}  [{sub.origin}] {state}")


@cli.command("status")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line, each with its `kind`.")
@common
def status_cmd(as_json: bool, db_path: str, config_path: str, verbose: int) -> None:
    """Outbox, refused credentials, paused subscriptions, failing feeds and feeds that surged."""
    store = open_store(db_path, create=False)
    try:
        counts = outbox_admin.counts(store)
        waiting = outbox_admin.unsent(store)
        refused = outbox_admin.refused_credentials(store)
        paused = [s for s in all_subscriptions(store) if s.paused]
        muted = [s for s in all_subscriptions(store) if s.muted]
        failing = failing_feeds(store)
        surges = recent_surges(store, utcnow())
        unwanted = feedback_summary(store)
    finally:
        store.close()
    if as_json:
        records = _status_records(counts, waiting, refused, paused, muted, failing, surges, unwanted)
        for record in records:
            click.echo(json.dumps(record, ensure_ascii=False))
        return
    click.echo(
        f"outbox: {counts.get('delivered', 0)} delivered, {counts.get('pending', 0)} pending, "
        f"{counts.get('held', 0)} held, {counts.get('failed', 0)} failed"
    )
    for row in waiting:
        click.echo(f"  {_outbox_line(row)}")
    for problem in refused:
        click.echo(
            f"credentials refused: {problem['platform']} since {problem['since']} (last {problem['last_seen']}): "
            f"{problem['problem']}; {problem['waiting']} message(s) wait for the token to be fixed, "
            "no channel paused"
        )
    for sub in paused:
        click.echo(f"paused: {sub.label()} ({sub.topic}): {sub.paused_reason}")
    for sub in muted:
        click.echo(f"paused from chat: {sub.label()} ({sub.topic}) since {iso(sub.muted_at)} (/news resume)")
    for feed in failing:
        click.echo(
            f"failing feed: {feed['name']}: {feed['consecutive_failures']} failure(s), "
            f"last error {feed['last_error']}, last success {feed['last_success_at'] or 'never'}, "
            f"next attempt {feed['retry_at'] or 'at its next scheduled poll'}"
        )
    for name, surge in sorted(surges.items()):
        click.echo(f"surging feed: {name}: {surge.describe()}")
    if unwanted is not None:
        click.echo(f"not relevant: {unwanted.describe()} (botsvc explain URL: per event)")


def _status_records(
    counts: dict[str, int],
    waiting: list[dict],
    refused: list[dict],
    paused: list[Subscription],
    muted: list[Subscription],
    failing: list[dict],
    surges: dict[str, Surge],
    unwanted: FeedbackSummary | None,
) -> Iterator[dict[str, Any]]:
    """What ``status`` prints, as objects: the outbox counts first, then one per problem."""
    yield {"kind": "outbox", **{state: counts.get(state, 0) for state in ("delivered", "pending", "held", "failed")}}
    for row in waiting:
        yield {
            "kind": "unsent",
            "message": row["id"],
            "channel": channel_label(row),
            "status": row["status"],
            "queued": row["created_at"],
            "attempts": row["attempts"],
            "last_error": row["last_error"],
        }
    for problem in refused:
        yield {"kind": "credentials_refused", **problem}
    for sub in paused:
        yield {
            "kind": "paused",
            "subscription": sub.id,
            "channel": sub.label(),
            "topic": sub.topic,
            "reason": sub.paused_reason,
        }
    for sub in muted:
        yield {
            "kind": "paused_from_chat",
            "subscription": sub.id,
            "channel": sub.label(),
            "topic": sub.topic,
            "since": iso(sub.muted_at),
        }
    for feed in failing:
        yield {
            "kind": "failing_feed",
            "feed": feed["name"],
            "failures": feed["consecutive_failures"],
            "last_error": feed["last_error"],
            "last_success": feed["last_success_at"],
            "next_attempt": feed["retry_at"],
        }
    for name, surge in sorted(surges.items()):
        yield {
            "kind": "surging_feed",
            "feed": name,
            "items": surge.items,
            "usual": round(surge.usual, 1),
            "at": iso(surge.at),
        }
    if unwanted is not None:
        yield {
            "kind": "not_relevant",
            "reports": unwanted.reports,
            "events": unwanted.events,
            "channels": unwanted.channels,
            "keywords": dict(unwanted.keywords),
            "topics": dict(unwanted.topics),
        }


def _outbox_line(row: dict) -> str:
    state = "" if row["status"] == "pending" else f"{row['status'].upper()} "
    flight = (
        f"; a send from {row['sending_at']} may have been posted: looked up before any resend"
        if row.get("sending_at")
        else ""
    )
    return (
        f"message {row['id']} to {channel_label(row)} {state}(queued {row['created_at']}, "
        f"{row['attempts']} attempt(s)): {row['last_error'] or 'not sent yet'}{flight}"
    )


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
        click.echo(
            f"note: its subscription is paused ({paused[0].paused_reason}); subscribe the channel again "
            "to resume its digests",
            err=True,
        )


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
