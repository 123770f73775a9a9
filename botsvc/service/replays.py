"""The replay memory of signed chat requests, kept in the database for every web process.

A process alone remembers the requests it admitted in memory; behind a load balancer a
captured request sent to another process would be admitted there, and a restarted process
would have forgotten it. :class:`StoredReplays` keeps them in the database as well
(:mod:`botsvc.store.replays`).

A chat platform wants its answer within seconds, and the database's one writer may be a
big poll being judged (and a write on the event loop could run a checkpoint of its log
there). So a request is answered at once from what is stored (a read never waits for the
writer) and recorded afterwards by the intake thread, in the write turn, as soon as it is
free: milliseconds when no poll is being judged, else after the poll's current
transaction. A replay sent to another process within that moment is refused only by the
process's own memory.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from botsvc.service.intake import Intake
from botsvc.service.logs import RateLimitedLog
from botsvc.store import replays
from botsvc.store.store import Store

log = logging.getLogger(__name__)


class StoredReplays:
    """``await memory(signature, expires)``: False for a request stored as admitted by any process."""

    def __init__(self, store: Store, intake: Intake, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        """The loop's connection (only read)."""
        self.intake = intake
        self.clock = clock
        self._pending: set[asyncio.Future[bool]] = set()
        self._failures = RateLimitedLog(log, 60.0)

    async def __call__(self, signature: str, expires: int) -> bool:
        if replays.remembered(self.store, signature, int(self.clock())):
            return False
        recording = asyncio.ensure_future(self.intake.write(self._record, signature, int(expires)))
        self._pending.add(recording)
        recording.add_done_callback(self._recorded)
        return True

    def _record(self, signature: str, expires: int) -> bool:
        """In the intake thread, holding the turn."""
        store = self.intake.store
        with store.atomic():
            return replays.first_time(store, signature, expires, int(self.clock()))

    def _recorded(self, recording: asyncio.Future[bool]) -> None:
        self._pending.discard(recording)
        if not recording.cancelled() and recording.exception() is not None:
            # The answer was given; only a later replay's refusal in another process is at stake.
            self._failures.log("remembering a signed request failed (%s)", type(recording.exception()).__name__)

    async def settle(self) -> None:
        """Wait until every admitted request is recorded (at shutdown, and in tests)."""
        if self._pending:
            await asyncio.wait(set(self._pending))
