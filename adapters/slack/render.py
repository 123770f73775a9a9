"""Slack rendering: Block Kit digests and command replies, with feed text made inert.

Feed text is untrusted. Before it goes into a message every piece of it (titles, source
names, the digest title) is flattened to one line, has ``&``, ``<`` and ``>`` turned into
entities (so ``<!channel>``, ``<@U123>`` or ``<https://evil|click>`` show as text) and has
mrkdwn's formatting marks swapped for look-alikes (see ``_LOOKALIKES``). Only well-formed
http(s) links become ``<url|text>``, with the address percent-encoded so it cannot end
the link; a malformed or over-long one leaves the title unlinked.
Command replies go through the same escaping (:func:`render_reply`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botsvc.deliver.links import web_link
from botsvc.models import CommandReply, Digest, DigestEvent, DigestStory, ReplyLine, Template, local_time

MAX_TEXT = 3000  # Slack's limit for one text object
MAX_HEADER = 150  # ... and for a header block's text
EVENTS_PER_MESSAGE = 20
"""One header + 20 sections, each new alert followed by its buttons (an ``actions`` block), + the
count lines: at most 42 of Slack's 50 blocks a message."""

# Budgets for the parts of one event's text. Their sum plus markup stays under MAX_TEXT,
# so no event ever needs splitting or dropping; an over-long part is cut with "…".
MAX_URL = 1000  # longer addresses are shown unlinked rather than cut (a cut URL is broken)
TITLE_BUDGET = 1500
SOURCE_BUDGET = 100
NAMES_BUDGET = 270
FALLBACK_TITLE_BUDGET = 200
SUMMARY_BUDGET = 300  # shown only when a template asks; the title's budget gives it room

# Command replies: a bold title section, then the lines packed into sections of at most
# MAX_TEXT characters; one line (text budget + a MAX_URL link + markup) always fits one.
MAX_BLOCKS = 50  # Slack's limit for one message
REPLY_TITLE_BUDGET = MAX_TEXT - 2  # room for the bold marks
REPLY_LINE_BUDGET = 1500

# --- safe text -----------------------------------------------------------------------

_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
# mrkdwn has no escape character, so formatting marks in feed text are replaced by their
# fullwidth look-alikes (＊ ＿ ～ ｀). They read the same but never open or close bold,
# italics, strike-through or code, whatever surrounds them (link labels included).
_LOOKALIKES = {"*": "＊", "_": "＿", "~": "～", "`": "｀"}
_MRKDWN = str.maketrans({**_ENTITIES, **_LOOKALIKES})
_PLAIN = str.maketrans(_ENTITIES)


def _inert(text: str, limit: int, table: dict[int, str]) -> str:
    text = " ".join(text.split())  # one line: feed text cannot add lines of its own
    out = text.translate(table)
    if len(out) <= limit:
        return out
    kept: list[str] = []
    size = 0
    for char in text:  # cut between characters, never inside an entity
        piece = char.translate(table)
        if size + len(piece) > limit - 1:
            break
        kept.append(piece)
        size += len(piece)
    return "".join(kept).rstrip() + "…"


def mrkdwn_text(text: str, limit: int = MAX_TEXT) -> str:
    """Feed text that shows literally inside mrkdwn, at most ``limit`` characters."""
    if text.lstrip().startswith(">"):
        text = "＞" + text.lstrip()[1:]  # a line starting with > would become a quote
    return _inert(text, limit, _MRKDWN)


def plain_text(text: str, limit: int = MAX_TEXT) -> str:
    """Feed text for a ``plain_text`` object (no mrkdwn there, so only entities)."""
    return _inert(text, limit, _PLAIN)


def safe_link(url: str) -> str | None:
    """``url`` ready to go inside ``<url|text>``, or None unless it is a well-formed http(s) address.

    :func:`botsvc.deliver.links.web_link` percent-encodes everything outside URL syntax (``|``,
    ``<``, ``>``, spaces, quotes, non-ASCII), so nothing in the address can close the link
    or open another, and drops addresses with a malformed host; ``&`` becomes an entity.
    """
    link = web_link(url, MAX_URL)
    if link is None:
        return None
    link = link.replace("&", "&amp;")
    return link if len(link) <= MAX_URL else None


# --- rendering -----------------------------------------------------------------------


def _when(moment: datetime | None, zone: str = "UTC") -> str:
    return local_time(moment, zone)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _linked(story: DigestStory, *, link: bool = True, budget: int = TITLE_BUDGET) -> str:
    title = mrkdwn_text(story.title, budget) or "(untitled)"
    url = safe_link(story.link) if story.link and link else None
    return f"<{url}|{title}>" if url else title


def _names(stories: tuple[DigestStory, ...]) -> str:
    return mrkdwn_text(", ".join(story.source for story in stories), NAMES_BUDGET)


def render_event(entry: DigestEvent, zone: str = "UTC", template: Template | None = None) -> str:
    """One event as mrkdwn: a new alert, or a single line when an event only grew.

    ``template`` picks the parts shown after the title (default: all but the summary).
    """
    template = template or Template()
    lead = entry.headline
    link = template.shows("link")
    if entry.update:
        everyone = (lead, *entry.others)
        names = f": {_names(everyone)}" if template.shows("sources") else ""
        return f"Update: {_linked(lead, link=link)} — now {_plural(len(everyone), 'source')}{names}"
    summary = lead.summary if template.shows("summary") else ""
    lines = [f"*{_linked(lead, link=link, budget=TITLE_BUDGET - SUMMARY_BUDGET if summary else TITLE_BUDGET)}*"]
    byline = [mrkdwn_text(lead.source, SOURCE_BUDGET)] if template.shows("outlet") else []
    byline += [_when(lead.published, zone)] if template.shows("time") else []
    if byline:
        lines.append(" · ".join(byline))
    if summary:
        lines.append(mrkdwn_text(summary, SUMMARY_BUDGET))
    if entry.others and template.shows("sources"):
        lines.append(f"+{len(entry.others)} more source{'s' if len(entry.others) > 1 else ''}: {_names(entry.others)}")
    return "\n".join(lines)


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


BUTTONS = (("timeline", "Timeline"), ("mute", "Mute event"), ("notrelevant", "Not relevant"))
"""(command, label) of an alert's buttons; each button's ``action_id`` is ``botsvc_<command>``."""
ACTION_PREFIX = "botsvc_"


def _buttons(event_id: int) -> dict[str, Any]:
    """An alert's ``actions`` block: each button's value is the event id, for the command core."""
    return {
        "type": "actions",
        "block_id": f"botsvc-event-{event_id}",
        "elements": [
            {
                "type": "button",
                "action_id": f"{ACTION_PREFIX}{command}",
                "text": {"type": "plain_text", "text": label},
                "value": str(event_id),
            }
            for command, label in BUTTONS
        ],
    }


def _event_blocks(
    entry: DigestEvent, zone: str, buttons: bool, template: Template | None = None
) -> list[dict[str, Any]]:
    """One event's section, and its buttons when wanted (new alerts only, not update lines)."""
    blocks = [_section(render_event(entry, zone, template))]
    return blocks + [_buttons(entry.event_id)] if buttons and not entry.update else blocks


def _fallback(title: str, events: tuple[DigestEvent, ...], part: str, counted: int = 0) -> str:
    """The notification / screen-reader text: no feed text except the digest title."""
    updates = sum(entry.update for entry in events)
    counts = [_plural(len(events) - updates, "new event")] + ([_plural(updates, "update")] if updates else [])
    counts += [f"{counted} more not shown"] if counted else []
    return f"{mrkdwn_text(title, FALLBACK_TITLE_BUDGET)}: {', '.join(counts)}{part}"


def render_more(digest: Digest) -> str:
    """The digest's count lines ("and 412 more from Feed X: …"), feed names made inert."""
    return "\n".join(m.line(lambda feed: mrkdwn_text(feed, SOURCE_BUDGET)) for m in digest.more)


THREAD_STORIES = 10  # new reports shown in one thread message; more are counted


def render_thread(digest: Digest) -> dict[str, Any]:
    """An event's later reports as one message for its alert's thread: each new headline,
    outlet, time and link, under a line naming the event (read where it lands in the channel)."""
    assert digest.thread is not None
    thread = digest.thread
    first = mrkdwn_text(thread.first_title, FALLBACK_TITLE_BUDGET) or "(untitled)"
    context = f"Update · now {_plural(thread.sources, 'source')} · first reported as “{first}”"
    stories = [story for entry in digest.events for story in (entry.headline, *entry.others)]
    sections = [
        _section(
            f"*{_linked(story)}*\n{mrkdwn_text(story.source, SOURCE_BUDGET)} · {_when(story.published, digest.zone)}"
        )
        for story in stories[:THREAD_STORIES]
    ]
    if len(stories) > THREAD_STORIES:
        sections.append(_section(f"+{len(stories) - THREAD_STORIES} more"))
    text = f"{mrkdwn_text(digest.title, FALLBACK_TITLE_BUDGET)}: {_plural(len(stories), 'new report')}"
    return {"text": text, "blocks": [_section(context), *sections]}


def render_blocks(digest: Digest, *, buttons: bool = False) -> list[dict[str, Any]]:
    """Block Kit payloads ``{"text", "blocks"}`` for ``digest``, in order, every event kept.

    Each payload has a header and up to ``EVENTS_PER_MESSAGE`` sections; when there is more
    than one, the header and fallback say which part ("(2/6)"). The count lines of events
    over the caps close the last payload. ``buttons``: each new alert gets Timeline, Mute
    event and Not relevant (only where the app receives the presses, not on webhooks). An event's later
    reports are one thread message.
    """
    if digest.thread is not None:
        return [render_thread(digest)]
    events = digest.events
    chunks = [events[i : i + EVENTS_PER_MESSAGE] for i in range(0, len(events), EVENTS_PER_MESSAGE)] or [()]
    more = render_more(digest)
    payloads = []
    for number, chunk in enumerate(chunks, 1):
        part = f" ({number}/{len(chunks)})" if len(chunks) > 1 else ""
        header = plain_text(digest.heading, MAX_HEADER - len(part)) + part
        blocks = [{"type": "header", "text": {"type": "plain_text", "text": header}}]
        last = number == len(chunks)
        sections = [
            block for entry in chunk for block in _event_blocks(entry, digest.zone, buttons, digest.template)
        ] + ([_section(more)] if more and last else [])
        blocks += sections or [_section("Nothing new.")]
        counted = sum(m.count for m in digest.more) if last else 0
        payloads.append({"text": _fallback(digest.heading, chunk, part, counted), "blocks": blocks})
    return payloads


def _reply_line(line: ReplyLine) -> str:
    text = mrkdwn_text(line.text, REPLY_LINE_BUDGET)
    if not line.link:
        return text
    url = safe_link(line.link)
    if url:
        return f"<{url}|{text}>" if text else f"<{url}>"
    # Not an http(s) address (or too long to link): shown, inert, on its own line.
    shown = mrkdwn_text(line.link, MAX_URL)
    return f"{text}\n{shown}" if text else shown


def render_reply(reply: CommandReply) -> dict[str, Any]:
    """A command reply as ``{"response_type", "text", "blocks"}`` for ``ack()`` or ``respond()``.

    Every piece of the reply is escaped: titles and lines carry feed text. Lines that do not
    fit 50 blocks of 3000 characters end in "…and N more" instead of failing the reply.
    """
    title = mrkdwn_text(reply.title, REPLY_TITLE_BUDGET)
    blocks: list[dict[str, Any]] = [_section(f"*{title}*")] if title else []
    chunks: list[list[str]] = []
    sizes: list[int] = []
    lines = [_reply_line(line) for line in reply.lines]
    left = 0
    for index, text in enumerate(lines):
        if not text:
            continue
        if chunks and sizes[-1] + 1 + len(text) <= MAX_TEXT:
            chunks[-1].append(text)
            sizes[-1] += 1 + len(text)
        elif len(blocks) + len(chunks) < MAX_BLOCKS:
            chunks.append([text])
            sizes.append(len(text))
        else:
            left = sum(1 for rest in lines[index:] if rest)
            break
    if left:
        more = f"…and {left} more"
        while sizes[-1] + 1 + len(more) > MAX_TEXT:  # make room in the last section
            sizes[-1] -= len(chunks[-1].pop()) + 1
            left += 1
            more = f"…and {left} more"
        chunks[-1].append(more)
    blocks += [_section("\n".join(chunk)) for chunk in chunks]
    return {
        "response_type": "ephemeral" if reply.ephemeral else "in_channel",
        "text": mrkdwn_text(reply.title, MAX_TEXT) or "(no text)",
        "blocks": blocks,
    }
