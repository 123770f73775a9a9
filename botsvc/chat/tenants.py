"""Who may use the bot from chat: the Slack workspaces and Discord servers it serves.

Each Slack workspace and each Discord server is a tenant. ``[chat] slack_workspaces`` and
``[chat] discord_servers`` list those served. A platform with an empty list serves the first
workspace (server) that changes something (subscribes a channel, adds a feed, presses a
button): it is adopted, logged, and remembered in the database, so a restart keeps it
(listing the ids later replaces it). Until then, reading commands are answered and store
nothing. Adopting the first
rather than refusing everyone keeps a one-workspace bot working without any set-up, while a
stranger can never join a bot already in use; an operator who installs the bot somewhere
public lists the ids. Anyone else gets one short refusal and nothing is stored.

Commands from outside chat (the command line, the console) act as the operator: they are
no tenant and own nothing.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

from botsvc.config import ChatSettings
from botsvc.models import CommandContext, CommandReply, ReplyLine
from botsvc.store.search import EventHit
from botsvc.store.store import Store
from botsvc.store.tenants import adopt, adopted_workspace, owned_feed_count, tenant_key, url_owner, visible_events

log = logging.getLogger(__name__)

CHAT_PLATFORMS = {"slack": ("slack_workspaces", "workspace"), "discord": ("discord_servers", "server")}
"""Platforms whose commands come from tenants: the ``[chat]`` key listing them, and what one is called."""


def tenant_of(ctx: CommandContext) -> str | None:
    """The tenant a command comes from; None for the operator (command line, console)."""
    if ctx.platform not in CHAT_PLATFORMS:
        return None
    return tenant_key(ctx.platform, ctx.workspace)


def refusal(ctx: CommandContext) -> CommandReply:
    """The one answer a workspace or server the bot does not serve gets."""
    key, kind = CHAT_PLATFORMS[ctx.platform]
    if not ctx.workspace:
        return CommandReply(f"Sorry, this bot works only in a {kind}'s channels.", ok=False)
    return CommandReply(
        f"Sorry, this bot serves other {kind}s, not this one.",
        (ReplyLine(f"Its operator can add this {kind} ({ctx.workspace[:64]}) to `[chat] {key}` in feeds.toml."),),
        ok=False,
    )


def served(store: Store, settings: ChatSettings, ctx: CommandContext) -> bool | None:
    """Whether the bot serves where ``ctx`` comes from; None when the platform has not adopted
    a workspace yet (the caller adopts ``ctx``'s with :func:`adopt_first`, holding the write turn)."""
    if ctx.platform not in CHAT_PLATFORMS:
        return True
    if not ctx.workspace:  # a Discord direct message: no server, no tenant
        return False
    key, _ = CHAT_PLATFORMS[ctx.platform]
    listed: tuple[str, ...] = getattr(settings, key)
    if listed:
        return ctx.workspace in listed
    adopted = adopted_workspace(store, ctx.platform)
    return None if adopted is None else adopted == ctx.workspace


def adopt_first(store: Store, ctx: CommandContext, now: datetime) -> bool:
    """Adopt ``ctx``'s workspace as the platform's only one unless another came first; whether it is served."""
    adopted = adopt(store, ctx.platform, ctx.workspace, now)
    if adopted == ctx.workspace:
        key, kind = CHAT_PLATFORMS[ctx.platform]
        log.warning(
            "%s: serving %s %s, the first one the bot was used from; list the %ss to serve in [chat] %s",
            ctx.platform.capitalize(),
            kind,
            ctx.workspace,
            kind,
            key,
        )
    return adopted == ctx.workspace


def whose(origin: str, owner: str | None, tenant: str | None) -> str:
    """Whose a feed is, for ``/news feeds``: shared, or added from chat by the asker's tenant
    (for the operator: by which one)."""
    if origin != "chat":
        return ""
    if owner is None:
        return " · added from chat, shared"
    return " · added from chat here" if tenant is not None else f" · added from chat by {owner}"


def already_polled(store: Store, url: str, ctx: CommandContext, shown: str) -> CommandReply:
    """The answer to adding a polled address: another tenant's feed is neither named nor shared."""
    owner, tenant = url_owner(store, url), tenant_of(ctx)
    if owner is not None and tenant is not None and owner != tenant:
        return CommandReply(
            f"{shown} is already polled for another workspace or server, so it cannot be added here.",
            (ReplyLine("The bot's operator can add it to feeds.toml, where feeds are shared by all."),),
            ok=False,
        )
    return CommandReply(f"{shown} is already polled.", ok=False)


def over_feed_limit(store: Store, settings: ChatSettings, ctx: CommandContext, prefix: str) -> CommandReply | None:
    """The refusal when ``ctx``'s tenant has its ``max_feeds_per_tenant`` feeds already; None below it."""
    tenant, limit = tenant_of(ctx), settings.max_feeds_per_tenant
    if tenant is None or owned_feed_count(store, tenant) < limit:
        return None
    return CommandReply(
        f"Not added: this workspace or server already has {limit} feeds added from chat, the most it may have.",
        (ReplyLine(f"Remove one first ({prefix} feed remove <name>), or ask the operator."),),
        ok=False,
    )


def visible_hits(store: Store, ctx: CommandContext, hits: list[EventHit]) -> list[EventHit]:
    """``hits`` without the events only another tenant's feeds reported, each titled after its
    first report ``ctx``'s tenant may see."""
    tenant = tenant_of(ctx)
    if tenant is None or not hits:
        return hits
    shown = visible_events(store, tenant, [h.event_id for h in hits])
    return [replace(h, title=shown[h.event_id] or h.title) for h in hits if h.event_id in shown]
