"""A job-queue worker process for tests: ``python tests/queueproc.py CONFIG DB QUEUE_URL [options]``.

Runs :func:`botsvc.service.queueworker.work` (what ``botsvc worker`` runs) with the
store in the SQLite file ``DB`` and the queue in the PostgreSQL database ``QUEUE_URL``,
so the queue's behaviour (locks, heartbeats, stalled jobs) is tested through real
processes and a real server. Adapters come from the environment (a Slack mock's URL).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from botsvc.deliver.platforms import available_adapters
from botsvc.service.app import open_app
from botsvc.service.jobs import QueueSettings
from botsvc.service.queueworker import work


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("config")
    parser.add_argument("db")
    parser.add_argument("url")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--tick", type=int, default=1)
    parser.add_argument("--stalled-after", type=float, default=3.0)
    parser.add_argument("--name", default="worker")
    args = parser.parse_args()
    shape = f"{args.name} %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format=shape)
    app = open_app(args.config, args.db)
    try:
        settings = QueueSettings(args.url, tick=args.tick, stalled_after=args.stalled_after)
        asyncio.run(work(app, available_adapters(), settings, concurrency=args.concurrency, name=args.name))
    finally:
        app.close()


if __name__ == "__main__":
    main()
