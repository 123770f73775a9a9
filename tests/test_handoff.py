"""HandOff: jobs for the parse workers go a few per task while the workers are busy, each with its own result."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from botsvc.service import handoff as handoff_module
from botsvc.service.handoff import HandOff


def _tasks_seen(monkeypatch) -> list[int]:
    """Record the number of jobs of every task sent to the executor."""
    sizes: list[int] = []
    run_each = handoff_module.run_each

    def counting(work, jobs):
        sizes.append(len(jobs))
        return run_each(work, jobs)

    monkeypatch.setattr(handoff_module, "run_each", counting)
    return sizes


def test_jobs_fetched_while_the_workers_are_busy_go_together(monkeypatch):
    sizes = _tasks_seen(monkeypatch)
    gate = threading.Event()

    def work(n: int) -> int:
        gate.wait(5)
        return n * n

    async def run() -> list[int]:
        with ThreadPoolExecutor(max_workers=1) as executor:
            handoff = HandOff(asyncio.get_running_loop(), executor, work, workers=1, most=4)
            futures = [handoff.submit(n) for n in range(10)]
            await asyncio.sleep(0.05)
            gate.set()
            return list(await asyncio.gather(*futures))

    assert asyncio.run(run()) == [n * n for n in range(10)]
    # Two tasks out at once (one running, one waiting); the other eight jobs waited and went four at a time.
    assert sizes == [1, 1, 4, 4]


def test_one_job_each_when_asked(monkeypatch):
    sizes = _tasks_seen(monkeypatch)

    async def run() -> list[str]:
        with ThreadPoolExecutor(max_workers=1) as executor:
            handoff = HandOff(asyncio.get_running_loop(), executor, str.upper, workers=1, most=1)
            return list(await asyncio.gather(*(handoff.submit(word) for word in ("a", "b", "c", "d"))))

    assert asyncio.run(run()) == ["A", "B", "C", "D"]
    assert sizes == [1, 1, 1, 1]


def test_a_failed_task_fails_each_of_its_jobs_and_not_the_others():
    def work(n: int) -> int:
        if n == 3:
            raise ValueError("bad job")
        return n

    async def run() -> list[object]:
        with ThreadPoolExecutor(max_workers=1) as executor:
            handoff = HandOff(asyncio.get_running_loop(), executor, work, workers=1, most=1)
            return list(await asyncio.gather(*(handoff.submit(n) for n in range(5)), return_exceptions=True))

    found = asyncio.run(run())
    assert found[:3] == [0, 1, 2] and found[4] == 4
    assert isinstance(found[3], ValueError)


def test_cancel_drops_the_jobs_not_sent():
    gate = threading.Event()
    done: list[int] = []

    def work(n: int) -> int:
        gate.wait(5)
        done.append(n)
        return n

    async def run() -> list[asyncio.Future]:
        with ThreadPoolExecutor(max_workers=1) as executor:
            handoff = HandOff(asyncio.get_running_loop(), executor, work, workers=1, most=8)
            futures = [handoff.submit(n) for n in range(6)]
            handoff.cancel()
            gate.set()
            await asyncio.sleep(0.05)
            return futures

    futures = asyncio.run(run())
    assert all(future.cancelled() for future in futures[2:])
    assert 2 not in done and 5 not in done
    with pytest.raises(asyncio.CancelledError):
        futures[5].result()
