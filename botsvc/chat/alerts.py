"""What an alert's buttons do: ``timeline <id>``, ``mute <id>`` and ``notrelevant <id>``.

Adapters turn a button press into one of these command texts, so the logic lives (and is
tested) once. Who may do what:

* ``timeline``: anyone (it only reads).
* ``mute``: channel managers, like ``subscribe``: it changes what the channel receives.
* ``notrelevant``: anyone may report an event as not relevant (the report is what shows
  which topic rules bring unwanted alerts, so every reader's voice counts, once per
  person and event in a workspace or server, whichever channel it comes from). It also
  hides the event from the channel only when the reporter may manage the channel;
  otherwise the report is recorded and counted, and the reply says a manager can mute
  the event.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Any

from botsvc.chat.reports import ReportRate
from botsvc.chat.tenants import tenant_of
from botsvc.chat.usage import UsageError
from botsvc.chat.writing import writes
from botsvc.config import Config
from botsvc.deliver.subscriptions import Subscription
from botsvc.models import CommandContext, CommandReply, ReplyLine
from botsvc.store import examples
from botsvc.store.feedback import MUTE, NOT_RELEVANT, feedback_summary, mute_event, muted_for, report_not_relevant
from botsvc.store.merges import current_event
from botsvc.store.store import Store
from botsvc.store.tenants import reports_since

EVENT_ID = re.compile(r"#?[0-9]{1,12}")


def _who(ctx: CommandContext) -> str:
    return f"{ctx.platform}:{ctx.user}" if ctx.user else ctx.platform


class AlertActions:
    """Mixed into :class:`~botsvc.chat.commands.CommandCore`, which provides these attributes."""

    store: Store
    config: Config
    prefix: str
    clock: Callable[[], datetime]
    report_rate: ReportRate

    def writing(self) -> AbstractAsyncContextManager[Any]:  # provided by CommandCore
        raise NotImplementedError

    def _channel_subscriptions(self, ctx: CommandContext) -> list[Subscription]:  # provided by CommandCore
        raise NotImplementedError

    async def _event(self, command, ctx: CommandContext) -> CommandReply:  # provided by CommandCore
        raise NotImplementedError

    def _event_id(self, command, name: str) -> int:
        """The one event id argument, of an event that exists; UsageError otherwise."""
        if len(command.args) != 1 or not EVENT_ID.fullmatch(command.args[0]):
            raise UsageError(f"give one event id, e.g. `{name} 12`", name)
        event_id = int(command.args[0].lstrip("#"))
        if self.store.event(event_id) is None:
            raise UsageError(f"there is no event {event_id}", name)
        return current_event(self.store, event_id)  # an alert of a merged event acts on the one it went into

    async def _timeline(self, command, ctx: CommandContext) -> CommandReply:
        """The alert's "Timeline" button: ``event <id>``, only for the one who pressed it."""
        self._event_id(command, "timeline")
        reply = await self._event(command, ctx)
        return CommandReply(reply.title, reply.lines, True, reply.ok)

    @writes
    async def _mute(self, command, ctx: CommandContext) -> CommandReply:
        event_id = self._event_id(command, "mute")
        subs = self._channel_subscriptions(ctx)
        if not subs:
            raise UsageError("this channel has no subscriptions, so it gets no updates to mute", "mute")
        ids = [s.id for s in subs]
        if muted_for(self.store, ids, event_id):
            return CommandReply(f"Event #{event_id} is already muted in this channel.", ok=False)
        mute_event(self.store, ids, event_id, MUTE, _who(ctx), self.clock())
        return CommandReply(
            f"Muted event #{event_id}: this channel gets no more updates about it.",
            (ReplyLine(f"Its timeline stays available: {self.prefix} event {event_id}."),),
        )

    @writes
    async def _notrelevant(self, command, ctx: CommandContext) -> CommandReply:
        event_id = self._event_id(command, "notrelevant")
        if ctx.platform != "cli" and not self.report_rate.allow(ctx):
            return CommandReply(
                f"Not recorded: at most {self.report_rate.per_hour} reports an hour per person; please try later.",
                ok=False,
            )
        limit, now = self.config.chat.max_reports_per_tenant, self.clock()
        if (
            tenant_of(ctx) is not None
            and reports_since(self.store, ctx.platform, ctx.workspace, now - timedelta(days=1)) >= limit
        ):
            return CommandReply(
                f"Sorry, this workspace or server has made {limit} not-relevant reports in the last 24 hours, "
                "the most the bot takes; this one is not counted.",
                (ReplyLine("A channel manager can still hide the event here (Mute event)."),),
                ok=False,
            )
        new = report_not_relevant(
            self.store,
            event_id=event_id,
            platform=ctx.platform,
            workspace=ctx.workspace,
            channel=ctx.channel,
            user=ctx.user,
            now=self.clock(),
        )
        article_id = examples.first_article(self.store, event_id)
        if article_id is not None:  # a labelled example: a manager's, or two members', drops stories like it
            examples.add_report(
                self.store,
                article_id=article_id,
                label=examples.NOT_RELEVANT,
                platform=ctx.platform,
                workspace=ctx.workspace,
                channel=ctx.channel,
                user=ctx.user or ctx.platform,
                manager=ctx.can_manage,
                decided_before="alerted",
                now=self.clock(),
            )
        lines = []
        summary = feedback_summary(self.store, [event_id])
        if summary is not None:
            lines.append(ReplyLine(f"Not relevant so far: {summary.describe_event()}."))
        subs = self._channel_subscriptions(ctx)
        if ctx.can_manage and subs:
            mute_event(self.store, [s.id for s in subs], event_id, NOT_RELEVANT, _who(ctx), self.clock())
            lines.append(ReplyLine("It is hidden from this channel: no more updates about it."))
        elif subs and not muted_for(self.store, [s.id for s in subs], event_id):
            lines.append(ReplyLine("A channel manager can hide it from this channel (Mute event)."))
        title = (
            f"Thanks: event #{event_id} is marked not relevant."
            if new
            else f"You had already marked event #{event_id} not relevant; counted once."
        )
        return CommandReply(title, tuple(lines))
