"""Connecting only to checked addresses, so a name cannot be re-pointed between check and use.

Checking a host name and then letting the HTTP client resolve it again leaves a gap
(DNS rebinding: public on the first lookup, 127.0.0.1 on the second). Here the check
sits in the connection layer instead: :class:`CheckedResolver` resolves the name once and
refuses unless every address it resolves to passes the :class:`AddressGuard`; aiohttp
then dials exactly the addresses it returned, and the socket factory of
:class:`CheckedConnector` checks each one again as it is dialled (addresses written in
the URL never reach a resolver). TLS still starts with the URL's host name (SNI and
certificate check) and ``Host`` still carries it.

:class:`FetchClient` holds two aiohttp sessions: requests for checked fetches go through
the checked connector (connections are never shared with the other session), the rest
connect directly (operator-configured feeds may live inside the network). aiohttp keeps
idle connections per host in a dict, so finding one costs the same whatever the pool holds.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.client_proto import ResponseHandler
from aiohttp.client_reqrep import ConnectionKey
from aiohttp.resolver import ThreadedResolver

from botsvc.ingest.addresses import AddressGuard, IPAddress, literal_address

AddrInfo = tuple[int, int, int, str, tuple[Any, ...]]
SocketFactory = Callable[[AddrInfo], socket.socket]
"""Makes the socket for one address about to be dialled (``family, type, proto, _, sockaddr``)."""
RequestHook = Callable[[str], Awaitable[None]]


class AddressRefused(OSError):
    """The host resolves to an address the guard refuses; nothing was sent to it."""

    def __init__(self, host: str, address: IPAddress, reason: str) -> None:
        self.host = host
        self.reason = reason if literal_address(host) is not None else f"resolves to {address}, {reason}"
        super().__init__(f"{host} refused: {self.reason}")


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` stands for: any literal form is parsed, a name is looked up once."""
    literal = literal_address(host)
    if literal is not None:
        return [literal]
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[IPAddress] = []
    for info in infos:
        address = literal_address(str(info[4][0]))
        if address is not None and address not in addresses:
            addresses.append(address)
    if not addresses:
        raise socket.gaierror(socket.EAI_NONAME, f"no address for {host}")
    return addresses


class TimedResolver(AbstractResolver):
    """aiohttp's own resolver, with the connect timeout covering the lookup too (a DNS
    server that never answers is a connect failure, not a wait until the total deadline)."""

    def __init__(self, timeout: float | None) -> None:
        self.inner = ThreadedResolver()
        self.timeout = timeout

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        try:
            async with asyncio.timeout(self.timeout):
                return await self.inner.resolve(host, port, family)
        except TimeoutError as exc:
            raise aiohttp.ConnectionTimeoutError(f"resolving {host} timed out") from exc

    async def close(self) -> None:
        await self.inner.close()


class CheckedResolver(AbstractResolver):
    """Resolves once and returns only checked addresses: all or nothing, so a name with one
    internal address among public ones is refused."""

    def __init__(self, guard: AddressGuard, timeout: float | None) -> None:
        self.guard = guard
        self.timeout = timeout

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        try:
            async with asyncio.timeout(self.timeout):
                addresses = await resolve(host, port)
        except TimeoutError as exc:
            raise aiohttp.ConnectionTimeoutError(f"resolving {host} timed out") from exc
        except UnicodeError as exc:
            raise OSError(f"could not resolve {host}: {exc}") from exc
        for address in addresses:
            reason = self.guard.refusal(address, port)
            if reason:
                raise AddressRefused(host, address, reason)
        return [
            ResolveResult(
                hostname=host,
                host=str(address),
                port=port,
                family=socket.AF_INET6 if address.version == 6 else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
            )
            for address in addresses
        ]

    async def close(self) -> None:
        """Nothing to release: lookups use the event loop's resolver."""


def plain_socket(addr_info: AddrInfo) -> socket.socket:
    """A socket as aiohttp would make it itself."""
    family, kind, proto, _, _ = addr_info
    return socket.socket(family=family, type=kind, proto=proto)


def checked_sockets(guard: AddressGuard, inner: SocketFactory | None = None) -> SocketFactory:
    """A socket factory that refuses to make a socket for an address the guard refuses."""
    make = inner or plain_socket

    def factory(addr_info: AddrInfo) -> socket.socket:
        address, port = str(addr_info[4][0]), int(addr_info[4][1])
        reason = guard.refusal(address, port)
        if reason:
            parsed = literal_address(address)
            assert parsed is not None  # the guard parsed it already
            raise AddressRefused(address, parsed, reason)
        return make(addr_info)

    return factory


class PoolConnector(aiohttp.TCPConnector):
    """aiohttp's TCP connector, keeping idle connections to at most ``idle_hosts`` hosts.

    aiohttp keeps every idle connection until its keep-alive runs out (15 s) and does not
    count idle ones against ``limit``: a cycle over a thousand feeds on a thousand hosts
    would hold a thousand open sockets. Past ``idle_hosts``, the host that has had idle
    connections longest loses them (``_conns`` keeps insertion order; len() and the first
    key are O(1)).
    """

    def __init__(self, *, idle_hosts: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.idle_hosts = max(1, idle_hosts)

    def _release(self, key: ConnectionKey, protocol: ResponseHandler, *, should_close: bool = False) -> None:
        super()._release(key, protocol, should_close=should_close)
        while len(self._conns) > self.idle_hosts:
            oldest = next(iter(self._conns))
            for idle, _ in self._conns.pop(oldest):
                transport = idle.transport
                idle.close()
                if not self._cleanup_closed_disabled and oldest.is_ssl and transport is not None:
                    self._cleanup_closed_transports.append(transport)


class CheckedConnector(PoolConnector):
    """A TCP connector that connects only to addresses the guard accepts, looked up once per connection."""

    def __init__(
        self,
        guard: AddressGuard,
        *,
        resolve_timeout: float | None,
        socket_factory: SocketFactory | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            resolver=CheckedResolver(guard, resolve_timeout),
            use_dns_cache=False,  # every new connection is looked up, and checked, again
            socket_factory=checked_sockets(guard, socket_factory),
            **kwargs,
        )
        self.guard = guard


class FetchClient:
    """The HTTP client of one poll cycle: direct connections, and checked ones for requests
    that must reach only public addresses. Use as ``async with make_client(policy) as client``."""

    def __init__(self, direct: aiohttp.ClientSession, checked: aiohttp.ClientSession, *, max_redirects: int) -> None:
        self.direct = direct
        self.checked = checked
        self.max_redirects = max_redirects
        self.request_hooks: list[RequestHook] = []
        """Awaited with each URL just before it is requested (every redirect hop is a request)."""

    def session(self, checked: bool) -> aiohttp.ClientSession:
        return self.checked if checked else self.direct

    @property
    def checks_addresses(self) -> bool:
        """True when the checked session really connects through a :class:`CheckedConnector`."""
        return isinstance(self.checked.connector, CheckedConnector)

    @property
    def is_closed(self) -> bool:
        return self.direct.closed and self.checked.closed

    async def aclose(self) -> None:
        try:
            await self.direct.close()
        finally:
            await self.checked.close()

    async def __aenter__(self) -> FetchClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
