"""The job queue (Procrastinate on a real PostgreSQL server): polls, sends, locks, stalled jobs.

The queue lives in a throwaway PostgreSQL database (tests/pgserver.py); the store here is
a SQLite file, so the queue's own behaviour is tested apart from the PostgreSQL store.
Workers are real processes (tests/queueproc.py) where a kill or two processes matter.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from feedserver import FeedRequestHandler, FeedServer
from outboxworld import digest, queue, subscribed
from processes import free_port, wait_for
from slackmock import SlackMock

from botsvc.config import FeedConfig
from botsvc.deliver.outbox import channel_id, enqueue, on_enqueue
from botsvc.deliver.platforms import available_adapters
from botsvc.models import ChannelAddress
from botsvc.service.app import open_app
from botsvc.service.due import claim_due, is_due
from botsvc.service.health import Health
from botsvc.service.intake import Intake
from botsvc.service.jobs import (
    ALERT_TASK,
    DELIVER_TASK,
    DIGEST_LOCK,
    DIGEST_TASK,
    POLL_TASK,
    QueueSettings,
    SendInTransaction,
    build_queue,
    queue_report,
)
from botsvc.service.metrics import Metrics
from botsvc.service.queueworker import QueueWorker, send_in_transaction
from botsvc.store.pollqueue import channels_to_send, claimed_polls, release_poll
from botsvc.store.queue_schema import ensure_queue_schema
from botsvc.store.store import FeedState, iso, open_store

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=timezone.utc)


def state(**fields) -> FeedState:
    base = dict(
        name="f",
        url="u",
        etag=None,
        last_modified=None,
        last_polled_at=None,
        last_success_at=None,
        last_error=None,
        last_error_at=None,
        consecutive_failures=0,
        items_seen=0,
    )
    return FeedState(**{**base, **fields})


def test_a_feed_is_due_after_its_interval_or_its_rest():
    assert is_due(None, 900, NOW)
    assert is_due(state(), 900, NOW)
    assert not is_due(state(last_polled_at=iso(NOW - timedelta(seconds=850))), 900, NOW)
    assert is_due(state(last_polled_at=iso(NOW - timedelta(seconds=850))), 900, NOW, slack=60)
    assert is_due(state(last_polled_at=iso(NOW - timedelta(seconds=900))), 900, NOW)
    resting = state(last_polled_at=iso(NOW - timedelta(hours=2)), retry_at=iso(NOW + timedelta(minutes=5)))
    assert not is_due(resting, 900, NOW)
    assert is_due(state(last_polled_at=iso(NOW), retry_at=iso(NOW - timedelta(seconds=1))), 900, NOW)


def test_the_schedule_ticks_in_seconds_when_asked():
    assert QueueSettings("postgresql://x/y").cron == "* * * * *"
    assert QueueSettings("postgresql://x/y", tick=2).cron == "* * * * * */2"
    assert QueueSettings("postgresql://x/y", prune_every=86400).prune_cron == "0 0 * * *"
    assert QueueSettings("postgresql://x/y", prune_every=600).prune_cron == "*/10 * * * *"
    with pytest.raises(ValueError):
        QueueSettings("postgresql://x/y", tick=0)


def test_a_claimed_feed_is_not_claimed_again_until_its_poll_ends(tmp_path):
    store = open_store(tmp_path / "bot.db")
    feeds = [FeedConfig(name=n, url=f"https://{n}.example/rss", interval=900, language=None, topics=()) for n in "ab"]
    claim = dict(slack=60, abandoned_before=NOW - timedelta(hours=1), orphaned_before=NOW - timedelta(minutes=2))
    assert claim_due(store, feeds, NOW, live=set(), **claim) == ["a", "b"]
    assert claim_due(store, feeds, NOW + timedelta(seconds=30), live={"a", "b"}, **claim) == []
    later = NOW + timedelta(minutes=5)  # no job left in the queue for b: its claim is an orphan
    claim_later = dict(
        slack=60, abandoned_before=later - timedelta(hours=1), orphaned_before=later - timedelta(minutes=2)
    )
    assert claim_due(store, feeds, later, live={"a"}, **claim_later) == ["b"]
    release_poll(store, "a")
    store.record_fetch_success("a", etag=None, last_modified=None, items=0, when=later)
    assert claim_due(store, feeds, later, live={"b"}, **claim_later) == []  # just polled
    assert claimed_polls(store) == ["b"]
    store.close()


def test_channels_to_send_leave_out_paused_and_later_messages(tmp_path):
    store = open_store(tmp_path / "bot.db")
    first = subscribed(store, "slack", "C1")
    second = subscribed(store, "slack", "C2")
    queue(store, first, "slack", "C1", digest("one"))
    queue(store, second, "slack", "C2", digest("two"))
    now = datetime.now(timezone.utc)
    assert channels_to_send(store, now) == [("slack", "", "C1"), ("slack", "", "C2")]
    store.db.execute("UPDATE subscriptions SET muted_at = ? WHERE id = ?", (iso(now), second))
    store.db.execute("UPDATE outbox SET next_attempt_at = ? WHERE channel = 'C1'", (iso(now + timedelta(hours=1)),))
    assert channels_to_send(store, now) == []
    store.close()


# -- through the real server ------------------------------------------------------------


@pytest.fixture
def queue_url(postgres_url: str) -> str:
    assert ensure_queue_schema(postgres_url)
    assert not ensure_queue_schema(postgres_url)  # a second start finds the tables
    return postgres_url


def examples_copy(directory: Path, feeds: list[tuple[str, str]] | None = None) -> Path:
    """The sample configuration (and its feed files) in ``directory``; ``feeds`` replaces its feeds."""
    shutil.copytree(EXAMPLES / "feeds", directory / "feeds")
    text = (EXAMPLES / "feeds.toml").read_text(encoding="utf-8")
    if feeds is not None:
        text = re.sub(r'\[\[feeds\]\]\nname = "[^"]*"\nurl = "[^"]*"\n+', "", text)
        text += "".join(f'\n[[feeds]]\nname = "{name}"\nurl = "{url}"\n' for name, url in feeds)
    config = directory / "feeds.toml"
    config.write_text(text, encoding="utf-8")
    return config


def test_polls_are_queued_once_then_run_and_deliver(tmp_path, queue_url, monkeypatch):
    config = examples_copy(tmp_path)
    with SlackMock() as slack:
        monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
        monkeypatch.setenv("BOTSVC_SLACK_API_URL", slack.base_url)
        app = open_app(config, tmp_path / "bot.db")
        subscribed(app.store, "slack", "C1")
        names = sorted(feed.name for feed in app.feeds())
        settings = QueueSettings(queue_url)

        async def go() -> tuple[list[str], list[str], list, list[str], dict, list]:
            jobs = build_queue(settings)
            await jobs.open_async()
            intake = await Intake.open(app)
            try:
                worker = QueueWorker(app, available_adapters(), jobs, settings, intake)
                first, second = await asyncio.gather(worker.enqueue_due(), worker.enqueue_due())
                polls = list(await jobs.job_manager.list_jobs_async(task=POLL_TASK))
                for _ in range(5):  # a worker that does not wait stops when it finds nothing at one look
                    await jobs.run_worker_async(
                        wait=False, concurrency=2, install_signal_handlers=False, additional_context={"botsvc": worker}
                    )
                    if not list(await jobs.job_manager.list_jobs_async(status="todo")):
                        break
                again = await worker.enqueue_due()
                report = await queue_report(jobs, settings)
                ran = list(await jobs.job_manager.list_jobs_async())
                for adapter in worker.adapters.values():
                    await adapter.stop()
                return first + second, again, polls, claimed_polls(app.store), report, ran
            finally:
                await intake.close()
                await jobs.close_async()

        claimed, again, polls, still_claimed, report, ran = asyncio.run(go())
        posts = [call for call in slack.calls if call.path.endswith("chat.postMessage")]
        articles = app.store.query("SELECT count(*) AS n FROM articles")[0]["n"]
        app.close()
    assert sorted(claimed) == names  # two enqueuers at once: each feed once
    assert sorted(job.lock for job in polls) == sorted(f"feed:{name}" for name in names)
    assert all(job.queueing_lock is None for job in polls)
    assert articles > 0 and still_claimed == [] and again == []  # polled just now: not due
    assert posts and {call.body["channel"] for call in posts} == {"C1"}
    assert report == {"waiting": 0, "running": 0, "failed": 0, "stalled": 0}
    alerts = [job for job in ran if job.task_name in (ALERT_TASK, DIGEST_TASK)]
    assert alerts and {job.lock for job in alerts} == {DIGEST_LOCK}  # digests are written one job at a time
    assert 1 <= sum(job.task_name == ALERT_TASK for job in alerts) <= len(names)


def worker_process(config: Path, db: Path, url: str, name: str, env: dict[str, str], log: Path, **options):
    argv = [sys.executable, str(ROOT / "tests" / "queueproc.py"), str(config), str(db), url, "--name", name]
    for option, value in options.items():
        argv += [f"--{option.replace('_', '-')}", str(value)]
    return subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=log.open("w"), cwd=ROOT)


def process_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def stop(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return -9


def test_each_channel_gets_its_messages_in_order_with_two_workers(tmp_path, queue_url):
    config = examples_copy(tmp_path, [])
    db = tmp_path / "bot.db"
    channels = ["C1", "C2", "C3"]
    store = open_store(db)
    subscriptions = {channel: subscribed(store, "slack", channel) for channel in channels}
    for n in range(8):
        for channel in channels:
            queue(store, subscriptions[channel], "slack", channel, digest(f"{channel} message {n}"))
    store.close()

    async def defer_sends() -> None:
        jobs = build_queue(QueueSettings(queue_url))
        async with jobs.open_async():
            for _ in range(4):  # more jobs than messages need: they must still not overlap
                for channel in channels:
                    cid = channel_id("slack", "", channel)
                    await jobs.configure_task(DELIVER_TASK, lock=f"channel:{cid}").defer_async(channel=cid)

    asyncio.run(defer_sends())
    with SlackMock() as slack:
        slack.hang = 0.05
        env = process_env(SLACK_BOT_TOKEN="xoxb-test", BOTSVC_SLACK_API_URL=slack.base_url)
        workers = [
            worker_process(config, db, queue_url, f"w{i}", env, tmp_path / f"w{i}.log", concurrency=2) for i in (1, 2)
        ]
        try:
            posted = lambda: [c for c in slack.calls if c.path.endswith("chat.postMessage")]  # noqa: E731
            assert wait_for(lambda: len(posted()) >= 24, timeout=60), [p.read_text() for p in tmp_path.glob("w*.log")]
            time.sleep(0.5)  # nothing more may come
        finally:
            codes = [stop(worker) for worker in workers]
        calls = posted()
    assert codes == [0, 0]
    for channel in channels:
        told = [json.dumps(c.body, ensure_ascii=False) for c in calls if c.body["channel"] == channel]
        order = [int(re.search(rf"{channel} message (\d)", text).group(1)) for text in told]
        assert order == list(range(8)), channel  # in order, each once


def test_a_killed_workers_poll_is_run_again_by_another(tmp_path, queue_url):
    body = (EXAMPLES / "feeds" / "seoul-wire.xml").read_bytes()
    first = {"slow": True}

    def slow_once(handler: FeedRequestHandler) -> None:
        if first.pop("slow", False):
            handler.stopping.wait(20)  # the worker is killed meanwhile
        handler.send(200, body, content_type="application/rss+xml")

    with FeedServer() as feeds:
        url = feeds.route("/slow.xml", slow_once)
        config = examples_copy(tmp_path, [("Slow Wire", url)])
        db = tmp_path / "bot.db"
        open_store(db).close()
        env = process_env(BOTSVC_ALLOW_PRIVATE_FEEDS="1")
        options = dict(tick=1, stalled_after=3)
        doomed = worker_process(config, db, queue_url, "doomed", env, tmp_path / "doomed.log", **options)
        survivor = None
        try:
            assert wait_for(lambda: feeds.requests_to("/slow.xml"), timeout=30), (tmp_path / "doomed.log").read_text()
            doomed.kill()
            doomed.wait()
            survivor = worker_process(config, db, queue_url, "survivor", env, tmp_path / "survivor.log", **options)
            store = open_store(db)
            try:
                polled = wait_for(
                    lambda: (s := store.feed_state("Slow Wire")) is not None and s.last_success_at is not None,
                    timeout=30,
                )
                assert polled, (tmp_path / "survivor.log").read_text()
                assert wait_for(lambda: claimed_polls(store) == [], timeout=10)
                articles = store.query("SELECT count(*) AS n FROM articles")[0]["n"]
            finally:
                store.close()
        finally:
            if survivor is not None:
                assert stop(survivor) == 0
    log = (tmp_path / "survivor.log").read_text()
    assert "was left running by a worker that stopped; queued again" in log
    assert len(feeds.requests_to("/slow.xml")) == 2  # the killed poll and its rerun, nothing more
    assert articles > 0


def test_worker_refuses_sqlite_in_one_line(tmp_path):
    env = process_env()
    env.pop("BOTSVC_DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "botsvc", "worker", "--db", str(tmp_path / "bot.db")],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "botsvc: error: botsvc worker needs PostgreSQL: set BOTSVC_DATABASE_URL=postgresql://…; "
        "with SQLite, botsvc run does all the work in one process"
    ]
    assert not (tmp_path / "bot.db").exists()


def test_health_and_metrics_report_the_queue(tmp_path, queue_url):
    store = open_store(tmp_path / "bot.db")
    settings = QueueSettings(queue_url)

    async def go() -> tuple[int, dict, str, int, dict]:
        jobs = build_queue(settings)
        async with jobs.open_async():
            await jobs.configure_task(POLL_TASK, lock="feed:a").defer_async(feed="a")
            health = Health(store, Metrics(store), lambda: True, 900, datetime.now(timezone.utc))
            health.queue_report = lambda: queue_report(jobs, settings)
            answer = await health.healthz(None)
            metrics = (await health.metrics_page(None)).body.decode()
        health.queue_report = lambda: queue_report(build_queue(QueueSettings(queue_url + "_gone")), settings)
        down = await health.healthz(None)
        return answer.status, json.loads(answer.text), metrics, down.status, json.loads(down.text)

    status, body, metrics, down_status, down = asyncio.run(go())
    store.close()
    assert status == 200 and body["queue"] == {"waiting": 1, "running": 0, "failed": 0, "stalled": 0}
    assert 'botsvc_jobs{status="waiting"} 1.0' in metrics and 'botsvc_jobs{status="stalled"} 0.0' in metrics
    assert down_status == 503 and down["status"] == "unhealthy" and down["queue"].startswith("error: ")


def test_a_send_job_commits_and_rolls_back_with_its_outbox_row(queue_url, postgres_server):
    import psycopg

    sends = SendInTransaction(queue_url)
    address = ChannelAddress("slack", "C1", "T1")
    with psycopg.connect(queue_url, autocommit=True) as conn:  # as the PostgreSQL store holds it
        conn.execute("CREATE TABLE mail (id INTEGER)")
        for outcome in ("ROLLBACK", "COMMIT"):
            conn.execute("BEGIN")
            conn.execute("INSERT INTO mail VALUES (1)")
            assert sends.defer(conn, address)
            conn.execute(outcome)
        jobs = conn.execute("SELECT task_name, lock, args FROM procrastinate_jobs").fetchall()
        assert conn.execute("SELECT count(*) FROM mail").fetchone() == (1,)
    cid = channel_id("slack", "T1", "C1")
    assert jobs == [(DELIVER_TASK, f"channel:{cid}", {"channel": cid})]

    elsewhere = postgres_server.create_database()  # no queue tables: the row is kept all the same
    try:
        with psycopg.connect(elsewhere, autocommit=True) as conn:
            conn.execute("CREATE TABLE mail (id INTEGER)")
            conn.execute("BEGIN")
            conn.execute("INSERT INTO mail VALUES (1)")
            assert not SendInTransaction(elsewhere).defer(conn, address)
            conn.execute("COMMIT")
            assert conn.execute("SELECT count(*) FROM mail").fetchone() == (1,)
    finally:
        postgres_server.drop_database(elsewhere)


def botsvc_cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "botsvc", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_two_botsvc_workers_on_postgres_poll_each_feed_once(tmp_path, postgres_url):
    config = examples_copy(tmp_path)
    env = process_env(BOTSVC_DATABASE_URL=postgres_url)
    env.pop("BOTSVC_DB", None)
    argv = [sys.executable, "-m", "botsvc", "worker", "--config", str(config), "--tick", "1", "--stalled-after", "3"]
    logs = [tmp_path / f"w{i}.log" for i in (1, 2)]
    workers = [
        subprocess.Popen([*argv, "--concurrency", "2"], env=env, cwd=tmp_path, stderr=log.open("w")) for log in logs
    ]
    try:
        assert wait_for(lambda: all("worker started" in log.read_text() for log in logs), timeout=30)
        store = open_store(postgres_url)
        try:
            done = lambda: [s.name for s in store.feed_states() if s.last_success_at]  # noqa: E731
            polled = wait_for(lambda: len(done()) == 5 and claimed_polls(store) == [], timeout=60)
            assert polled, [log.read_text() for log in logs]
            time.sleep(2)  # two more ticks: nothing is due again
            articles = store.query("SELECT count(*) AS n FROM articles")[0]["n"]
        finally:
            store.close()
    finally:
        codes = [stop(worker) for worker in workers]
    text = "".join(log.read_text() for log in logs)
    assert codes == [0, 0], text
    polls = re.findall(r"INFO botsvc.service.scheduler: (.+?): polled 1 feed", text)
    assert sorted(polls) == sorted(feed.name for feed in open_app(config, ":memory:").feeds())  # each once
    assert articles > 0
    assert "Traceback" not in text


def test_on_a_postgres_store_the_outbox_row_and_its_send_job_commit_together(postgres_url):
    assert ensure_queue_schema(postgres_url)
    store = open_store(postgres_url)
    try:
        on_enqueue(store, send_in_transaction(SendInTransaction(postgres_url)))
        subscription = subscribed(store, "slack", "C1")
        with pytest.raises(RuntimeError), store.atomic():
            enqueue(store, ChannelAddress("slack", "C1"), digest("gone"), subscription_id=subscription, now=NOW)
            raise RuntimeError("the digest's transaction fails after the row")
        queue(store, subscription, "slack", "C1", digest("kept"))
        rows = store.query("SELECT channel FROM outbox")
        jobs = store.query("SELECT task_name, lock FROM procrastinate_jobs")
    finally:
        on_enqueue(store, None)
        store.close()
    assert rows == [{"channel": "C1"}]
    assert jobs == [{"task_name": DELIVER_TASK, "lock": f"channel:{channel_id('slack', '', 'C1')}"}]


def test_run_on_postgres_serves_health_with_the_queue_and_polls(tmp_path, postgres_url):
    import httpx

    config = examples_copy(tmp_path, [("Seoul Wire", "feeds/seoul-wire.xml")])
    port = free_port()
    env = process_env(BOTSVC_DATABASE_URL=postgres_url, BOTSVC_HTTP_PORT=str(port), BOTSVC_HTTP_HOST="127.0.0.1")
    env.pop("BOTSVC_DB", None)
    log = tmp_path / "run.log"
    run = subprocess.Popen(
        [sys.executable, "-m", "botsvc", "run", "--config", str(config)], env=env, cwd=tmp_path, stderr=log.open("w")
    )
    try:
        assert wait_for(lambda: "polled 1 feed" in log.read_text(), timeout=60), log.read_text()
        health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    finally:
        code = stop(run)
    assert health.status_code == 200, health.text
    queue_now = health.json()["queue"]  # a periodic job may be waiting or running at that moment
    assert set(queue_now) == {"waiting", "running", "failed", "stalled"}
    assert queue_now["failed"] == queue_now["stalled"] == 0
    assert 'botsvc_jobs{status="stalled"} 0.0' in metrics
    assert code == 0, log.read_text()
    assert not (tmp_path / "botsvc.db").exists()  # nothing on SQLite


def test_two_botsvc_workers_on_postgres_deliver_each_alert_once_in_order(tmp_path, postgres_url):
    config = examples_copy(tmp_path)
    with SlackMock() as slack:
        env = process_env(
            BOTSVC_DATABASE_URL=postgres_url, SLACK_BOT_TOKEN="xoxb-test", BOTSVC_SLACK_API_URL=slack.base_url
        )
        env.pop("BOTSVC_DB", None)
        for channel in ("C1", "C2"):
            made = botsvc_cli(
                "subscribe", "--platform", "slack", "--channel", channel, "--config", str(config), env=env, cwd=tmp_path
            )
            assert made.returncode == 0, made.stderr
        argv = [
            sys.executable,
            "-m",
            "botsvc",
            "worker",
            "--config",
            str(config),
            "--tick",
            "1",
            "--stalled-after",
            "3",
        ]
        logs = [tmp_path / f"w{i}.log" for i in (1, 2)]
        workers = [
            subprocess.Popen([*argv, "--concurrency", "2"], env=env, cwd=tmp_path, stderr=log.open("w")) for log in logs
        ]
        store = open_store(postgres_url)
        try:
            settled = lambda: (  # noqa: E731
                len([s for s in store.feed_states() if s.last_success_at]) == 5
                and store.query("SELECT count(*) AS n FROM outbox WHERE status <> 'delivered'")[0]["n"] == 0
                and store.query("SELECT count(*) AS n FROM outbox")[0]["n"] > 0
            )
            assert wait_for(settled, timeout=90), [log.read_text() for log in logs]
            time.sleep(3)  # more ticks: nothing more is told
            rows = store.query("SELECT channel, message_ids FROM outbox ORDER BY id")
            told = store.query("SELECT subscription_id, event_id FROM deliveries")
        finally:
            store.close()
            codes = [stop(worker) for worker in workers]
        calls = [c for c in slack.calls if c.path.endswith("chat.postMessage")]
    text = "".join(log.read_text() for log in logs)
    assert codes == [0, 0], text
    assert len(calls) == len(rows)  # each message posted once
    assert len(told) == len({(t["subscription_id"], t["event_id"]) for t in told})
    for channel in ("C1", "C2"):  # each channel's messages posted in the outbox's order
        stamps = [float(json.loads(row["message_ids"])[0]) for row in rows if row["channel"] == channel]
        assert stamps and stamps == sorted(stamps)
    assert "Traceback" not in text
