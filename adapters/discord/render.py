"""Discord rendering: digests as embeds and command replies as one embed, feed text neutralised.

Feed text is untrusted: every message is also sent with ``AllowedMentions.none()``
(:data:`NO_MENTIONS`), and all feed text is neutralised as well, so a headline can
neither ping nor break formatting.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import discord

from botsvc.deliver.links import web_link
from botsvc.models import CommandReply, Digest, DigestEvent, ReplyLine, Template, local_time

# Discord's documented limits for one message.
MAX_EMBEDS = 10
MAX_ACTION_ROWS = 5
MAX_EMBED_TOTAL = 6000
MAX_TITLE = 256
MAX_DESCRIPTION = 4096
MAX_CONTENT = 2000
MAX_MORE_FEED = 200  # a feed name in a count line: five lines always fit MAX_CONTENT
MAX_SUMMARY = 300

NO_MENTIONS = discord.AllowedMentions.none()
_ZWSP = "\u200b"


@dataclass(frozen=True)
class DiscordMessage:
    """One message to post: a short text line plus up to ten embeds, and up to five rows of buttons."""

    content: str
    embeds: tuple[discord.Embed, ...] = ()
    components: tuple[dict[str, Any], ...] = ()
    """Action rows (message components), one per alert: see :func:`alert_buttons`."""

    @property
    def embed_chars(self) -> int:
        """Characters Discord counts against the 6000 limit (titles, descriptions, ...)."""
        return sum(len(embed) for embed in self.embeds)


def neutralise(text: str) -> str:
    """Feed text made inert: no markdown, no mentions, no ``<...>`` syntax, one line.

    ``escape_markdown`` backslash-escapes ``* _ ~ | ` \\``, quotes, headings and masked
    links. ``escape_mentions`` only covers 17-20 digit ids and skips channels, so a zero-width
    space goes after every ``@`` (``@everyone``, ``@here``) and every ``<`` (user, role,
    channel, emoji and timestamp syntax all start with ``<``).
    """
    text = discord.utils.escape_markdown(" ".join(text.split()))
    return text.replace("@", "@" + _ZWSP).replace("<", "<" + _ZWSP)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _utc(moment: datetime) -> datetime:
    """Models hold UTC; a naive value is UTC too (discord.py would read it as local time)."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _when(moment: datetime | None, zone: str = "UTC") -> str:
    return local_time(moment, zone)


MAX_URL = 2048
"""Discord refuses a whole message (400, code 50035) whose embed url is longer, or malformed."""


def _web_link(link: str) -> str | None:
    """An embed url Discord accepts: well-formed http(s), at most MAX_URL characters; else no link."""
    return web_link(link, MAX_URL)


def render_embed(entry: DigestEvent, zone: str = "UTC", template: Template | None = None) -> discord.Embed:
    """One event as one embed; an update (event grew) is a compact line, not a new alert.

    ``template`` picks the parts shown besides the title (default: all but the summary).
    """
    template = template or Template()
    lead = entry.headline
    title = neutralise(lead.title) or "(untitled)"
    title = _clip(f"Update: {title}" if entry.update else title, MAX_TITLE)
    url = _web_link(lead.link) if template.shows("link") else None
    if entry.update:
        sources = [lead.source, *(story.source for story in entry.others)]
        description = f"now {len(sources)} sources"
        if template.shows("sources"):
            description += ": " + ", ".join(neutralise(s) for s in sources)
        return discord.Embed(title=title, url=url, description=_clip(description, MAX_DESCRIPTION))
    lines = []
    byline = [neutralise(lead.source)] if template.shows("outlet") else []
    byline += [_when(lead.published, zone)] if template.shows("time") else []
    if byline:
        lines.append(" · ".join(byline))
    if template.shows("summary") and lead.summary:
        lines.append(_clip(neutralise(lead.summary), MAX_SUMMARY))
    if entry.others and template.shows("sources"):
        count = len(entry.others)
        names = ", ".join(neutralise(story.source) for story in entry.others)
        lines.append(f"+{count} more source{'s' if count > 1 else ''}: {names}")
    return discord.Embed(
        title=title,
        url=url,
        description=_clip("\n".join(lines), MAX_DESCRIPTION) or None,
        timestamp=_utc(lead.published) if lead.published and template.shows("time") else None,
    )


def _headline(digest: Digest) -> str:
    updates = sum(entry.update for entry in digest.events)
    new = len(digest.events) - updates
    parts = [f"{new} new event{'s' if new != 1 else ''}"] if new or not updates else []
    if updates:
        parts.append(f"{updates} update{'s' if updates != 1 else ''}")
    return f"**{neutralise(digest.heading)}**: " + ", ".join(parts)


BUTTONS = (("timeline", "Timeline", 2), ("mute", "Mute", 2), ("notrelevant", "Not relevant", 4))
"""(command, label, style) of an alert's buttons: 2 is Discord's grey secondary style, 4 red."""
CUSTOM_ID_PREFIX = "botsvc"


def custom_id(command: str, event_id: int) -> str:
    """``botsvc:<command>:<event id>``: what a button press brings back in ``data.custom_id``."""
    return f"{CUSTOM_ID_PREFIX}:{command}:{event_id}"


def alert_buttons(event_id: int) -> dict[str, Any]:
    """One action row under a message's embeds: the buttons of event ``#event_id``.

    Rows sit below all of a message's embeds, not beside their own, so each label carries
    the event's number, which its embed's footer shows too.
    """
    return {
        "type": 1,
        "components": [
            {"type": 2, "style": style, "label": f"{label} #{event_id}", "custom_id": custom_id(command, event_id)}
            for command, label, style in BUTTONS
        ],
    }


def render_thread(digest: Digest) -> DiscordMessage:
    """An event's later reports as one reply to its alert: an embed per new headline (outlet,
    time, link), under a line naming the event (read where it lands in the channel)."""
    assert digest.thread is not None
    thread = digest.thread
    stories = [story for entry in digest.events for story in (entry.headline, *entry.others)]
    embeds = tuple(
        discord.Embed(
            title=_clip(neutralise(story.title) or "(untitled)", MAX_TITLE),
            url=_web_link(story.link),
            description=_clip(f"{neutralise(story.source)} · {_when(story.published, digest.zone)}", MAX_DESCRIPTION),
        )
        for story in stories[:MAX_EMBEDS]
    )
    first = _clip(neutralise(thread.first_title) or "(untitled)", MAX_TITLE)
    content = (
        f"**Update** · now {thread.sources} source{'s' if thread.sources != 1 else ''} · first reported as “{first}”"
    )
    if len(stories) > MAX_EMBEDS:
        content += f" (+{len(stories) - MAX_EMBEDS} more)"
    return DiscordMessage(_clip(content, MAX_CONTENT), embeds)


def render_embeds(digest: Digest, *, buttons: bool = False) -> list[DiscordMessage]:
    """The digest as messages of at most 10 embeds and 6000 embed characters; no event dropped.

    A single embed is at most 256 + 4096 characters, so it always fits a message of its own.
    The count lines of events over the caps close the last message's text.

    ``buttons``: each new alert gets one action row (Timeline, Mute, Not relevant) and its
    number in its footer. Discord allows five rows a message, so a message then holds at
    most five new alerts (update lines, which get no buttons, still fill it up to ten).
    An event's later reports are one reply (:func:`render_thread`).
    """
    if digest.thread is not None:
        return [render_thread(digest)]
    batches: list[list[discord.Embed]] = []
    rows: list[list[dict[str, Any]]] = []
    for entry in digest.events:
        embed = render_embed(entry, digest.zone, digest.template)
        row = alert_buttons(entry.event_id) if buttons and not entry.update else None
        if row is not None:
            embed.set_footer(text=f"#{entry.event_id}")
        if (
            not batches
            or len(batches[-1]) == MAX_EMBEDS
            or sum(map(len, batches[-1])) + len(embed) > MAX_EMBED_TOTAL
            or (row is not None and len(rows[-1]) == MAX_ACTION_ROWS)
        ):
            batches.append([])
            rows.append([])
        batches[-1].append(embed)
        if row is not None:
            rows[-1].append(row)
    headline = _headline(digest)
    more = "".join("\n" + m.line(lambda feed: _clip(neutralise(feed), MAX_MORE_FEED)) for m in digest.more)
    if not batches:
        return [DiscordMessage(_clip(headline + more, MAX_CONTENT))]
    parts = len(batches)
    return [
        DiscordMessage(
            _clip(
                headline + (f" ({number}/{parts})" if parts > 1 else "") + (more if number == parts else ""),
                MAX_CONTENT,
            ),
            tuple(batch),
            tuple(batch_rows),
        )
        for number, (batch, batch_rows) in enumerate(zip(batches, rows, strict=True), 1)
    ]


MAX_REPLY_LINE = 600
_MORE_RESERVE = 32  # room kept for "…and N more"
_LINK_TARGET = re.compile(r"""https?://[^\s()<>\[\]`|\\"']+""", re.IGNORECASE)


def _link_target(link: str | None) -> str | None:
    """``link`` repaired to sit inside ``[text](...)``: well-formed http(s), nothing that ends or escapes it."""
    target = _web_link(link) if link else None
    return target if target and _LINK_TARGET.fullmatch(target) else None


def render_reply_line(line: ReplyLine) -> str:
    """One reply line, neutralised; a masked link only to a plain http(s) URL.

    Brackets in the text become parentheses, so the text cannot close the ``[...]`` early
    and point the link somewhere else.
    """
    text = _clip(neutralise(line.text.replace("[", "(").replace("]", ")")), MAX_REPLY_LINE)
    target = _link_target(line.link)
    if target is None:
        return text
    return f"[{text}]({target})" if text else target


def _fit_lines(lines: list[str], limit: int) -> str:
    """``lines`` joined, cut at a line boundary with a count of those left out."""
    kept: list[str] = []
    size = 0
    for index, line in enumerate(lines):
        cost = len(line) + (1 if kept else 0)
        if size + cost > limit - (0 if index == len(lines) - 1 else _MORE_RESERVE):
            kept.append(f"…and {len(lines) - index} more")
            break
        kept.append(line)
        size += cost
    return "\n".join(kept)


def render_reply(reply: CommandReply) -> discord.Embed:
    """A command reply as one embed: the core's text is untrusted too (feed titles, errors)."""
    description = _fit_lines([render_reply_line(line) for line in reply.lines], MAX_DESCRIPTION)
    return discord.Embed(
        title=_clip(neutralise(reply.title), MAX_TITLE) or None,
        description=description or None,
        colour=None if reply.ok else discord.Colour.red(),
    )


EPHEMERAL = 1 << 6
"""Message flag: only the person who ran the command sees the answer."""


def message_body(
    content: str | None,
    embeds: Sequence[discord.Embed],
    *,
    nonce: str | None = None,
    ephemeral: bool = False,
    components: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """The JSON body of a message post, with mentions always disabled.

    A ``nonce`` is enforced: Discord drops a repeat of it (a resend after a crash).
    """
    body: dict[str, Any] = {
        "embeds": [embed.to_dict() for embed in embeds],
        "tts": False,
        "allowed_mentions": NO_MENTIONS.to_dict(),
    }
    if content is not None:
        body["content"] = content
    if nonce is not None:
        body.update(nonce=nonce, enforce_nonce=True)
    if ephemeral:
        body["flags"] = EPHEMERAL
    if components:
        body["components"] = list(components)
    return body
