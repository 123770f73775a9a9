"""The intake thread: feed bodies are parsed, judged and stored here, off the event loop.

``botsvc run`` answers ``/healthz`` and Slack's ``/news`` on the same asyncio loop that
polls. Judging a big feed (thousands of relevant items, each fingerprinted, placed and
stored) takes tens of seconds of CPU; on the loop that would stall every answer, so
that work runs in one worker thread instead.

* The thread has its own SQLite connection (a connection belongs to the thread that
  opened it) and takes over the app's :class:`~botsvc.store.events.EventBook` and judging;
  nothing else touches them. The loop keeps ``app.store`` for reads, delivery and
  commands; WAL lets it read while this thread writes.
* ``turn`` (a :class:`~botsvc.store.turn.WriteTurn`) keeps the one-writer rule inside the
  process: a feed's transaction here, queueing digests, sending (the outbox) and commands
  that write on the loop each hold it while they write, so no write ever waits on
  SQLite's lock with the loop blocked. Both connections refuse writes made without it
  (this thread's: unless the turn is held, for whoever submitted the job; the loop's:
  unless the running task holds it), so a writer that forgets fails at once.
* While the thread runs a job, Python's cyclic garbage collector waits. A big feed keeps
  about a million objects alive for a while, and each full collection (several, as the
  heap grows) stops every thread, the loop too, for 100-300 ms. Reference counting still
  frees everything but reference cycles, which are collected once the job is done.
* The thread is a daemon: a stop never waits for a half-judged feed. Its connection has a
  progress handler, so a stop can fail the thread's next SQL statement and the open
  transaction rolls back; if the process exits first, SQLite rolls it back at the next
  open, as after a crash.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from botsvc.store.connection import in_transaction, interrupt_when
from botsvc.store.pipeline import Processor
from botsvc.store.store import Store, open_store
from botsvc.store.turn import WriteTurn

if TYPE_CHECKING:
    from botsvc.service.app import App

log = logging.getLogger(__name__)

T = TypeVar("T")

CLOSE_WAIT = 3.0
"""Seconds a stop waits for the thread's open transaction to roll back."""
PROGRESS_STEPS = 1000
"""SQLite VM steps between two looks at a stop request (a few per item judged)."""


class WorkerThread(Executor):
    """One daemon thread that runs submitted calls one at a time, in order."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[tuple[Future, Callable[..., Any], tuple, dict] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._shutdown = False
        self._thread.start()

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        if self._shutdown:
            raise RuntimeError("the worker thread is shut down")
        future: Future[T] = Future()
        self._jobs.put((future, fn, args, kwargs))
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._shutdown = True
        self._jobs.put(None)
        if wait:
            self._thread.join()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            future, fn, args, kwargs = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                with _collector_paused():
                    result = fn(*args, **kwargs)
            except BaseException as exc:  # handed to the waiting coroutine
                future.set_exception(exc)
            else:
                future.set_result(result)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection (process-wide) while the block runs; see the module docstring."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class Intake:
    """The worker thread with its own store and processor, and the process's write turn."""

    def __init__(
        self, thread: WorkerThread, store: Store, processor: Processor, stop: threading.Event, turn: WriteTurn
    ) -> None:
        self.thread = thread
        self.store = store
        """This thread's connection: use it only through :meth:`run` or :meth:`write`."""
        self.processor = processor
        self.turn = turn
        """Held by whoever writes to the database, in this thread or on the loop."""
        self._loop_store: Store | None = None
        self._stop = stop
        self._closed = False

    @classmethod
    async def open(cls, app: App, location: str | None = None) -> Intake:
        """Start the thread, open its connection and hand it the app's judging.

        ``location``: the database to connect to when ``app.store.path`` cannot say it in
        full (a PostgreSQL URL's password is not kept there). From then on, ``app.store``
        (the loop's connection) refuses writes made by a task that does not hold the turn.
        """
        thread = WorkerThread("botsvc-intake")
        stop = threading.Event()
        turn = WriteTurn()

        def stop_requested() -> int:
            """SQLite's progress handler: non-zero fails the running statement, once per request."""
            if stop.is_set():
                stop.clear()
                return 1
            return 0

        def take_over() -> tuple[Store, Processor]:
            store = open_store(location or app.store.path, migrate=False)
            interrupt_when(store, stop_requested, PROGRESS_STEPS)
            events = app.events
            events.store = store  # the EventBook reads its store only to (re)load its index
            processor = Processor(store, app.processor.relevance, events, clock=app.processor.clock)
            # The event index is read now, before anyone writes (it may first make the
            # fingerprints of articles stored without one), never inside a write turn.
            processor.prepare()
            store.refuse_writes_unless(turn.locked)
            return store, processor

        try:
            store, processor = await asyncio.wrap_future(thread.submit(take_over))
        except BaseException:
            thread.shutdown(wait=False)
            raise
        intake = cls(thread, store, processor, stop, turn)
        intake._guard(app.store)
        return intake

    def _guard(self, store: Store) -> None:
        """Make the loop's ``store`` refuse writes by any task that does not hold the turn."""
        store.refuse_writes_unless(self.turn.held_here)
        self.turn.on_change.append(store.recheck_writes)
        self._loop_store = store

    def _checked(self, fn: Callable[..., T], args: tuple, kwargs: dict[str, Any]) -> T:
        """In the thread: statements prepared in an earlier turn are checked again, then ``fn``."""
        self.store.recheck_writes()
        return fn(*args, **kwargs)

    async def run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` in the thread; the caller holds :attr:`turn` if it writes."""
        return await asyncio.wrap_future(self.thread.submit(self._checked, fn, args, kwargs))

    async def write(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """``fn`` in the thread, holding :attr:`turn` until it has finished.

        Only a stop cancels a caller; then the thread's open transaction is interrupted,
        so it rolls back before the turn passes to anyone else.
        """
        async with self.turn:
            future = self.thread.submit(self._checked, fn, args, kwargs)
            try:
                return await asyncio.wrap_future(future)
            except asyncio.CancelledError:
                await self._roll_back(future)
                raise

    async def _roll_back(self, future: Future) -> None:
        """Fail the thread's SQL while a transaction is open and ``future`` is not done.

        The request is taken up by the next statement (judging runs a few per item), which
        fails, so the transaction rolls back. Work outside a transaction (parsing) is not
        waited for: nothing of it would be stored. At most ``CLOSE_WAIT`` seconds.
        """
        deadline = time.monotonic() + CLOSE_WAIT
        try:
            while not future.done() and time.monotonic() < deadline:
                if not in_transaction(self.store):
                    await asyncio.sleep(0)  # the job may be about to finish: let it
                    if not in_transaction(self.store):
                        return
                self._stop.set()
                await asyncio.sleep(0.01)
        finally:
            self._stop.clear()

    async def close(self) -> None:
        """Roll back the thread's open transaction, if any, and close its connection.

        The connection is closed in the thread after the job it is running; a job still
        running without a transaction (a parse) is left to end with the process.
        """
        if self._closed:
            return
        self._closed = True
        if self._loop_store is not None:
            self.turn.on_change.remove(self._loop_store.recheck_writes)
            self._loop_store.allow_writes()
        earlier = self.thread.submit(_nothing)  # done once every job before it is
        await self._roll_back(earlier)
        closing = self.thread.submit(self.store.close)
        self.thread.shutdown(wait=False)
        try:
            await asyncio.wait_for(asyncio.wrap_future(closing), timeout=0.5)
        except TimeoutError:
            log.info("the intake thread is still busy; nothing it has not committed is kept")


def _nothing() -> None:
    return None
