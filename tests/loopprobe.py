"""How fast a real `botsvc run` answers HTTP while it polls a big feed.

Starts a loopback feed server serving the given feed, a loopback Slack Web API mock, and
`botsvc run` (HTTP on a free loopback port, Slack commands signed with a test secret).
While the one poll runs, it asks ``/healthz`` and posts a signed ``/news help`` in turns
and times every answer, until the poll's "polled 1 feed(s)" line is logged; then it stops
the bot with SIGTERM. Optionally one more command (``/news subscribe``: a write) is posted
once the feed has been served, and/or a storm of "Not relevant" button presses (one member,
a different channel each) and a ``/news feed preview`` of a slow page (its feed links each
answer after seconds); then the probe also waits until each of those has been answered
through its response_url. Used by tests/test_loop_free.py and benchmarks/fault_loop.py.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import httpx

from tests.feedserver import FeedServer
from tests.processes import free_port, wait_for
from tests.slackmock import SlackMock

ROOT = Path(__file__).resolve().parents[1]
SECRET = "loop-probe-secret"
_TRIGGERS = itertools.count(1)
POLLED = re.compile(r"polled 1 feed\(s\) in ([0-9.]+)s: (.*)")


@dataclass
class LoopFigures:
    healthz_ms: list[float] = field(default_factory=list)
    slack_ms: list[float] = field(default_factory=list)
    answers_while_polling: int = 0
    """Answers given after the feed was served and before the poll was logged as done."""
    poll_seconds: float = 0.0
    """The bot's own figure: fetch, parse, judge and store of the big feed."""
    poll_summary: str = ""
    mid_poll_ms: float | None = None
    """How long the extra command took to be answered (or acknowledged)."""
    mid_poll_answer: str = ""
    ack_ms: list[float] = field(default_factory=list)
    """Every Slack request's time to its HTTP answer (the acknowledgement): commands and presses."""
    expected_answers: int = 0
    """Presses and previews sent, each to be answered through its response_url."""
    answers: list[str] = field(default_factory=list)
    """The texts posted to those response_urls."""
    answered_after: float | None = None
    """Seconds from sending the presses and preview until the last of them was answered."""
    exit_status: int | None = None
    log: str = ""
    failures: list[str] = field(default_factory=list)
    """Requests that errored or answered with an unexpected status."""


SLOW_LINK_SECONDS = 3.0
"""How long each feed a slow page links to takes to answer."""
CHECK_DEADLINE = 4.0
"""``[fetch] total_deadline`` when a slow page is previewed: a feed check's one deadline."""


def _config(feed_url: str, directory: Path, fetch: str = "") -> Path:
    """The shipped topics, with the big feed as the only feed; Slack user U1 manages."""
    shipped = (ROOT / "feeds.toml").read_text()
    path = directory / "loop.toml"
    path.write_text(
        shipped.split("[[feeds]]")[0]
        + fetch
        + f'[slack]\nmanagers = ["U1"]\n\n[[feeds]]\nname = "Firehose"\nurl = "{feed_url}"\n'
        + 'interval = "1h"\n\n[topics'
        + shipped.split("[topics", 1)[1]
    )
    return path


def slow_page(server: FeedServer) -> str:
    """A web page whose four feed links (and common paths) each answer after ``SLOW_LINK_SECONDS``."""
    links = "".join(f'<link rel="alternate" type="application/rss+xml" href="/slow/{n}.xml">' for n in range(1, 5))
    for path in [f"/slow/{n}.xml" for n in range(1, 5)] + ["/feed", "/rss", "/rss.xml", "/feed.xml"]:
        server.slow(path, SLOW_LINK_SECONDS)
    html = f"<!DOCTYPE html><html><head><title>Slow</title>{links}</head><body></body></html>"
    return server.static("/slow-site", html.encode(), content_type="text/html; charset=utf-8")


def probe_big_poll(
    feed: bytes,
    workdir: Path,
    *,
    mid_poll_command: str | None = None,
    presses: int = 0,
    slow_preview: bool = False,
    timeout: float = 600.0,
) -> LoopFigures:
    """Serve ``feed`` to a `botsvc run` (database ``workdir/loop.db``) and time its answers during the poll.

    ``presses``: that many "Not relevant" presses (user U2, channels C1, C2, …) once the
    feed is served; ``slow_preview``: ``/news feed preview`` of :func:`slow_page` then too.
    """
    figures = LoopFigures()
    tmp = Path(workdir)
    with FeedServer() as server, SlackMock() as slack:
        fetch = f"[fetch]\ntotal_deadline = {CHECK_DEADLINE}\n\n" if slow_preview else ""
        config = _config(server.static("/firehose.xml", feed), tmp, fetch)
        page = slow_page(server) if slow_preview else ""
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        env.update(
            PYTHONUNBUFFERED="1",
            SLACK_BOT_TOKEN="xoxb-loop",
            SLACK_SIGNING_SECRET=SECRET,
            BOTSVC_SLACK_API_URL=slack.base_url,
            BOTSVC_HTTP_PORT=str(port),
            BOTSVC_HTTP_HOST="127.0.0.1",
            BOTSVC_ALLOW_PRIVATE_FEEDS=f"127.0.0.1:{server.port}",
        )
        err = tmp / "run.err"
        with err.open("w") as stderr:
            proc = subprocess.Popen(
                [sys.executable, "-m", "botsvc", "run", "--db", str(tmp / "loop.db"), "--config", str(config)],
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                env=env,
            )
        try:
            if not wait_for(lambda: "HTTP on 127.0.0.1" in err.read_text() or proc.poll() is not None, 60):
                raise RuntimeError("botsvc run did not start:\n" + err.read_text())
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + timeout
            storm = ThreadPoolExecutor(max_workers=8)
            fired = not (presses or slow_preview)
            fired_at = time.monotonic()
            with httpx.Client(timeout=30, trust_env=False) as client:
                while time.monotonic() < deadline and proc.poll() is None:
                    served = bool(server.requests_to("/firehose.xml"))
                    healthz = _timed(client, figures, "GET", f"{base}/healthz")
                    slack_ms = _timed(client, figures, "POST", f"{base}/slack/events", signed_command(slack, "help"))
                    done = POLLED.search(err.read_text())
                    if healthz is not None:
                        figures.healthz_ms.append(healthz)
                    if slack_ms is not None:
                        figures.slack_ms.append(slack_ms)
                        figures.ack_ms.append(slack_ms)
                    if served and not fired:
                        fired = True
                        requests = [
                            signed_press(slack, "notrelevant", _an_event(tmp), n) for n in range(1, presses + 1)
                        ]
                        if slow_preview:
                            requests.append(signed_command(slack, f"feed preview {page}", hook="preview/T1/C1/U1"))
                        figures.expected_answers = len(requests)
                        fired_at = time.monotonic()
                        for ack in storm.map(
                            lambda extra: _acknowledged(client, f"{base}/slack/events", extra), requests
                        ):
                            figures.ack_ms.append(ack)
                    if served and not done:
                        figures.answers_while_polling += 2
                    if served and mid_poll_command and figures.mid_poll_ms is None:
                        started = time.perf_counter()
                        answer = client.post(f"{base}/slack/events", **signed_command(slack, mid_poll_command))
                        figures.mid_poll_ms = (time.perf_counter() - started) * 1000
                        figures.mid_poll_answer = answer.text
                    all_answered = len(_answers(slack)) >= figures.expected_answers
                    if fired and figures.expected_answers and all_answered and figures.answered_after is None:
                        figures.answered_after = time.monotonic() - fired_at
                    if done:
                        figures.poll_seconds = float(done.group(1))
                        figures.poll_summary = done.group(2)
                        if all_answered:
                            break
                    time.sleep(0.05)
            storm.shutdown()
            figures.answers = _answers(slack)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                figures.exit_status = proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            figures.log = err.read_text()
    return figures


def _an_event(workdir: Path) -> str:
    """The id of a stored event (the seeded archive's), read through a connection of the probe's own."""
    db = sqlite3.connect(workdir / "loop.db", timeout=30)
    try:
        return str(db.execute("SELECT min(id) FROM events").fetchone()[0])
    finally:
        db.close()


def _answers(slack: SlackMock) -> list[str]:
    """What was posted to the response_urls of presses and previews (not "Working on it…")."""
    texts = []
    for call in list(slack.calls):
        if call.path.startswith(("/hooks/actions/", "/hooks/preview/")):
            text = str(call.body.get("text") or json.dumps(call.body.get("blocks") or ""))
            if "Working on it" not in text:
                texts.append(text)
    return texts


def _acknowledged(client: httpx.Client, url: str, extra: dict) -> float:
    """Milliseconds until Slack's request is answered over HTTP (the acknowledgement); inf on failure."""
    started = time.perf_counter()
    try:
        answer = client.post(url, **extra)
    except httpx.HTTPError:
        return float("inf")
    elapsed = (time.perf_counter() - started) * 1000
    return elapsed if answer.status_code == 200 else float("inf")


def signed_press(slack: SlackMock, command: str, event: str, n: int, user: str = "U2") -> dict:
    """A press of an alert's button in channel ``C<n>``, as Slack posts it (signed ``block_actions``)."""
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": "someone", "name": "someone", "team_id": "T1"},
        "api_app_id": "A1",
        "container": {"type": "message", "message_ts": "1700000000.000001", "channel_id": f"C{n}"},
        "trigger_id": f"{next(_TRIGGERS)}.{time.time_ns()}",
        "team": {"id": "T1", "domain": "test"},
        "channel": {"id": f"C{n}", "name": "news"},
        "message": {"type": "message", "ts": "1700000000.000001", "text": "an alert"},
        "response_url": slack.hook_url(f"actions/T1/C{n}/{user}"),
        "actions": [
            {
                "action_id": f"botsvc_{command}",
                "block_id": f"botsvc-event-{event}",
                "value": event,
                "type": "button",
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    return _signed(urlencode({"payload": json.dumps(payload)}))


def signed_command(slack: SlackMock, text: str, hook: str = "commands/T1/C1/U1") -> dict:
    """``/news <text>`` as Slack posts it (form body, timestamp, HMAC-SHA256 signature)."""
    body = urlencode(
        {
            "team_id": "T1",
            "channel_id": "C1",
            "user_id": "U1",
            "command": "/news",
            "text": text,
            "api_app_id": "A1",
            "response_url": slack.hook_url(hook),
            "trigger_id": f"{next(_TRIGGERS)}.{time.time_ns()}",
        }
    )  # each request unique, as Slack's are
    return _signed(body)


def _signed(body: str) -> dict:
    """Request arguments for ``body`` with Slack's timestamp and signature headers."""
    stamp = str(int(time.time()))
    signature = hmac.new(SECRET.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return {
        "content": body,
        "headers": {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": f"v0={signature}",
        },
    }


def _timed(
    client: httpx.Client, figures: LoopFigures, method: str, url: str, extra: dict | None = None
) -> float | None:
    """Milliseconds until the answer, or None (noted in ``figures.failures``) when it failed."""
    started = time.perf_counter()
    try:
        answer = client.request(method, url, **(extra or {}))
    except httpx.HTTPError as exc:
        figures.failures.append(f"{method} {url}: {type(exc).__name__}")
        return None
    elapsed = (time.perf_counter() - started) * 1000
    expected = "/news" in answer.text if method == "POST" else answer.status_code == 200
    if not expected:
        figures.failures.append(f"{method} {url}: HTTP {answer.status_code} {answer.text[:80]!r}")
    return elapsed
