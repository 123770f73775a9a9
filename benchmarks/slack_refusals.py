"""What unauthenticated requests to Slack's request URL cost: log bytes and time.

    .venv/bin/python benchmarks/slack_refusals.py [--requests 500] [--size 1048576]

Starts the real Slack adapter's ``POST /slack/events`` on the bot's own HTTP server
(``botsvc.service.web``) at 127.0.0.1, logging as ``botsvc run`` does (text format, INFO) to a
temporary file, and sends ``--requests`` unsigned requests of ``--size`` bytes each
(a form body with a newline in it), one after another on fresh connections.

Printed: requests sent, the statuses answered, log bytes and log lines written,
seconds taken, and the CPU seconds of this process (client and server share it).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.slack import SlackAdapter  # noqa: E402
from botsvc.models import CommandReply  # noqa: E402
from botsvc.service import logs  # noqa: E402
from botsvc.service.web import start_web  # noqa: E402

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


async def never_called(text: str, context: object) -> CommandReply:
    raise AssertionError("an unsigned request reached the command handler")


async def run(requests: int, size: int, log_path: Path) -> tuple[collections.Counter[int], float]:
    # Nothing signed gets through, so no Web API call is made; the URL is loopback anyway.
    adapter = SlackAdapter("xoxb-bench", base_url="http://127.0.0.1:9/api/", signing_secret="bench-secret")
    adapter.attach_commands(never_called)
    await adapter.start()
    runner = await start_web(adapter.http_routes(), host="127.0.0.1", port=0)
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/slack/events"
    body = b"text=line one\n2026-01-01 00:00:00 INFO botsvc: forged&pad=" + b"x" * size
    body = body[:size]
    statuses: collections.Counter[int] = collections.Counter()
    started = time.monotonic()
    try:
        for _ in range(requests):
            async with aiohttp.ClientSession() as session:
                try:
                    async with session.post(
                        url,
                        data=body,
                        headers={
                            "Content-Type": "application/x-www-form-urlencoded",
                            "X-Slack-Request-Timestamp": str(int(time.time())),
                            "X-Slack-Signature": "v0=" + "0" * 64,
                        },
                    ) as response:
                        await response.read()
                        statuses[response.status] += 1
                except aiohttp.ClientError:
                    statuses[0] += 1  # the server closed the connection before reading everything
    finally:
        elapsed = time.monotonic() - started
        await runner.cleanup()
        await adapter.stop()
    return statuses, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--size", type=int, default=1024 * 1024)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        log_path = Path(tmp) / "botsvc.log"
        with log_path.open("w", encoding="utf-8") as stream:
            logs.setup(logging.INFO, "text", TEXT_FORMAT, stream)
            cpu = time.process_time()
            statuses, elapsed = asyncio.run(run(args.requests, args.size, log_path))
            cpu = time.process_time() - cpu
            logging.shutdown()
        written = log_path.read_bytes()
    print(f"requests: {args.requests} x {args.size} bytes")
    print("statuses: " + ", ".join(f"{status}={count}" for status, count in sorted(statuses.items())))
    print(f"log bytes: {len(written)}")
    print(f"log lines: {len(written.splitlines())}")
    print(f"seconds: {elapsed:.2f}")
    print(f"cpu seconds: {cpu:.2f}")


if __name__ == "__main__":
    os.environ.pop("SLACK_SIGNING_SECRET", None)
    main()
