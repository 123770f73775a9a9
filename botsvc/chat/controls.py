"""``/news filter``, ``pause``, ``resume``, ``quiet`` and ``updates``: what a channel controls of its own news.

Each applies to every subscription of the channel (a topic subscribed later takes them
over). The state lives in the store (:mod:`botsvc.deliver.channel_controls`,
:mod:`botsvc.deliver.filters`); this module only turns words into those calls and
replies. Bad input raises :class:`~botsvc.chat.usage.UsageError` before anything changes.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

from botsvc.chat.usage import UsageError
from botsvc.chat.writing import writes
from botsvc.deliver.channel_controls import UPDATE_MODES, mute, resume, set_quiet_hours, set_updates
from botsvc.deliver.filters import FilterError, FilterWord, add_filters, filters_of, parse_words, remove_filters
from botsvc.deliver.quiet import QuietHoursError, parse_quiet_hours
from botsvc.deliver.subscriptions import Subscription
from botsvc.models import CommandReply, ReplyLine
from botsvc.store.store import Store


def _words(words: list[FilterWord], kind: str) -> str:
    return ", ".join(w.word for w in words if w.kind == kind)


class ChannelControls:
    """Mixed into :class:`~botsvc.chat.commands.CommandCore`, which provides these attributes."""

    store: Store
    prefix: str
    clock: Callable[[], datetime]

    def writing(self) -> AbstractAsyncContextManager[Any]:  # provided by CommandCore
        raise NotImplementedError

    def _channel_subscriptions(self, ctx) -> list[Subscription]:  # provided by CommandCore
        raise NotImplementedError

    def _subscribed(self, ctx, command: str) -> list[Subscription]:
        subs = self._channel_subscriptions(ctx)
        if not subs:
            raise UsageError(f"this channel has no subscriptions yet; first: {self.prefix} subscribe", command)
        return subs

    def _filter_reply(self, title: str, subs: list[Subscription]) -> CommandReply:
        words = filters_of(self.store, subs[0].id)
        if not words:
            return CommandReply(f"{title} This channel has no filters: it gets all news on its topics.")
        lines = []
        if included := _words(words, "include"):
            lines.append(ReplyLine(f"only news mentioning at least one of: {included}"))
        if excluded := _words(words, "exclude"):
            lines.append(ReplyLine(f"never news mentioning: {excluded}"))
        return CommandReply(f"{title} This channel's filters:".strip(), tuple(lines))

    @writes
    async def _filter(self, command, ctx) -> CommandReply:
        action = command.args[0].lower() if command.args else ""
        if action not in ("add", "remove", "list"):
            raise UsageError("expected `filter add <words>`, `filter remove <words>` or `filter list`", "filter")
        subs = self._subscribed(ctx, "filter")
        if action == "list":
            if command.args[1:]:
                raise UsageError("filter list takes no words", "filter")
            return self._filter_reply("", subs)
        try:
            words = parse_words(command.args[1:])
            with self.store.atomic():
                change = add_filters if action == "add" else remove_filters
                change(self.store, [s.id for s in subs], words)
        except FilterError as exc:
            raise UsageError(str(exc), "filter") from None
        verb = "Added" if action == "add" else "Removed"
        return self._filter_reply(f"{verb} {' '.join(str(w) for w in words)}.", subs)

    @writes
    async def _pause(self, command, ctx) -> CommandReply:
        if command.args:
            raise UsageError("pause takes no arguments", "pause")
        subs = self._subscribed(ctx, "pause")
        if all(s.muted for s in subs):
            return CommandReply(f"This channel is already paused ({self.prefix} resume to resume).", ok=False)
        mute(self.store, subs, self.clock())
        return CommandReply(
            f"Paused: this channel gets no news until {self.prefix} resume.",
            (ReplyLine("Events that open while paused are never sent here, not even after resuming."),),
        )

    @writes
    async def _resume(self, command, ctx) -> CommandReply:
        if command.args:
            raise UsageError("resume takes no arguments", "resume")
        subs = self._subscribed(ctx, "resume")
        if not any(s.muted for s in subs):
            return CommandReply("This channel is not paused.", ok=False)
        skipped = resume(self.store, subs, self.clock())
        return CommandReply(
            "Resumed: new events are sent here again.",
            (ReplyLine(f"{skipped} event(s) opened while paused were skipped (see {self.prefix} recent)."),),
        )

    @writes
    async def _quiet(self, command, ctx) -> CommandReply:
        text = " ".join(command.args)
        subs = self._subscribed(ctx, "quiet")
        if not text:
            quiet = subs[0].quiet
            return CommandReply(f"Quiet hours: {quiet}." if quiet else "This channel has no quiet hours.")
        if text.lower() == "off":
            set_quiet_hours(self.store, subs, None)
            return CommandReply("Quiet hours off: alerts are sent as they come.")
        try:
            quiet = parse_quiet_hours(text)
        except QuietHoursError as exc:
            raise UsageError(str(exc), "quiet") from None
        set_quiet_hours(self.store, subs, quiet)
        end = quiet.end.strftime("%H:%M")
        return CommandReply(
            f"Quiet hours {quiet.start.strftime('%H:%M')}–{end} ({quiet.zone}): alerts wait and arrive "
            f"as one digest at {end}.",
            (ReplyLine(f"Times in this channel's messages are shown in {quiet.zone}."),),
        )

    @writes
    async def _updates(self, command, ctx) -> CommandReply:
        subs = self._subscribed(ctx, "updates")
        if not command.args:
            return CommandReply(f"Updates: {subs[0].updates}. {_UPDATE_WORDS[subs[0].updates]}")
        where = command.args[0].lower()
        if len(command.args) > 1 or where not in UPDATE_MODES:
            raise UsageError(f"expected one of {', '.join(UPDATE_MODES)}", "updates")
        set_updates(self.store, subs, where)
        lines = [ReplyLine("Hourly and daily digests keep folding updates into the digest.")]
        return CommandReply(f"Updates: {where}. {_UPDATE_WORDS[where]}", tuple(lines))


_UPDATE_WORDS = {
    "thread": "Later reports of an event go in its alert's thread; the alert shows the count of sources.",
    "channel": "Later reports of an event come as an update line in the channel.",
    "none": "Later reports of an event are not sent.",
}
