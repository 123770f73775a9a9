"""Fetched bodies handed to the parse workers a few at a time, not one task per feed.

A task sent to a process pool costs the main process a future, two pickles and a pass
through the pool's manager thread, and each worker waits for that thread between two
tasks. With one task per feed those costs were paid a thousand times in a cold cycle of
a thousand feeds, on the cores the parses needed: measured on two cores, fetching and
parsing 1,000 loopback feeds took about twice as long as with a few feeds per task.

A :class:`HandOff` keeps every worker busy and a task waiting for each: while that many
tasks are out, the bodies fetched meanwhile wait and go together as the next task (at
most ``most``) as soon as one comes back. When parsing keeps up with fetching, each body
still goes alone, at once; when it does not, the tasks grow and their overhead shrinks.
Each body's parse is still awaited on its own (:meth:`HandOff.submit` returns a future).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Any, Generic, TypeVar

__all__ = ["HandOff", "run_each"]

Job = TypeVar("Job", bound=tuple)
Result = TypeVar("Result")


def run_each(work: Callable[..., Result], jobs: Sequence[tuple]) -> list[Result]:
    """In the executor: ``work(*job)`` for each job, in order (one task, many jobs)."""
    return [work(*job) for job in jobs]


class HandOff(Generic[Result]):
    """Runs ``work(*job)`` in ``executor`` for each submitted job, several jobs per task."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        executor: Executor,
        work: Callable[..., Result],
        *,
        workers: int = 1,
        most: int = 1,
    ) -> None:
        """``workers``: how many tasks ``executor`` runs at once; ``most``: jobs per task at most (1: one each)."""
        self._loop = loop
        self._executor = executor
        self._work = work
        self._slots = max(1, 2 * workers)  # one running and one waiting per worker
        self._most = max(1, most)
        self._queued: list[tuple[tuple, asyncio.Future[Result]]] = []
        self._out: set[asyncio.Future[list[Result]]] = set()

    def submit(self, *job: Any) -> asyncio.Future[Result]:
        """A future of ``work(*job)``; the job goes now if a task slot is free, else with the next task."""
        future: asyncio.Future[Result] = self._loop.create_future()
        self._queued.append((job, future))
        if len(self._out) < self._slots:
            self._send()
        return future

    def _send(self) -> None:
        taken, self._queued = self._queued[: self._most], self._queued[self._most :]
        taken = [(job, future) for job, future in taken if not future.cancelled()]
        if not taken:
            return
        task = self._loop.run_in_executor(self._executor, run_each, self._work, [job for job, _ in taken])
        self._out.add(task)
        task.add_done_callback(lambda done: self._returned(done, [future for _, future in taken]))

    def _returned(self, task: asyncio.Future[list[Result]], futures: list[asyncio.Future[Result]]) -> None:
        self._out.discard(task)
        error = None if task.cancelled() else task.exception()
        if task.cancelled():
            for future in futures:
                future.cancel()
        elif error is not None:
            for future in futures:
                if not future.done():
                    future.set_exception(error)
        else:
            for future, result in zip(futures, task.result(), strict=True):
                if not future.done():
                    future.set_result(result)
        while self._queued and len(self._out) < self._slots:
            self._send()

    def cancel(self) -> None:
        """Cancel the jobs not sent and the tasks not started (a cycle stopped early)."""
        for _, future in self._queued:
            future.cancel()
        self._queued = []
        for task in list(self._out):
            task.cancel()
