"""The replay memory of signed chat requests, kept in the database for every web process.

A process alone remembers the requests it admitted in memory; behind a load balancer a
captured request sent to another process would be admitted there. :class:`StoredReplays`
keeps them in the database instead (:mod:`botsvc.store.replays`), each write in the
process's write turn, so the event loop never waits on the database lock.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from botsvc.store import replays
from botsvc.store.store import Store
from botsvc.store.turn import WriteTurn


class StoredReplays:
    """``await memory(signature, expires)``: True the first time a signed request is seen, in any process."""

    def __init__(self, store: Store, turn: WriteTurn, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.turn = turn
        self.clock = clock

    async def __call__(self, signature: str, expires: int) -> bool:
        async with self.turn:
            with self.store.atomic():
                return replays.first_time(self.store, signature, int(expires), int(self.clock()))
