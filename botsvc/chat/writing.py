"""Commands that write take the process's write turn for as long as they run.

``botsvc run`` makes its database connections refuse a write made without the turn
(:mod:`botsvc.store.turn`), so a handler that writes is decorated with :func:`writes`:
it waits for the turn (without blocking the event loop), runs, and gives it back. Such a
handler only reads and writes the database, never the network: the turn is held for
milliseconds. A command that also fetches (``feed add``, ``feed preview``) takes the
turn itself, around its writes only (:meth:`CommandCore.writing`).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, TypeVar

from botsvc.models import CommandReply


class Writer(Protocol):
    def writing(self) -> AbstractAsyncContextManager[Any]: ...


W = TypeVar("W", bound=Writer)


def writes(
    handler: Callable[[W, Any, Any], Awaitable[CommandReply]],
) -> Callable[[W, Any, Any], Awaitable[CommandReply]]:
    """Run ``handler`` holding the write turn."""

    @functools.wraps(handler)
    async def run(self: W, command: Any, ctx: Any) -> CommandReply:
        async with self.writing():
            return await handler(self, command, ctx)

    return run
