"""Console adapter: digests as plain text on a terminal. Needs no account."""

from __future__ import annotations

import itertools
import sys
from datetime import datetime
from typing import TextIO

from adapters.base import Adapter, ChannelAddress, Limits, Reply
from botsvc.models import Digest, DigestEvent

_counter = itertools.count(1)


def _when(moment: datetime | None) -> str:
    return moment.strftime("%d %b %Y %H:%M UTC") if moment else "date unknown"


def render_event(entry: DigestEvent) -> str:
    lead = entry.headline
    marker = "UPDATE " if entry.update else ""
    lines = [f"{marker}[event {entry.event_id}] {lead.title}", f"    {lead.source} · {_when(lead.published)}"]
    if lead.link:
        lines.append(f"    {lead.link}")
    if entry.others:
        names = ", ".join(story.source for story in entry.others)
        lines.append(f"    +{len(entry.others)} more source{'s' if len(entry.others) > 1 else ''}: {names}")
    return "\n".join(lines)


def _one_line(text: str) -> str:
    return " ".join(text.split())  # a feed name cannot add lines of its own


def render_text(digest: Digest) -> str:
    count = len(digest.events)
    header = f"== {digest.title}: {count} new event{'s' if count != 1 else ''} =="
    more = "\n".join(m.line(_one_line) for m in digest.more)
    if not digest.events:
        return f"{header}\n{more or '(nothing new)'}"
    return "\n\n".join([header, *(render_event(e) for e in digest.events), *([more] if more else [])])


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
