"""The process's one write path: an asyncio lock that knows who holds it.

``botsvc run`` writes from two connections (the intake thread's and the event loop's).
SQLite lets one of them write at a time, and a connection that finds the lock taken
waits, blocking its thread: on the loop that would stall ``/healthz`` and every chat
answer. So every writer in the process first takes the :class:`WriteTurn`, which only
ever waits on the loop without blocking it, and the stores refuse writes made without
it (:meth:`botsvc.store.store.Store.refuse_writes_unless`): a writer that forgets to take
its turn fails at once with :class:`WriteOutsideTurn` instead of freezing the bot.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import TracebackType


class WriteTurn:
    """``async with turn:`` to write; whoever holds it is known (:meth:`held_here`)."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._holder: asyncio.Task | None = None
        self.on_change: list[Callable[[], None]] = []
        """Called on the loop each time the turn is taken or given back (stores re-check their statements)."""

    def locked(self) -> bool:
        """Whether someone holds the turn (a thread working for the holder may write)."""
        return self._lock.locked()

    def held_here(self) -> bool:
        """Whether the running task holds the turn (False outside a running loop)."""
        try:
            task = asyncio.current_task()
        except RuntimeError:
            return False
        return task is not None and task is self._holder

    async def __aenter__(self) -> WriteTurn:
        await self._lock.acquire()
        self._holder = asyncio.current_task()
        self._changed()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._holder = None
        self._changed()
        self._lock.release()

    def _changed(self) -> None:
        for hook in self.on_change:
            hook()
