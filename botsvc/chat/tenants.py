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
from datetime import datetime

from botsvc.config import ChatSettings
from botsvc.models import CommandContext, CommandReply, ReplyLine
from botsvc.store.store import Store
from botsvc.store.tenants import adopt, adopted_workspace, tenant_key

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
