"""The address guard holds where it matters: at connect time, on every hop and every poll.

Two loopback servers stand in for the world: ``public`` is a legitimate feed host (its
port is the one endpoint the test setting lets count as public) and ``inside`` is a
service in the bot's own network (loopback, like every other address, is refused for
it). :class:`~fakedns.FakeDNS` decides what names resolve to and
:class:`~fakedns.LoopbackOnly` makes sure nothing but 127.0.0.1 is ever dialled.
"""

from __future__ import annotations

import asyncio
import ipaddress
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fakedns import FakeDNS, LoopbackOnly
from feedserver import FeedServer
from processes import free_port

from botsvc.ingest.addresses import ALLOW_PRIVATE_ENV, AddressGuard, forbidden_address, internal_host, loose_ipv4
from botsvc.ingest.connect import AddressRefused, CheckedResolver, FetchClient, checked_sockets
from botsvc.ingest.fetch import UNREACHABLE, FetchPolicy, FetchResult, fetch_feed, make_client
from botsvc.models import CommandContext
from botsvc.service.app import open_app
from botsvc.service.cycle import run_cycle

ROOT = Path(__file__).resolve().parents[1]
FEED = (ROOT / "examples" / "feeds" / "seoul-wire.xml").read_bytes()
FAST = FetchPolicy(connect_timeout=1.0, read_timeout=0.5, total_deadline=3.0, max_redirects=4)
MANAGER = CommandContext(platform="slack", channel="C1", workspace="T1", user="U1", can_manage=True)

NUMERIC_LOOPBACK = [
    "2130706433",
    "0x7f.1",
    "017700000001",
    "127.1",
    "0",
    "0x7f000001",
    "0177.0.0.1",
    "127.0.0.1",
    "127.0.0.2",
    "[::1]",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "localhost",
]
EMBEDDED = {  # names whose only address is internal, written in IPv6 or in shared space
    "cgnat.test": "100.64.0.1",
    "alibaba-metadata.test": "100.100.100.200",
    "sixtofour.test": "2002:7f00:1::",
    "nat64.test": "64:ff9b::7f00:1",
    "nat64-local.test": "64:ff9b:1::a00:1",
    "teredo.test": "2001:0:4136:e378:8000:63bf:80ff:fffe",
    "mapped.test": "::ffff:169.254.169.254",
    "compatible.test": "::127.0.0.1",
    "translated.test": "::ffff:0:a00:1",
}


@dataclass
class Net:
    public: FeedServer
    inside: FeedServer
    dns: FakeDNS
    backend: LoopbackOnly

    def public_url(self, path: str) -> str:
        return f"http://public.test:{self.public.port}{path}"

    def fetch(self, url: str, *, public_only: bool = False, policy: FetchPolicy = FAST) -> FetchResult:
        async def go() -> FetchResult:
            async with make_client(policy, socket_factory=self.backend) as client:
                return await fetch_feed(client, url, policy=policy, public_only=public_only)

        return asyncio.run(go())

    def redirect_to(self, location: str) -> str:
        """A feed URL on the public host that redirects to ``location``."""
        return self.public.redirect("/moved", location)


@pytest.fixture
def net(monkeypatch: pytest.MonkeyPatch) -> Iterator[Net]:
    with FeedServer() as public, FeedServer() as inside:
        public.static("/feed.xml", FEED)
        inside.static("/feed.xml", b"<rss><channel><title>internal</title></channel></rss>")
        dns = FakeDNS(
            {
                "public.test": [["127.0.0.1"]],
                "evil.test": [["127.0.0.1"]],
                "mixed.test": [["93.184.216.34", "127.0.0.1"]],
            }
        )
        for name, address in EMBEDDED.items():
            dns.set(name, [address])
        monkeypatch.setattr(socket, "getaddrinfo", dns.getaddrinfo)
        monkeypatch.setenv(ALLOW_PRIVATE_ENV, f"127.0.0.1:{public.port}")
        net = Net(public, inside, dns, LoopbackOnly())
        yield net
        assert net.backend.stopped == [], "something tried to connect beyond 127.0.0.1"


# -- address forms ------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "127.1",
        "0x7f.1",
        "0X7F.1",
        "017700000001",
        "2130706433",
        "0",
        "0x7f000001",
        "0177.0.0.1",
        "1.2.65535",
        "1.16777215",
        "4294967295",
        "10.0.0.1",
        "00",
        "4294967296",
        "0x100000000",
        "1.2.3.256",
        "1.2.3.4.5",
        "08",
        "0x",
        "00x1",
        "1..2",
        "1.2.",
        "127.0.0.1.",
        "",
        "example.org",
        "0x7g.1",
        "1e3",
    ],
)
def test_loose_ipv4_reads_addresses_like_inet_aton(text: str) -> None:
    try:
        expected = ipaddress.IPv4Address(socket.inet_aton(text))
    except OSError:
        expected = None
    assert loose_ipv4(text) == expected


@pytest.mark.parametrize("host", [h.strip("[]") for h in NUMERIC_LOOPBACK])
def test_every_way_of_writing_loopback_is_internal(host: str) -> None:
    reason = internal_host(host)
    assert reason in ("a loopback address", "an unspecified address") or "loopback" in reason


@pytest.mark.parametrize(
    "address,reason",
    [
        ("100.64.0.1", "carrier-grade NAT"),
        ("100.127.255.254", "carrier-grade NAT"),
        ("100.100.100.200", "metadata"),
        ("2002:7f00:1::", "loopback address (inside a 6to4"),
        ("2002:a9fe:a9fe::1", "metadata address (inside a 6to4"),
        ("64:ff9b::7f00:1", "loopback address (inside a NAT64"),
        ("64:ff9b::a00:1", "private address (inside a NAT64"),
        ("64:ff9b:1::1", "local-use NAT64"),
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback address (inside a Teredo"),
        ("::ffff:10.0.0.1", "private"),
        ("::127.0.0.1", "loopback"),
        ("::ffff:0:a00:1", "private"),
        ("fe80::1%eth0", "link-local"),
        ("192.0.0.8", "special-purpose"),
        ("192.88.99.1", "special-purpose"),
        ("3fff::1", "special-purpose"),
        ("240.0.0.1", "reserved"),
        ("2001:db8::1", "private"),
    ],
)
def test_internal_addresses_in_every_disguise_are_forbidden(address: str, reason: str) -> None:
    assert reason in (forbidden_address(address) or "")


@pytest.mark.parametrize(
    "address",
    [
        "93.184.216.34",
        "2606:4700::1111",
        "64:ff9b::5db8:d822",
        "::ffff:93.184.216.34",
        "100.128.0.1",
        "2002:5db8:d822::1",
    ],
)
def test_public_addresses_and_their_translations_are_allowed(address: str) -> None:
    assert forbidden_address(address) is None


def test_the_test_setting_admits_only_the_endpoints_it_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ALLOW_PRIVATE_ENV, "127.0.0.1:8123, [::1]:80")
    guard = AddressGuard.from_env()
    assert guard.refusal("127.0.0.1", 8123) is None and guard.refusal("::1", 80) is None
    assert guard.refusal("127.0.0.1", 8124) == "a loopback address"
    monkeypatch.setenv(ALLOW_PRIVATE_ENV, "yes")
    with pytest.raises(ValueError, match=ALLOW_PRIVATE_ENV):
        AddressGuard.from_env()


# -- redirects -------------------------------------------------------------------


@pytest.mark.parametrize("public_only", [False, True], ids=["configured", "chat"])
@pytest.mark.parametrize("host", NUMERIC_LOOPBACK)
def test_a_redirect_to_loopback_in_any_form_is_refused_before_it_is_requested(
    net: Net, host: str, public_only: bool
) -> None:
    url = net.redirect_to(f"http://{host}:{net.inside.port}/feed.xml")

    result = net.fetch(net.public_url("/moved"), public_only=public_only)

    assert result.status == "error" and result.body is None
    if public_only:
        assert result.error == UNREACHABLE
    else:  # httpx itself rejects 0177.0.0.1 as an invalid URL; the rest reach the check
        assert f"refused: {internal_host(host)}" in result.error or "invalid url" in result.error.lower()
    assert net.inside.requests == []
    assert url.endswith("/moved") and len(net.public.requests_to("/moved")) == 1


@pytest.mark.parametrize("public_only", [False, True], ids=["configured", "chat"])
def test_a_redirect_to_a_name_that_resolves_to_loopback_is_refused_at_connect(net: Net, public_only: bool) -> None:
    net.redirect_to(f"http://evil.test:{net.inside.port}/feed.xml")

    result = net.fetch(net.public_url("/moved"), public_only=public_only)

    assert result.status == "error"
    if not public_only:
        assert result.error == "redirect to evil.test refused: resolves to 127.0.0.1, a loopback address"
    assert net.inside.requests == []
    assert [port for _, port in net.backend.dialed] == [net.public.port]


def test_a_name_with_one_internal_address_among_public_ones_is_refused(net: Net) -> None:
    net.redirect_to(f"http://mixed.test:{net.inside.port}/feed.xml")

    result = net.fetch(net.public_url("/moved"))

    assert result.error == "redirect to mixed.test refused: resolves to 127.0.0.1, a loopback address"
    assert all(host != "93.184.216.34" for host, _ in net.backend.dialed)


@pytest.mark.parametrize("name", sorted(EMBEDDED))
def test_shared_space_and_ipv6_embeddings_of_internal_addresses_are_refused(net: Net, name: str) -> None:
    net.redirect_to(f"http://{name}:{net.inside.port}/feed.xml")

    result = net.fetch(net.public_url("/moved"))

    assert result.status == "error" and result.error.startswith(f"redirect to {name} refused: resolves to ")
    assert forbidden_address(EMBEDDED[name]) in result.error
    assert net.backend.dialed == [("127.0.0.1", net.public.port)]  # nothing else was dialled


def test_an_intermediate_hop_is_checked_before_it_is_requested(net: Net) -> None:
    # public -> evil.test (inside) -> back to public: the middle hop must stop the chain.
    net.inside.redirect("/hop", net.public_url("/feed.xml"))
    net.public.redirect("/start", f"http://evil.test:{net.inside.port}/hop")

    result = net.fetch(net.public_url("/start"), public_only=True)

    assert result.status == "error" and result.error == UNREACHABLE
    assert net.inside.requests == [] and net.public.requests_to("/feed.xml") == []


def test_a_configured_feed_may_be_internal_and_redirect_on_its_own_host(net: Net) -> None:
    net.inside.redirect("/old.xml", "/feed.xml")

    result = net.fetch(net.inside.url("/old.xml"))

    assert result.status == "ok" and b"internal" in (result.body or b"")


def test_a_configured_internal_feed_may_not_redirect_to_a_different_internal_host(net: Net) -> None:
    net.inside.redirect("/elsewhere", f"http://evil.test:{net.inside.port}/feed.xml")
    net.inside.redirect("/loopback", f"http://localhost:{net.inside.port}/feed.xml")
    net.dns.set("evil.test", ["10.0.0.7"])

    assert (
        net.fetch(net.inside.url("/elsewhere")).error
        == "redirect to evil.test refused: resolves to 10.0.0.7, a private address"
    )
    assert net.fetch(net.inside.url("/loopback")).error == "redirect to localhost refused: a loopback address"
    assert [r.path for r in net.inside.requests] == ["/elsewhere", "/loopback"]


# -- connect time ------------------------------------------------------------------


def test_dns_rebinding_cannot_switch_the_address_after_the_check(net: Net) -> None:
    # First answer: the public server. Any later lookup: an internal address. The check
    # and the connection must use the same, single lookup.
    net.dns.set("rebind.test", ["127.0.0.1"], ["100.64.0.1"])
    url = f"http://rebind.test:{net.public.port}/feed.xml"

    result = net.fetch(url, public_only=True)

    assert result.status == "ok" and result.body == FEED
    assert net.dns.lookups.count("rebind.test") == 1
    assert net.backend.dialed == [("127.0.0.1", net.public.port)]
    assert net.public.requests_to("/feed.xml")[0].header("host") == f"rebind.test:{net.public.port}"

    # The next fetch (a later poll) looks the name up again, gets the internal address, and stops.
    again = net.fetch(url, public_only=True)
    assert again.error == UNREACHABLE and len(net.public.requests_to("/feed.xml")) == 1


def test_dns_rebinding_from_a_public_address_to_loopback_reaches_nothing(net: Net) -> None:
    # Checked: 93.184.216.34 (public). A client that looked the name up again would get
    # 127.0.0.1 and reach the inside server. The test network stops the public dial.
    net.dns.set("rebind.test", ["93.184.216.34"], ["127.0.0.1"])

    result = net.fetch(f"http://rebind.test:{net.inside.port}/feed.xml", public_only=True)

    assert result.error == UNREACHABLE and net.inside.requests == []
    assert net.backend.stopped == [("93.184.216.34", net.inside.port)]
    net.backend.stopped.clear()


def test_the_checked_resolver_hands_over_the_checked_address_not_the_name(monkeypatch) -> None:
    dns = FakeDNS({"feeds.example.org": [["93.184.216.34"], ["127.0.0.1"]]})
    monkeypatch.setattr(socket, "getaddrinfo", dns.getaddrinfo)

    answers = asyncio.run(CheckedResolver(AddressGuard(), 1.0).resolve("feeds.example.org", 443))

    # aiohttp dials "host" as given (a numeric address, never looked up again) and keeps
    # "hostname" for TLS; the second, internal answer is never asked for.
    assert [(a["host"], a["hostname"], a["port"]) for a in answers] == [("93.184.216.34", "feeds.example.org", 443)]
    assert all(a["flags"] & socket.AI_NUMERICHOST for a in answers)
    assert dns.lookups == ["feeds.example.org"]


def test_the_checked_resolver_refuses_a_name_with_any_internal_address(monkeypatch) -> None:
    dns = FakeDNS({"mixed.example.org": [["93.184.216.34", "10.1.2.3"]]})
    monkeypatch.setattr(socket, "getaddrinfo", dns.getaddrinfo)

    with pytest.raises(AddressRefused, match="resolves to 10.1.2.3, a private address"):
        asyncio.run(CheckedResolver(AddressGuard(), 1.0).resolve("mixed.example.org", 443))


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.1", "169.254.169.254", "::1", "::ffff:127.0.0.1"])
def test_the_checked_sockets_refuse_an_internal_address_whatever_handed_it_over(address: str) -> None:
    # The last line of defence: a literal address in a URL never reaches a resolver.
    made: list[tuple] = []

    def recorder(addr_info: tuple) -> socket.socket:
        made.append(addr_info)
        raise AssertionError("a socket was made")

    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with pytest.raises(AddressRefused, match=f"{address} refused: "):
        checked_sockets(AddressGuard(), recorder)((family, socket.SOCK_STREAM, 6, "", (address, 80)))
    assert made == []


def test_a_client_without_the_checking_connector_is_refused_for_chat_feeds(net: Net) -> None:
    import aiohttp

    async def go() -> FetchResult:
        async with FetchClient(aiohttp.ClientSession(), aiohttp.ClientSession(), max_redirects=4) as client:
            return await fetch_feed(client, net.public_url("/feed.xml"), policy=FAST, public_only=True)

    assert asyncio.run(go()).error == UNREACHABLE
    assert net.public.requests == [] and net.backend.dialed == []


# -- one answer for every failure ---------------------------------------------------------


def test_chat_feeds_get_one_error_line_whatever_failed(net: Net, monkeypatch: pytest.MonkeyPatch) -> None:
    closed = free_port()
    monkeypatch.setenv(ALLOW_PRIVATE_ENV, f"127.0.0.1:{net.public.port},127.0.0.1:{closed}")
    net.public.status("/missing.xml", 404)
    net.public.slow("/slow.xml", 2.0)
    urls = {
        "blocked": f"http://evil.test:{net.inside.port}/feed.xml",
        "refused": f"http://public.test:{closed}/feed.xml",
        "404": net.public_url("/missing.xml"),
        "timeout": net.public_url("/slow.xml"),
        "redirected inside": net.redirect_to(f"http://evil.test:{net.inside.port}/feed.xml"),
    }
    errors = {
        kind: net.fetch(url.replace("127.0.0.1", "public.test"), public_only=True).error for kind, url in urls.items()
    }
    assert set(errors.values()) == {UNREACHABLE}, errors
    assert net.inside.requests == []

    # Configured feeds keep the detail for the operator.
    details = {net.fetch(urls[kind]).error for kind in ("refused", "404", "timeout", "redirected inside")}
    assert len(details) == 4 and None not in details


# -- through chat and polls ---------------------------------------------------------------


def test_feed_add_and_later_polls_check_the_address_every_time(net: Net, tmp_path, monkeypatch) -> None:
    app = open_app(ROOT / "examples" / "feeds.toml", tmp_path / "bot.db")
    try:
        commands = app.commands()
        inside = f"http://evil.test:{net.inside.port}/feed.xml"
        missing = net.public_url("/missing.xml")
        for url in (inside, missing, f"http://2130706433:{net.inside.port}/feed.xml"):
            reply = asyncio.run(commands.run(f"feed add {url}", MANAGER))
            assert reply.title == f"Not added: {UNREACHABLE}."
        assert net.inside.requests == []

        url = net.public_url("/feed.xml")
        assert asyncio.run(commands.run(f"feed add {url} Wire", MANAGER)).ok
        chat_target = [t for t in app.targets() if t.url == url]
        first = asyncio.run(run_cycle(app.store, app.processor, chat_target, app.policy))
        assert first.feeds[0].status in ("ok", "not_modified")

        # Later the address is no longer acceptable: the next poll checks again and sends nothing.
        monkeypatch.setenv(ALLOW_PRIVATE_ENV, "")
        asked_before = len(net.public.requests)
        later = asyncio.run(run_cycle(app.store, app.processor, chat_target, app.policy))
        assert later.feeds[0].status == "error" and later.feeds[0].error == UNREACHABLE
        assert len(net.public.requests) == asked_before
        assert app.store.feed_state("Wire").last_error == UNREACHABLE
        feeds = asyncio.run(commands.run("feeds", MANAGER))
        assert any(UNREACHABLE in line.text and "added from chat" in line.text for line in feeds.lines)
    finally:
        app.close()


# -- TLS still checks the host name --------------------------------------------------


class _TLSFeed(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", str(len(FEED)))
        self.end_headers()
        self.wfile.write(FEED)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_tls_is_verified_against_the_host_name_not_the_checked_address(net: Net, tmp_path, monkeypatch) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=public.test",
            "-addext",
            "subjectAltName=DNS:public.test",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _TLSFeed)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
    try:
        port = server.server_address[1]
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        monkeypatch.setenv(ALLOW_PRIVATE_ENV, f"127.0.0.1:{port}")
        net.dns.set("other.test", ["127.0.0.1"])

        good = net.fetch(f"https://public.test:{port}/feed.xml", public_only=True)
        assert good.status == "ok" and good.body == FEED
        wrong = net.fetch(f"https://other.test:{port}/feed.xml")
        assert wrong.status == "error" and wrong.error.startswith("TLS certificate not accepted")
    finally:
        server.shutdown()
        server.server_close()
