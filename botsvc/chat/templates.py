"""``/news template``: which parts of an alert this channel sees, and a header of its own.

``template show``; ``template set header <text>``; ``template set fields <f1,f2,…>`` (the
fields to show, the others are hidden); ``template reset [header | fields]``. It applies to
every subscription of the channel. Input is checked by :mod:`botsvc.deliver.templates`
before anything is stored; bad input raises :class:`~botsvc.chat.usage.UsageError`.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from typing import Any

from botsvc.chat.usage import UsageError
from botsvc.chat.writing import writes
from botsvc.deliver.subscriptions import Subscription, set_template
from botsvc.deliver.templates import TemplateError, parse_fields, parse_header
from botsvc.models import DEFAULT_FIELDS, TEMPLATE_FIELDS, CommandReply, ReplyLine, Template
from botsvc.store.store import Store

USAGE = (
    "template show | template set header <text> | template set fields "
    f"{','.join(TEMPLATE_FIELDS)} | template reset [header | fields]: what this channel's alerts show "
    "(listed fields are shown, the others hidden) and a header instead of the topic title (channel managers)"
)


class TemplateCommands:
    """Mixed into :class:`~botsvc.chat.commands.CommandCore`, which provides these attributes."""

    store: Store

    def writing(self) -> AbstractAsyncContextManager[Any]:  # provided by CommandCore
        raise NotImplementedError

    def _subscribed(self, ctx, command: str) -> list[Subscription]:  # provided by ChannelControls
        raise NotImplementedError

    def _template_reply(self, title: str, template: Template) -> CommandReply:
        shown = [f for f in TEMPLATE_FIELDS if template.shows(f)]
        hidden = [f for f in TEMPLATE_FIELDS if not template.shows(f)]
        lines = (
            ReplyLine(f"header: {template.header}" if template.header else "header: the topic's title"),
            ReplyLine(f"shown: {', '.join(shown) or 'only the headline'}"),
            ReplyLine(f"hidden: {', '.join(hidden) or 'nothing'}"),
        )
        return CommandReply(f"{title} This channel's alerts:".strip(), lines)

    def _changed_template(self, args: list[str], current: Template) -> tuple[str, Template]:
        action = args[0].lower() if args else ""
        what = args[1].lower() if len(args) > 1 else ""
        if action == "set" and what == "header" and args[2:]:
            return "Header set.", replace(current, header=parse_header(" ".join(args[2:])))
        if action == "set" and what == "fields" and args[2:]:
            return "Fields set.", replace(current, fields=parse_fields(args[2:]))
        if action == "reset" and not args[1:]:
            return "Template reset.", Template()
        if action == "reset" and what == "header" and not args[2:]:
            return "Header reset.", replace(current, header=None)
        if action == "reset" and what == "fields" and not args[2:]:
            return "Fields reset.", replace(current, fields=DEFAULT_FIELDS)
        raise TemplateError("expected template show, set header <text>, set fields <list> or reset")

    @writes
    async def _template(self, command, ctx) -> CommandReply:
        args = command.args
        if not args or (args[0].lower() == "show" and not args[1:]):
            return self._template_reply("", self._subscribed(ctx, "template")[0].template)
        subs = self._subscribed(ctx, "template")
        try:
            title, template = self._changed_template(args, subs[0].template)
        except TemplateError as exc:
            raise UsageError(str(exc), "template") from None
        set_template(self.store, [s.id for s in subs], template)
        return self._template_reply(title, template)
