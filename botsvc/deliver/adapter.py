"""The narrow interface every chat platform implements.

The core hands an adapter a neutral :class:`~botsvc.models.Digest`; the adapter
renders it into one or more platform messages that respect the platform's limits,
sends them to a channel, and reports the platform's message id.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Literal

from botsvc.models import ChannelAddress, CommandContext, CommandReply, Digest

CommandHandler = Callable[[str, CommandContext], Awaitable[CommandReply]]
"""The core's command entry point: the text after ``/news`` and who/where -> a neutral reply."""

Route = tuple[str, str, Callable[..., Awaitable[Any]]]
"""(HTTP method, path, aiohttp handler) served on the bot's HTTP port (``BOTSVC_HTTP_PORT``)."""

RequestMemory = Callable[[str, int], Awaitable[bool]]
"""``await memory(signature, expires)``: whether a signed request (valid until ``expires``,
Unix seconds) is seen for the first time, in this process or another on the same database."""

__all__ = [
    "Adapter",
    "AddressError",
    "ChannelAddress",
    "CommandHandler",
    "DeliveryError",
    "Limits",
    "ParentGone",
    "Reply",
    "REGISTRY",
    "RequestMemory",
    "Route",
    "Scope",
    "load_adapter",
]


@dataclass(frozen=True)
class Limits:
    """What one message may hold on a platform."""

    max_chars: int
    """Characters in one message (or one text block, where the platform counts per block)."""
    max_events: int
    """Digest events per message (Slack blocks / Discord embeds budget)."""


@dataclass(frozen=True)
class Reply:
    """A neutral answer to a command."""

    text: str
    ephemeral: bool = True


Scope = Literal["retry", "message", "channel", "auth"]
"""What a failed send says about what comes next.

* ``retry``: the platform is down, slow or rate limiting; the same request may work later.
* ``message``: this message is refused (its payload, or an answer that cannot be read);
  sending it again would fail again or risk a double post, but the channel is fine.
* ``channel``: the channel is gone or the bot was removed; nothing more can go there.
* ``auth``: the platform refused the bot's credentials; nothing goes anywhere on that
  platform until they are fixed, and no channel is to blame.
"""


class DeliveryError(Exception):
    """Sending failed; ``scope`` says how far the failure reaches (see :data:`Scope`)."""

    def __init__(
        self,
        message: str,
        *,
        scope: Scope = "retry",
        retry_after: float | None = None,
        maybe_sent: bool = False,
        answered: bool = False,
    ) -> None:
        super().__init__(message)
        self.scope: Scope = scope
        self.retry_after = retry_after
        self.maybe_sent = maybe_sent or answered
        """The request may have been accepted (a timeout, a dropped connection, an answer that
        cannot be read): the outbox asks the platform (:meth:`Adapter.find_sent`) before sending again."""
        self.answered = answered
        """The platform answered 2xx, but not in a form that can be read: it is up, so the outbox
        asks it at once, rather than at a later flush as after a timeout."""

    @property
    def permanent(self) -> bool:
        """Retrying the same request cannot succeed."""
        return self.scope != "retry"


class AddressError(DeliveryError, ValueError):
    """A channel address that cannot be one (checked at subscribe time; this is for older rows).

    A ValueError for whoever gives it, and the end of that channel for the outbox. The
    message never repeats the address: a webhook's address is its credential.
    """

    def __init__(self, why: str) -> None:
        super().__init__(why, scope="channel")


class ParentGone(DeliveryError):
    """The message a reply or an edit was for is gone (deleted, or its thread is): post in the channel."""

    def __init__(self, message: str) -> None:
        super().__init__(message, scope="message")


class Adapter(ABC):
    """One chat platform. Subclasses set ``name`` and ``limits``."""

    name: ClassVar[str]
    limits: ClassVar[Limits]

    @abstractmethod
    def render(self, digest: Digest) -> list[Any]:
        """Platform payloads for ``digest``, split so each fits ``limits``; no event dropped."""

    @abstractmethod
    async def send(self, channel: ChannelAddress, payload: Any, *, key: str | None = None) -> str:
        """Deliver one rendered payload; return the platform's message id.

        ``key`` is the same for every attempt to send this payload (at most 25
        characters): a platform that can deduplicate by it (Discord's message nonce)
        makes a retry after a crash harmless.

        Raises :class:`DeliveryError` on failure.
        """

    reads_back: ClassVar[bool] = False
    """Whether :meth:`find_sent` can tell if a send whose outcome is unknown was posted.

    Without it (webhooks, the console) a part whose send was cut off is sent again:
    at-least-once, a rare repeat rather than a lost message.
    """

    async def find_sent(
        self,
        channel: ChannelAddress,
        key: str,
        *,
        since: datetime,
        parent_id: str | None = None,
        payload: Any = None,
    ) -> str | None:
        """The id of the message ``payload`` sent with ``key`` at or after ``since`` (under
        ``parent_id`` when it went in a thread), or None when the platform has no such message.

        Raises :class:`DeliveryError` when the platform cannot be asked now.
        """
        raise NotImplementedError(f"{self.name} cannot read back what it sent")

    threads: ClassVar[bool] = False
    """Whether :meth:`send_in_thread` and :meth:`edit` work; without them updates go in the channel."""

    async def send_in_thread(self, channel: ChannelAddress, payload: Any, parent_id: str, *, key: str) -> str:
        """Deliver one payload under the message ``parent_id`` (a thread, or a reply); its message id.

        Raises :class:`ParentGone` when that message no longer exists, else as :meth:`send`.
        """
        raise NotImplementedError(f"{self.name} has no threads")

    async def edit(self, channel: ChannelAddress, message_id: str, payload: Any) -> None:
        """Replace the text of a message sent before. Raises :class:`DeliveryError` (:class:`ParentGone`)."""
        raise NotImplementedError(f"{self.name} cannot edit messages")

    async def reply(self, context: Any, reply: Reply) -> None:
        """Answer a command in the platform's way (ephemeral where possible)."""
        raise NotImplementedError(f"{self.name} does not take commands")

    def attach_commands(self, handler: CommandHandler) -> None:
        """Receive ``/news`` commands from this platform and answer them with ``handler``.

        Called before :meth:`start`. Platforms without commands ignore it.
        """

    def remember_requests(self, memory: RequestMemory) -> None:
        """Refuse a signed request ``memory`` saw before (a replay, possibly sent to another process).

        Called before :meth:`start`. Platforms whose requests are not signed ignore it.
        """

    def http_routes(self) -> list[Route]:
        """Routes this adapter needs on the bot's HTTP port (e.g. Slack's ``/slack/events``)."""
        return []

    async def start(self) -> None:
        """Connect or start listening; called once before use."""

    async def stop(self) -> None:
        """Release connections; called once at shutdown."""


# Adapters by name: "module:Class". A new platform is one new module and one line here.
REGISTRY: dict[str, str] = {
    "console": "adapters.console:ConsoleAdapter",
    "discord": "adapters.discord:DiscordAdapter",
    "discord-webhook": "adapters.discord:DiscordWebhookAdapter",
    "slack": "adapters.slack:SlackAdapter",
    "slack-webhook": "adapters.slack:SlackWebhookAdapter",
}


def load_adapter(name: str, **settings: Any) -> Adapter:
    """Instantiate the adapter registered under ``name``."""
    try:
        target = REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown adapter {name!r}; known: {', '.join(sorted(REGISTRY))}") from None
    module_name, class_name = target.split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(**settings)
