"""The fetch step against a real loopback HTTP server (tests/feedserver.py)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import tracemalloc
import zlib
from collections import Counter
from pathlib import Path

import pytest
from fakedns import FakeDNS
from feedserver import RSS, FeedRequestHandler, FeedServer
from processes import free_port

from botsvc import __version__
from botsvc.ingest.connect import FetchClient
from botsvc.ingest.fetch import (
    FetchPolicy,
    FetchResult,
    Validators,
    fetch_feed,
    fetch_many,
    is_local,
    make_client,
    read_local,
)

CAP = 256 * 1024
FAST = FetchPolicy(
    connect_timeout=1.0, read_timeout=1.0, total_deadline=2.0, max_bytes=CAP, max_redirects=3, concurrency=20
)
FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title></channel></rss>'
EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "feeds"


def fetch(url: str, validators: Validators = Validators(), policy: FetchPolicy = FAST) -> FetchResult:
    async def go() -> FetchResult:
        async with make_client(policy) as client:
            return await fetch_feed(client, url, validators, policy)

    return asyncio.run(go())


def collect(targets: list[tuple[str, Validators]], policy: FetchPolicy = FAST) -> list[FetchResult]:
    async def go() -> list[FetchResult]:
        return [result async for result in fetch_many(targets, policy)]

    return asyncio.run(go())


def peak_memory(call):
    """Run ``call`` and return (its result, peak traced Python memory in bytes)."""
    tracemalloc.start()
    try:
        result = call()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# -- success and conditional GET --------------------------------------------------


def test_ok_captures_body_and_validators(feed_server: FeedServer) -> None:
    url = feed_server.static("/feed.xml", FEED, etag='"v1"', last_modified="Tue, 01 Oct 2019 08:00:00 GMT")

    result = fetch(url)

    assert result.status == "ok" and result.error is None
    assert result.body == FEED
    assert result.etag == '"v1"'
    assert result.last_modified == "Tue, 01 Oct 2019 08:00:00 GMT"
    assert result.http_status == 200
    assert result.url == result.final_url == url
    assert result.content_type == RSS
    assert result.elapsed > 0
    sent = feed_server.requests_to("/feed.xml")[0]
    assert sent.header("if-none-match") is None and sent.header("if-modified-since") is None


def test_second_fetch_sends_validators_and_gets_304(feed_server: FeedServer) -> None:
    url = feed_server.static("/feed.xml", FEED)
    first = fetch(url)

    second = fetch(url, Validators(first.etag, first.last_modified))

    assert second.status == "not_modified"
    assert second.body is None and second.error is None
    assert second.http_status == 304
    assert (second.etag, second.last_modified) == (first.etag, first.last_modified)
    sent = feed_server.requests_to("/feed.xml")[1]
    assert sent.header("if-none-match") == first.etag
    assert sent.header("if-modified-since") == first.last_modified


def test_if_modified_since_alone_is_enough(feed_server: FeedServer) -> None:
    url = feed_server.static("/feed.xml", FEED, etag=False)
    first = fetch(url)
    assert first.etag is None and first.last_modified

    assert fetch(url, Validators(last_modified=first.last_modified)).status == "not_modified"


def test_304_without_validators_keeps_the_old_ones(feed_server: FeedServer) -> None:
    url = feed_server.static("/feed.xml", FEED, etag='"v1"', validators_on_304=False)

    result = fetch(url, Validators('"v1"', "Mon, 30 Sep 2019 08:00:00 GMT"))

    assert result.status == "not_modified"
    assert result.etag == '"v1"'
    assert result.last_modified == "Mon, 30 Sep 2019 08:00:00 GMT"


def test_changed_feed_is_fetched_again(feed_server: FeedServer) -> None:
    url = feed_server.static("/feed.xml", FEED, etag='"v2"')

    result = fetch(url, Validators('"v1"'))

    assert result.status == "ok" and result.body == FEED and result.etag == '"v2"'


def test_malformed_xml_is_returned_as_bytes(feed_server: FeedServer) -> None:
    broken = b"<rss><channel><item><title>unclosed & bad</channel"
    result = fetch(feed_server.static("/broken.xml", broken))
    assert result.status == "ok" and result.body == broken


def test_headers_identify_the_bot(feed_server: FeedServer) -> None:
    fetch(feed_server.static("/feed.xml", FEED))

    sent = feed_server.requests_to("/feed.xml")[0]
    assert sent.header("user-agent") == FAST.user_agent
    assert FetchPolicy().user_agent.startswith(f"botsvc/{__version__} (+https://")
    assert "application/rss+xml" in sent.header("accept")
    assert sent.header("accept-encoding") == "gzip, deflate"


# -- HTTP errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "message"),
    [(404, "HTTP 404 Not Found"), (500, "HTTP 500 Internal Server Error"), (410, "HTTP 410 Gone")],
)
def test_error_status_is_a_clear_error(feed_server: FeedServer, code: int, message: str) -> None:
    result = fetch(feed_server.status(f"/e{code}", code, b"nope"))

    assert result.status == "error"
    assert result.error == message
    assert result.http_status == code
    assert result.body is None


def test_unknown_path_is_404(feed_server: FeedServer) -> None:
    assert fetch(feed_server.url("/nothing-here")).error == "HTTP 404 Not Found"


# -- time limits ---------------------------------------------------------------------


def test_slow_response_times_out(feed_server: FeedServer) -> None:
    url = feed_server.slow("/slow", delay=5)
    policy = FetchPolicy(read_timeout=0.3, total_deadline=2)

    result = fetch(url, policy=policy)

    assert result.status == "error"
    assert result.error == "read timed out after 0.3s"
    assert result.elapsed < 1.5


def test_total_deadline_applies_before_headers(feed_server: FeedServer) -> None:
    url = feed_server.slow("/slow", delay=5)
    result = fetch(url, policy=FetchPolicy(read_timeout=5, total_deadline=0.3))
    assert result.error == "timed out after 0.3s"
    assert result.elapsed < 1.5


def test_trickling_body_hits_total_deadline(feed_server: FeedServer) -> None:
    # A byte every 20 ms never trips the 1 s read timeout, but the whole body would take 4 s.
    url = feed_server.trickle("/trickle", FEED * 3, interval=0.02)
    policy = FetchPolicy(read_timeout=1, total_deadline=0.5)

    result = fetch(url, policy=policy)

    assert result.status == "error"
    assert result.error == "timed out after 0.5s"
    assert 0.45 < result.elapsed < 1.5


@pytest.mark.parametrize("public_only", [False, True], ids=["configured", "chat"])
def test_a_name_lookup_that_never_answers_is_a_connect_timeout(monkeypatch, public_only: bool) -> None:
    monkeypatch.setenv("BOTSVC_ALLOW_PRIVATE_FEEDS", "1")
    answered = threading.Event()

    def hung_lookup(*args, **kwargs):
        answered.wait(5)  # a DNS server that does not answer
        raise socket.gaierror(socket.EAI_AGAIN, "no answer")

    monkeypatch.setattr(socket, "getaddrinfo", hung_lookup)
    policy = FetchPolicy(connect_timeout=0.3, read_timeout=1, total_deadline=3)

    async def go() -> FetchResult:
        try:
            async with make_client(policy) as client:
                return await fetch_feed(client, "http://feeds.example.org/rss", policy=policy, public_only=public_only)
        finally:
            answered.set()  # let the lookup thread go before the loop waits for it

    result = asyncio.run(go())
    assert result.status == "error" and result.elapsed < 2
    if not public_only:
        assert result.error == "connect timed out after 0.3s"


def test_connection_refused() -> None:
    port = free_port()  # closed again at once: nothing listens there

    result = fetch(f"http://127.0.0.1:{port}/feed.xml")

    assert result.status == "error" and result.error == "connection refused"


# -- size limits and content encodings ---------------------------------------------


def test_declared_oversized_body_is_refused(feed_server: FeedServer) -> None:
    url = feed_server.oversized("/big", 50 * 1024 * 1024)

    result = fetch(url)

    assert result.status == "error"
    assert result.error == f"response larger than {CAP} bytes"
    assert result.body is None and result.http_status == 200


def test_undeclared_oversized_body_is_cut_with_bounded_memory(feed_server: FeedServer) -> None:
    url = feed_server.endless("/endless", limit=256 * 1024 * 1024)

    result, peak = peak_memory(lambda: fetch(url))

    assert result.error == f"response larger than {CAP} bytes"
    assert peak < 4 * 1024 * 1024


def test_body_exactly_at_the_cap_is_accepted(feed_server: FeedServer) -> None:
    result = fetch(feed_server.oversized("/edge", CAP, declare_length=False))
    assert result.status == "ok" and len(result.body) == CAP


def test_gzip_body_is_decoded(feed_server: FeedServer) -> None:
    body = FEED * 200
    result = fetch(feed_server.static("/feed.xml.gz", body, gzip=True))
    assert result.status == "ok" and result.body == body


@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS], ids=["zlib", "raw"])
def test_deflate_body_is_decoded(feed_server: FeedServer, wbits: int) -> None:
    compressor = zlib.compressobj(6, zlib.DEFLATED, wbits)
    wire = compressor.compress(FEED) + compressor.flush()

    def handle(h: FeedRequestHandler) -> None:
        h.send(200, wire, content_type=RSS, headers={"Content-Encoding": "deflate"})

    result = fetch(feed_server.route("/deflate", handle))

    assert result.status == "ok" and result.body == FEED


def test_gzip_bomb_is_cut_at_the_cap(feed_server: FeedServer) -> None:
    url = feed_server.gzip_bomb("/bomb", decoded_size=64 * 1024 * 1024)

    result, peak = peak_memory(lambda: fetch(url))

    assert result.status == "error"
    assert result.error == f"response larger than {CAP} bytes"
    assert peak < 4 * 1024 * 1024  # inflating one 64 KiB network chunk at once would be ~60 MiB


def test_corrupt_gzip_is_an_error(feed_server: FeedServer) -> None:
    def handle(h: FeedRequestHandler) -> None:
        h.send(200, b"\x1f\x8b\x08\x00garbage-not-gzip", headers={"Content-Encoding": "gzip"})

    result = fetch(feed_server.route("/corrupt", handle))

    assert result.status == "error" and result.error.startswith("could not decode compressed body")


def test_unsupported_content_encoding_is_an_error(feed_server: FeedServer) -> None:
    def handle(h: FeedRequestHandler) -> None:
        h.send(200, b"\x00\x01", headers={"Content-Encoding": "br"})

    result = fetch(feed_server.route("/brotli", handle))

    assert result.error == "unsupported content encoding: br"


# -- redirects and URLs --------------------------------------------------------------


def test_redirects_are_followed(feed_server: FeedServer) -> None:
    target = feed_server.static("/new/feed.xml", FEED)
    feed_server.redirect("/moved", "/new/feed.xml", code=301)
    feed_server.redirect("/hop2", "/moved", code=307)
    start = feed_server.redirect("/hop1", feed_server.url("/hop2"), code=302)

    result = fetch(start)

    assert result.status == "ok" and result.body == FEED
    assert result.url == start
    assert result.final_url == target


def test_redirect_loop_is_an_error(feed_server: FeedServer) -> None:
    url = feed_server.redirect_loop("/loop")

    result = fetch(url)

    assert result.status == "error"
    assert result.error == "too many redirects (>3)"
    assert len(feed_server.requests) == 4  # the original request and three redirects


def test_redirect_to_a_local_file_is_refused(feed_server: FeedServer) -> None:
    result = fetch(feed_server.redirect("/sneaky", "file:///etc/passwd"))
    assert result.status == "error" and result.error == "redirect to unsupported URL scheme file:"


@pytest.mark.parametrize(
    "url", ["ftp://127.0.0.1/feed.xml", "file:///etc/hosts", "javascript:alert(1)", "/etc/hosts", "feed.xml"]
)
def test_only_http_and_https_are_fetched(url: str) -> None:
    result = fetch(url)
    assert result.status == "error"
    assert "unsupported URL scheme" in result.error and "(only http and https)" in result.error


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:abc/", "invalid URL: port can't be converted to integer"),
        ("http:///feed.xml", "invalid URL: no host"),
    ],
)
def test_invalid_url_is_an_error(url: str, message: str) -> None:
    result = fetch(url)
    assert result.status == "error" and result.error == message


# -- fetch_many --------------------------------------------------------------------


def test_fetch_many_runs_concurrently_and_yields_as_completed(feed_server: FeedServer, tmp_path: Path) -> None:
    slow = [(feed_server.slow(f"/slow{i}", delay=0.4, body=FEED), Validators()) for i in range(10)]
    fast = feed_server.static("/fast.xml", FEED)
    local = tmp_path / "local.xml"
    local.write_bytes(FEED)
    targets = [
        *slow,
        (fast, Validators()),
        (feed_server.url("/missing"), Validators()),
        (str(local), Validators()),
        (local.as_uri(), Validators()),
        (str(tmp_path / "absent.xml"), Validators()),
    ]

    started = time.monotonic()
    results = collect(targets)
    took = time.monotonic() - started

    assert Counter(r.url for r in results) == Counter(url for url, _ in targets)
    assert took < 1.5  # ten 0.4 s fetches one after another would take 4 s
    by_url = {r.url: r for r in results}
    assert all(by_url[url].status == "ok" for url, _ in slow)
    assert by_url[fast].status == "ok"
    assert by_url[feed_server.url("/missing")].error == "HTTP 404 Not Found"
    assert by_url[str(local)].body == FEED and by_url[local.as_uri()].body == FEED
    assert by_url[str(tmp_path / "absent.xml")].error == f"no such file: {tmp_path / 'absent.xml'}"
    order = [r.url for r in results]
    assert order.index(fast) < min(order.index(url) for url, _ in slow)


def test_fetch_many_respects_concurrency(feed_server: FeedServer) -> None:
    targets = [(feed_server.slow(f"/s{i}", delay=0.25, body=FEED), Validators()) for i in range(4)]
    policy = FetchPolicy(read_timeout=2, total_deadline=3, concurrency=2)

    started = time.monotonic()
    results = collect(targets, policy)

    assert [r.status for r in results] == ["ok"] * 4
    assert time.monotonic() - started >= 0.5  # two rounds of two


def test_fetch_many_keeps_no_body_its_caller_let_go(feed_server: FeedServer) -> None:
    # Each finished fetch task used to keep its result, so every body of a cycle stayed in
    # memory until the last feed was in (80 MB at 4,000 feeds).
    body = FEED.replace(b"<title>T</title>", b"<title>T</title>" + b"<!-- padding -->" * 8000)  # ~128 KB
    targets = [(feed_server.static(f"/big{i}.xml", body), Validators()) for i in range(40)]
    policy = FetchPolicy(read_timeout=2, total_deadline=5, max_bytes=1024 * 1024, concurrency=4)

    async def go() -> tuple[int, int]:
        statuses = held = 0
        async for result in fetch_many(targets, policy):
            statuses += result.status == "ok"
            del result
            if statuses == len(targets):  # every fetch done, and fetch_many not finished yet
                held = tracemalloc.get_traced_memory()[0]
        return statuses, held

    tracemalloc.start()
    try:
        ok, held = asyncio.run(go())
    finally:
        tracemalloc.stop()

    assert ok == 40
    assert held < 10 * len(body)  # the 40 bodies (5 MB) are not all still held


def test_fetch_many_sends_validators_and_leaves_a_given_client_open(feed_server: FeedServer) -> None:
    url = feed_server.static("/feed.xml", FEED, etag='"v1"')

    async def go() -> tuple[list[FetchResult], bool]:
        async with make_client(FAST) as client:
            results = [r async for r in fetch_many([(url, Validators('"v1"'))], FAST, client)]
            return results, client.is_closed

    results, closed = asyncio.run(go())

    assert [r.status for r in results] == ["not_modified"]
    assert not closed


def test_idle_connections_are_kept_for_at_most_concurrency_hosts(feed_server: FeedServer, monkeypatch) -> None:
    # Twenty host names for one loopback server: twenty hosts to the client.
    names = [f"feeds{i}.test" for i in range(20)]
    monkeypatch.setattr(socket, "getaddrinfo", FakeDNS({name: [["127.0.0.1"]] for name in names}).getaddrinfo)
    feed_server.static("/feed.xml", FEED)
    policy = FetchPolicy(connect_timeout=1, read_timeout=1, total_deadline=2, concurrency=3)
    made: list[socket.socket] = []

    def sockets(addr_info: tuple) -> socket.socket:
        family, kind, proto, _, _ = addr_info
        made.append(socket.socket(family, kind, proto))
        return made[-1]

    async def go() -> tuple[list[str], int]:
        async with make_client(policy, socket_factory=sockets) as client:
            statuses = [
                (await fetch_feed(client, f"http://{name}:{feed_server.port}/feed.xml", policy=policy)).status
                for name in names
            ]
            await asyncio.sleep(0.05)  # transports close their sockets on the next loop turns
            return statuses, sum(1 for made_socket in made if made_socket.fileno() != -1)

    statuses, still_open = asyncio.run(go())

    assert statuses == ["ok"] * len(names) and len(made) == len(names)
    assert still_open == 3  # one idle connection for each of the last three hosts, not twenty


def test_fetch_many_with_no_targets() -> None:
    assert collect([]) == []


def test_example_feeds_served_from_a_directory(feed_server: FeedServer) -> None:
    urls = feed_server.serve_directory(EXAMPLES, prefix="/feeds/", pattern="*.xml")
    assert len(urls) == 5

    first = {r.url: r for r in collect([(u, Validators()) for u in urls.values()], FetchPolicy())}
    again = collect([(u, Validators(r.etag, r.last_modified)) for u, r in first.items()], FetchPolicy())

    for name, url in urls.items():
        assert first[url].status == "ok" and first[url].body == (EXAMPLES / name).read_bytes()
    assert {r.status for r in again} == {"not_modified"}


# -- local files ---------------------------------------------------------------------


def test_read_local(tmp_path: Path) -> None:
    path = tmp_path / "feed.xml"
    path.write_bytes(FEED)

    for target in (str(path), path.as_uri()):
        result = read_local(target)
        assert result.status == "ok" and result.body == FEED and result.url == target


def test_read_local_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.xml"
    assert read_local(str(missing)).error == f"no such file: {missing}"
    assert read_local(missing.as_uri()).error == f"no such file: {missing}"


def test_read_local_respects_max_bytes(tmp_path: Path) -> None:
    path = tmp_path / "big.xml"
    path.write_bytes(b"x" * 101)
    result = read_local(str(path), FetchPolicy(max_bytes=100))
    assert result.status == "error" and result.error == f"file larger than 100 bytes: {path}"
    assert read_local(str(path), FetchPolicy(max_bytes=101)).status == "ok"


def test_read_local_refuses_other_url_schemes() -> None:
    assert "unsupported URL scheme ftp:" in read_local("ftp://example.org/feed.xml").error


@pytest.mark.parametrize(
    ("target", "local"),
    [
        ("http://example.org/feed", False),
        ("HTTPS://example.org/feed", False),
        ("file:///tmp/feed.xml", True),
        ("examples/feeds/seoul-wire.xml", True),
        ("/abs/feed.xml", True),
        ("ftp://example.org/feed", True),
    ],
)
def test_is_local(target: str, local: bool) -> None:
    assert is_local(target) is local


def test_make_client_applies_the_policy() -> None:
    policy = FetchPolicy(connect_timeout=1.5, read_timeout=2.5, max_redirects=2, concurrency=7)

    async def go() -> FetchClient:
        async with make_client(policy) as client:
            assert client.checks_addresses and client.max_redirects == 2
            for session in (client.direct, client.checked):
                assert session.timeout.sock_connect == 1.5 and session.timeout.sock_read == 2.5
                assert session.headers["user-agent"] == policy.user_agent
                assert not session.auto_decompress and not session.trust_env
                assert session.connector is not None
                assert session.connector.limit == 7 and session.connector.limit_per_host == 7
            return client

    assert asyncio.run(go()).is_closed
