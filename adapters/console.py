"""Console adapter: digests as plain text on a terminal. Needs no account.

Feed text is clipped like on the chat platforms (a title, an outlet name and the list of
other outlets each have a budget) and flattened to one line, so one hostile feed cannot
flood the terminal or the log it is piped to.
"""

from __future__ import annotations

import itertools
import sys
from typing import TextIO

from botsvc.deliver.adapter import Adapter, ChannelAddress, Limits, Reply
from botsvc.models import Digest, DigestEvent, Template, local_time

_counter = itertools.count(1)

TITLE_BUDGET = 300
SOURCE_BUDGET = 100
NAMES_BUDGET = 270
LINK_BUDGET = 2000  # a longer address is not shown: cut, it would be broken
SUMMARY_BUDGET = 300


def clip(text: str, limit: int) -> str:
    """``text`` on one line, at most ``limit`` characters (cut with "…")."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def render_event(entry: DigestEvent, zone: str = "UTC", template: Template | None = None) -> str:
    """One event: title, then the parts the subscription's template shows (default: all but the summary)."""
    template = template or Template()
    lead = entry.headline
    marker = "UPDATE " if entry.update else ""
    lines = [f"{marker}[event {entry.event_id}] {clip(lead.title, TITLE_BUDGET) or '(untitled)'}"]
    byline = [clip(lead.source, SOURCE_BUDGET)] if template.shows("outlet") else []
    byline += [local_time(lead.published, zone)] if template.shows("time") else []
    if byline:
        lines.append(f"    {' · '.join(byline)}")
    if template.shows("summary") and lead.summary:
        lines.append(f"    {clip(lead.summary, SUMMARY_BUDGET)}")
    if lead.link and template.shows("link"):
        lines.append(f"    {lead.link}" if len(lead.link) <= LINK_BUDGET else "    (link too long to show)")
    if entry.others and template.shows("sources"):
        names = clip(", ".join(story.source for story in entry.others), NAMES_BUDGET)
        lines.append(f"    +{len(entry.others)} more source{'s' if len(entry.others) > 1 else ''}: {names}")
    return "\n".join(lines)


def headline(digest: Digest) -> str:
    """ "3 new events, 1 update": a digest of updates only does not claim new events."""
    updates = sum(entry.update for entry in digest.events)
    new = len(digest.events) - updates
    parts = [f"{new} new event{'s' if new != 1 else ''}"] if new or not updates else []
    if updates:
        parts.append(f"{updates} update{'s' if updates != 1 else ''}")
    return f"== {clip(digest.heading, TITLE_BUDGET)}: {', '.join(parts)} =="


def _one_line(text: str) -> str:
    return " ".join(text.split())  # a feed name cannot add lines of its own


def render_thread(digest: Digest) -> str:
    """An event's later reports: a terminal has no threads, so they name the event they grow."""
    assert digest.thread is not None
    thread = digest.thread
    lines = [
        f"UPDATE [event {thread.event_id}] now {thread.sources} source{'s' if thread.sources != 1 else ''}, "
        f"first reported as: {clip(thread.first_title, TITLE_BUDGET) or '(untitled)'}"
    ]
    for entry in digest.events:
        for story in (entry.headline, *entry.others):
            lines.append(f"    new: {clip(story.title, TITLE_BUDGET) or '(untitled)'}")
            lines.append(f"    {clip(story.source, SOURCE_BUDGET)} · {local_time(story.published, digest.zone)}")
            if story.link:
                lines.append(f"    {story.link}" if len(story.link) <= LINK_BUDGET else "    (link too long to show)")
    return "\n".join(lines)


def render_text(digest: Digest) -> str:
    if digest.thread is not None:
        return render_thread(digest)
    header = headline(digest)
    more = "\n".join(m.line(_one_line) for m in digest.more)
    if not digest.events:
        return f"{header}\n{more or '(nothing new)'}"
    return "\n\n".join(
        [header, *(render_event(e, digest.zone, digest.template) for e in digest.events), *([more] if more else [])]
    )


class ConsoleAdapter(Adapter):
    """Writes digests to a stream (standard output by default)."""

    name = "console"
    limits = Limits(max_chars=1_000_000, max_events=1_000)

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    def render(self, digest: Digest) -> list[str]:
        return [render_text(digest)]

    async def send(self, channel: ChannelAddress, payload: str, *, key: str | None = None) -> str:
        stream = self.stream or sys.stdout
        stream.write(payload + "\n")
        stream.flush()
        return f"console-{next(_counter)}"

    async def reply(self, context: object, reply: Reply) -> None:
        stream = self.stream or sys.stdout
        stream.write(reply.text + "\n")
        stream.flush()
