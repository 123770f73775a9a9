"""SSRF run: every way of pointing the bot into its own network, tried through the real fetch path.

A loopback "public" feed server (the one endpoint the test setting lets count as
public) and a loopback "inside" server (a service the bot must never reach) stand in
for the world; a fake resolver decides what names resolve to and the network backend
underneath dials nothing but 127.0.0.1. Each form of internal address is tried three
ways: as the redirect target of an operator-configured feed (leaving its host), as the
redirect target of a feed added from chat, and as a chat-added feed's own address.

    .venv/bin/python benchmarks/fault_ssrf.py

Prints ``ssrf: forms tried``, ``ssrf: refused`` and ``ssrf: requests reaching the
target`` (must be 0); exits 1 if anything got through.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from botsvc.ingest.addresses import ALLOW_PRIVATE_ENV  # noqa: E402
from botsvc.ingest.fetch import FetchPolicy, FetchResult, fetch_feed, make_client  # noqa: E402
from tests.fakedns import FakeDNS, LoopbackOnly  # noqa: E402
from tests.feedserver import FeedServer  # noqa: E402

POLICY = FetchPolicy(connect_timeout=1.0, read_timeout=1.0, total_deadline=3.0, max_redirects=4)
FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>inside</title></channel></rss>'

LITERAL_FORMS = [
    "2130706433",
    "0x7f.1",
    "017700000001",
    "127.1",
    "0",
    "0x7f000001",
    "127.0.0.1",
    "127.0.0.2",
    "localhost",
    "[::1]",
    "[::ffff:127.0.0.1]",
    "[::127.0.0.1]",
    "169.254.169.254",
    "10.0.0.1",
    "100.64.0.1",
    "[fd00:ec2::254]",
    "[2002:7f00:1::]",
    "[64:ff9b::7f00:1]",
    "[2001:0:4136:e378:8000:63bf:80ff:fffe]",
]
NAMES = {  # name -> answers, one list per lookup (the last repeats)
    "loopback.test": [["127.0.0.1"]],
    "mixed.test": [["93.184.216.34", "127.0.0.1"]],
    "rebind.test": [["93.184.216.34"], ["127.0.0.1"]],  # public when checked, loopback after
    "cgnat.test": [["100.64.0.1"]],
    "metadata.test": [["169.254.169.254"]],
    "mapped.test": [["::ffff:127.0.0.1"]],
    "sixtofour.test": [["2002:7f00:1::"]],
    "nat64.test": [["64:ff9b::7f00:1"]],
    "teredo.test": [["2001:0:4136:e378:8000:63bf:80ff:fffe"]],
}
WAYS = ("configured feed redirect", "chat feed redirect", "chat feed address")


@contextlib.contextmanager
def _environment(name: str, value: str) -> Iterator[None]:
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


async def _fetch(url: str, public_only: bool, backend: LoopbackOnly) -> FetchResult:
    async with make_client(POLICY, socket_factory=backend) as client:
        return await fetch_feed(client, url, policy=POLICY, public_only=public_only)


def run_ssrf() -> dict[str, object]:
    """Try every form every way; return the counts (and any form that got through)."""
    tried = refused = 0
    through: list[str] = []
    with FeedServer() as public, FeedServer() as inside:
        inside.static("/feed.xml", FEED)
        dns = FakeDNS({"public.test": [["127.0.0.1"]]})
        backend = LoopbackOnly()
        with dns.installed(), _environment(ALLOW_PRIVATE_ENV, f"127.0.0.1:{public.port}"):
            for form in LITERAL_FORMS + sorted(NAMES):
                target = f"http://{form}:{inside.port}/feed.xml"
                for way in WAYS:
                    for name, answers in NAMES.items():  # every way starts from a first lookup
                        dns.set(name, *answers)
                    dns.lookups.clear()
                    if way == "chat feed address":
                        url = target
                    else:
                        public.redirect("/moved", target)
                        url = f"http://public.test:{public.port}/moved"
                    before = len(inside.requests)
                    result = asyncio.run(_fetch(url, way != "configured feed redirect", backend))
                    tried += 1
                    if result.status == "error" and len(inside.requests) == before:
                        refused += 1
                    else:
                        through.append(f"{form} ({way}): {result.status} {result.error or ''}".strip())
        reached = len(inside.requests)
    return {
        "forms": len(LITERAL_FORMS) + len(NAMES),
        "tried": tried,
        "refused": refused,
        "reaching": reached,
        "stopped beyond loopback": len(backend.stopped),
        "through": through,
    }


def main() -> int:
    figures = run_ssrf()
    print(f"ssrf: forms tried: {figures['tried']} ({figures['forms']} forms x {len(WAYS)} ways)")
    print(f"ssrf: refused: {figures['refused']}")
    print(f"ssrf: requests reaching the target: {figures['reaching']}")
    print(f"ssrf: dials beyond 127.0.0.1 stopped by the test network: {figures['stopped beyond loopback']}")
    for line in figures["through"]:  # type: ignore[union-attr]
        print(f"ssrf: GOT THROUGH: {line}")
    return 0 if figures["refused"] == figures["tried"] and figures["reaching"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
