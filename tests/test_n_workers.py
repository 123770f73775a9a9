"""Four ``botsvc worker`` processes on one PostgreSQL database, one of them SIGKILLed ten times.

The whole scaled-out bot through a real server: loopback feeds whose items change at every
cycle, rewrites of one story (English, Korean, Japanese; real reports from
tests/fixtures/dev-real) appearing in different feeds at the same moment, two Slack
workspaces (tenants) each with its own chat-added feed and two subscribed channels, and a
Slack Web API mock. A cycle is started by making every feed due (its last poll forgotten),
as the passing of its interval would. Afterwards nothing is stored twice or lost, each story
is one event told once to each channel that may see it, and no job is left running.

``FEEDS`` is the issue's 200: the whole test takes about 33 s on a shared 2-core machine.
The kill schedule comes from ``SEED`` and is in every failure's message.
"""

from __future__ import annotations

import asyncio
import html
import json
import random
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pytest
from feedserver import FeedRequestHandler, FeedServer
from processes import wait_for
from slackmock import SlackMock
from test_queue import EXAMPLES, examples_copy, process_env, stop

from botsvc.deliver.platforms import available_adapters
from botsvc.deliver.subscriptions import parse_mode, subscribe
from botsvc.service.app import open_app
from botsvc.service.intake import Intake
from botsvc.service.jobs import POLL_TASK, QueueSettings, SendInTransaction, build_queue
from botsvc.service.queueworker import QueueWorker
from botsvc.store.feedlist import add_feed
from botsvc.store.merges import current_event
from botsvc.store.pollqueue import claimed_polls
from botsvc.store.queue_schema import ensure_queue_schema
from botsvc.store.seed import SEED_FEED
from botsvc.store.tenants import own_feed, tenant_key

LABELLED = Path(__file__).resolve().parent / "fixtures" / "dev-real"
FEEDS = 200
WORKERS = 4
KILLS = 10
SEED = 23
TOPIC = "japan-korea"
SHARED_STORY = "forced-labor-fund-2023-03"  # four reports: English twice, Korean, Japanese
TENANT_STORIES = {"TNEWSA": "dokdo-drills-2019-08", "TNEWSB": "radar-lockon-2018-12"}
CHANNELS = {"TNEWSA": ("CA1", "CA2"), "TNEWSB": ("CB1", "CB2")}
STORY_CYCLE, TENANT_CYCLE, LAST_CYCLE = 1, 2, 3
STALLED_AFTER = 8
"""Seconds without a heartbeat before a job counts as left by a dead worker (heartbeats every third of it).

Three was too few on a loaded 2-core machine: a live worker's heartbeat came late, and its
running job was queued again and ran twice (procrastinate then fails to finish it the second time)."""


@dataclass(frozen=True)
class Report:
    guid: str
    title: str
    xml: str


def reports(event: str) -> list[Report]:
    """The labelled reports of ``event``, each as its ``<item>`` element from its feed file."""
    labels = json.loads((LABELLED / "labels.json").read_text(encoding="utf-8"))["items"]
    found = []
    for label in labels:
        if label.get("event") != event:
            continue
        text = (LABELLED / "feeds" / label["feed"]).read_text(encoding="utf-8")
        for item in re.findall(r"<item>.*?</item>", text, re.S):
            if re.search(rf"<guid[^>]*>{re.escape(label['guid'])}</guid>", item):
                title = re.search(r"<title>(.*?)</title>", item, re.S).group(1)  # type: ignore[union-attr]
                found.append(Report(label["guid"], title, item))
    return found


def filler(feed: int, cycle: int) -> str:
    """An item of no interest to the topic, new at each cycle (the feed's content changes)."""
    guid = f"https://feed{feed}.example/notes/{cycle}"
    return (
        f"<item><title>Feed {feed} weather note {cycle}: mild weekend ahead for gardeners</title>"
        f"<link>{guid}</link><guid>{guid}</guid><pubDate>Mon, 06 Mar 2023 0{cycle}:00:00 +0000</pubDate>"
        "<description>Light rain is expected on Saturday; tomatoes and beans may be planted.</description></item>"
    )


HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">'
    "<channel><title>Wire {n}</title><link>https://feed{n}.example/</link><description>news</description>"
)


@dataclass
class World:
    """What each feed serves at each cycle (what it served before, plus what is new)."""

    cycle: int = 0
    carries: dict[str, tuple[int, Report]] = field(default_factory=dict)  # path -> (from cycle, report)
    served: dict[str, int] = field(default_factory=dict)  # path -> latest cycle served

    def body(self, path: str, n: int) -> bytes:
        cycle = self.cycle
        items = [filler(n, c) for c in range(cycle, -1, -1)]
        start, report = self.carries.get(path, (99, None))
        if report is not None and cycle >= start:
            items.insert(0, report.xml)
        self.served[path] = max(self.served.get(path, -1), cycle)
        return (HEAD.format(n=n) + "".join(items) + "</channel></rss>").encode()


def said(call, title: str) -> bool:
    """Whether a posted message names a report by its headline."""
    return html.unescape(title) in html.unescape(json.dumps(call.body, ensure_ascii=False))


def feed_config(directory: Path, feeds: list[tuple[str, str]]) -> Path:
    """The sample configuration (its topic; the channel's language left to detection), these feeds."""
    text = (EXAMPLES / "feeds.toml").read_text(encoding="utf-8")
    text = re.sub(r'\[\[feeds\]\]\nname = "[^"]*"\nurl = "[^"]*"\n+', "", text)
    text = text.replace('language = "en"\n', "", 1)
    text += "".join(f'\n[[feeds]]\nname = "{name}"\nurl = "{url}"\ninterval = "1h"\n' for name, url in feeds)
    text += f"\n[chat]\nslack_workspaces = {json.dumps(sorted(CHANNELS))}\n"
    config = directory / "feeds.toml"
    config.write_text(text, encoding="utf-8")
    return config


def test_four_workers_killed_ten_times_store_each_item_once_and_tell_each_story_once(tmp_path, postgres_url):
    rng = random.Random(SEED)
    world = World()
    shared = reports(SHARED_STORY)
    tenant_reports = {tenant: reports(event)[0] for tenant, event in TENANT_STORIES.items()}
    assert len(shared) == 4 and all(tenant_reports.values())
    kills = sorted((round(rng.uniform(2.0, 24.0), 1), rng.randrange(WORKERS)) for _ in range(KILLS))
    schedule = f"seed {SEED}, kills (seconds after start, worker): {kills}"

    def handler(path: str, n: int):
        def handle(h: FeedRequestHandler) -> None:
            h.send(200, world.body(path, n), content_type="application/rss+xml")

        return handle

    with FeedServer() as server, SlackMock() as slack:
        paths = [f"/feed/{n}.xml" for n in range(FEEDS + 2)]
        urls = [server.route(path, handler(path, n)) for n, path in enumerate(paths)]
        names = [f"Wire {n:03d}" for n in range(FEEDS)]
        for n, report in zip(rng.sample(range(FEEDS), len(shared)), shared, strict=True):
            world.carries[paths[n]] = (STORY_CYCLE, report)  # one story, four feeds, one moment
        config = feed_config(tmp_path, list(zip(names, urls[:FEEDS], strict=True)))
        own = {tenant: (f"Desk of {tenant}", paths[FEEDS + i], urls[FEEDS + i]) for i, tenant in enumerate(CHANNELS)}

        setup = open_app(config, postgres_url)  # migrated and seeded before the workers start
        now = datetime.now(timezone.utc)
        subscriptions: dict[int, tuple[str, str]] = {}
        with setup.store.atomic():
            for tenant, (name, path, url) in own.items():
                add_feed(setup.store, name, url, added_by=f"slack:U{tenant}")
                own_feed(setup.store, name, tenant_key("slack", tenant), now)
                world.carries[path] = (TENANT_CYCLE, tenant_reports[tenant])
        for tenant, channels in CHANNELS.items():
            for channel in channels:
                made, _ = subscribe(
                    setup.store,
                    platform="slack",
                    channel=channel,
                    topic=TOPIC,
                    mode=parse_mode("realtime"),
                    workspace=tenant,
                    origin="slack",
                    now=now,
                )
                subscriptions[made.id] = (tenant, channel)
        store = setup.store
        env = process_env(
            BOTSVC_DATABASE_URL=postgres_url,
            SLACK_BOT_TOKEN="xoxb-test",
            BOTSVC_SLACK_API_URL=slack.base_url,
            BOTSVC_ALLOW_PRIVATE_FEEDS="1",
        )
        env.pop("BOTSVC_DB", None)
        argv = [sys.executable, "-m", "botsvc", "worker", "--config", str(config), "--tick", "1"]
        argv += ["--stalled-after", str(STALLED_AFTER), "--concurrency", "2"]
        logs = [tmp_path / f"w{i}.log" for i in range(WORKERS)]

        since = [0] * WORKERS  # where each worker's latest start begins in its log

        def start(i: int) -> subprocess.Popen:
            since[i] = logs[i].stat().st_size if logs[i].exists() else 0
            return subprocess.Popen(argv, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=logs[i].open("a"))

        def text() -> str:
            return "".join(log.read_text() for log in logs)

        workers = [start(i) for i in range(WORKERS)]
        begun = time.monotonic()
        pending = list(kills)
        last_kill = [begun]

        def kill_due() -> None:
            while pending and time.monotonic() - begun >= pending[0][0]:
                _, i = pending.pop(0)
                workers[i].send_signal(signal.SIGKILL)
                workers[i].wait(timeout=10)
                last_kill[0] = time.monotonic()
                workers[i] = start(i)

        nudged = [time.monotonic()]

        def every_feed_polled_at(cycle: int) -> bool:
            kill_due()
            behind = [path for path in paths if world.served.get(path, -1) < cycle]
            if behind and time.monotonic() - nudged[0] > 2:
                nudge(cycle)  # a poll running when the cycle began may have recorded its end since
            return not behind

        def nudge(cycle: int) -> None:
            """Make the feeds not yet asked for this cycle's content due, as their interval passing would."""
            nudged[0] = time.monotonic()
            behind = [
                name
                for name, path in zip([*names, *(o[0] for o in own.values())], paths, strict=True)
                if world.served.get(path, -1) < cycle
            ]
            with store.atomic():
                store.db.execute(
                    f"UPDATE feeds SET last_polled_at = NULL WHERE name IN ({','.join('?' * len(behind))})", behind
                )

        try:
            for cycle in range(LAST_CYCLE + 1):
                world.cycle = cycle
                if cycle:
                    nudge(cycle)
                nudged[0] = time.monotonic()
                assert wait_for(lambda c=cycle: every_feed_polled_at(c), timeout=90), (schedule, cycle, text())
            assert wait_for(lambda: (kill_due(), not pending)[1], timeout=60), schedule

            def settled() -> bool:
                # A job a killed worker was running (a periodic one too: the last kills come at the
                # end) is "orphaned" until retry_stalled_jobs queues it again and a live worker runs it;
                # it only counts as left once its worker's heartbeat is STALLED_AFTER old.
                if time.monotonic() - last_kill[0] < STALLED_AFTER + 2:
                    return False
                rows = store.query(
                    "SELECT (SELECT count(*) FROM feeds WHERE poll_queued_at IS NOT NULL) AS claimed, "
                    "(SELECT count(*) FROM outbox WHERE status <> 'delivered') AS unsent, "
                    "(SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing') "
                    "AND task_name NOT IN ('botsvc.enqueue_due_feeds', 'botsvc.retry_stalled_jobs', "
                    "'botsvc.send_digests', 'botsvc.prune')) AS busy, "
                    "(SELECT count(*) FROM procrastinate_jobs j LEFT JOIN procrastinate_workers w "
                    "ON w.id = j.worker_id WHERE j.status = 'doing' "
                    f"AND (w.id IS NULL OR w.last_heartbeat < now() - interval '{STALLED_AFTER} seconds')) AS orphaned"
                )
                return rows[0] == {"claimed": 0, "unsent": 0, "busy": 0, "orphaned": 0}

            assert wait_for(settled, timeout=60), (schedule, text())
            # Every worker (restarted ones too) up before the clean stop: a process still starting would die of it.
            up = lambda: all(b"worker started" in logs[i].read_bytes()[since[i] :] for i in range(WORKERS))  # noqa: E731
            assert wait_for(up, timeout=60), (schedule, text())
            elapsed = time.monotonic() - begun
        finally:
            codes = [stop(worker) for worker in workers]
        jobs = store.query("SELECT task_name, status FROM procrastinate_jobs WHERE status IN ('doing', 'failed')")
        articles = store.query("SELECT guid, event_id FROM articles WHERE feed <> ?", (SEED_FEED,))
        told = [
            (row["subscription_id"], current_event(store, row["event_id"]))
            for row in store.query("SELECT subscription_id, event_id FROM deliveries")
        ]
        outbox = store.query("SELECT channel, status FROM outbox")
        events = {
            tenant: {current_event(store, row["event_id"]) for row in articles if row["guid"] == report.guid}
            for tenant, report in tenant_reports.items()
        }
        story = {current_event(store, row["event_id"]) for row in articles if row["guid"] in {r.guid for r in shared}}
        setup.close()
        posts = [call for call in slack.calls if call.path.endswith("chat.postMessage")]

    log = text()
    print(f"n-worker run: {elapsed:.1f} s; {schedule}")
    assert codes == [0] * WORKERS, (schedule, log)
    assert "Traceback" not in log and "Unclosed" not in log, (schedule, log)
    assert log.count("was left running by a worker that stopped; queued again") >= 1, schedule
    assert jobs == [], schedule  # none left running (stalled) or failed

    # Every relevant item stored once; the filler (irrelevant) never.
    guids = [row["guid"] for row in articles]
    expected = sorted([r.guid for r in shared] + [r.guid for r in tenant_reports.values()])
    assert sorted(guids) == expected, schedule

    # Each story one event; each event told once to each channel that may see it, and to no other.
    assert len(story) == 1 and all(len(found) == 1 for found in events.values()), (schedule, story, events)
    [story_event] = story
    owed = {(sid, story_event) for sid in subscriptions}
    owed |= {(sid, next(iter(events[tenant]))) for sid, (tenant, _) in subscriptions.items()}
    assert sorted(told) == sorted(owed), (schedule, told, owed)

    # Nothing posted twice, nothing lost, nothing in the other tenant's channels.
    assert len(posts) == len(outbox) and all(row["status"] == "delivered" for row in outbox), schedule
    bodies = [json.dumps(call.body, sort_keys=True, ensure_ascii=False) for call in posts]
    assert len(set(bodies)) == len(bodies), schedule
    for tenant, channels in CHANNELS.items():
        for other, report in tenant_reports.items():
            seen = [call for call in posts if call.body["channel"] in channels and said(call, report.title)]
            assert bool(seen) == (other == tenant), (schedule, tenant, other)
    assert {call.body["channel"] for call in posts} == {c for cs in CHANNELS.values() for c in cs}


def test_a_feeds_claim_and_its_poll_job_commit_together(tmp_path, postgres_url, monkeypatch):
    """An enqueuer stopped between claiming feeds and queueing their polls (killed, or the
    queue refusing a job) leaves no claim without its job: such a feed would wait minutes."""
    assert ensure_queue_schema(postgres_url)
    app = open_app(examples_copy(tmp_path), postgres_url)
    settings = QueueSettings(postgres_url, tick=1)
    together = SendInTransaction(postgres_url)
    deferred = together.defer_poll
    calls: list[str] = []

    def fails_at_the_third(conn, feed: str) -> None:
        calls.append(feed)
        if len(calls) == 3:
            raise RuntimeError("the process stops here")
        deferred(conn, feed)

    async def go() -> tuple[list[str], list[str], list[str], list[str], list[str]]:
        queue = build_queue(settings)
        await queue.open_async()
        intake = await Intake.open(app, postgres_url)
        try:
            worker = QueueWorker(app, available_adapters(), queue, settings, intake)
            worker.polls_in_transaction = together
            monkeypatch.setattr(together, "defer_poll", fails_at_the_third)
            with pytest.raises(RuntimeError):
                await worker.enqueue_due()
            stopped = [str(job.task_kwargs["feed"]) for job in await queue.job_manager.list_jobs_async(task=POLL_TASK)]
            held = claimed_polls(app.store)
            monkeypatch.setattr(together, "defer_poll", deferred)
            claimed = await worker.enqueue_due()
            jobs = [str(job.task_kwargs["feed"]) for job in await queue.job_manager.list_jobs_async(task=POLL_TASK)]
            return stopped, held, claimed, jobs, claimed_polls(app.store)
        finally:
            await intake.close()
            await queue.close_async()

    try:
        stopped, held, claimed, jobs, claims = asyncio.run(go())
    finally:
        app.close()
    assert (stopped, held) == ([], [])  # neither the claims nor the two jobs queued before the stop
    assert len(claimed) == 5 and sorted(jobs) == sorted(claimed) == claims  # every claim has its job
