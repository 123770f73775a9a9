"""Connecting only to checked addresses, so a name cannot be re-pointed between check and use.

Checking a host name and then letting the HTTP client resolve it again leaves a gap
(DNS rebinding: public on the first lookup, 127.0.0.1 on the second). Here the check
sits in the network layer instead: :class:`CheckedBackend` resolves the name once,
refuses unless every address it resolves to passes the :class:`AddressGuard`, and then
opens the socket to that checked address itself. httpcore still starts TLS with the
URL's host name (SNI and certificate check) and httpx still sends it as ``Host``.

:class:`FetchTransport` routes each request to one of two connection pools: requests
marked with :data:`CHECK_ADDRESSES` go through the checked pool (connections are never
shared with the other pool), the rest connect directly (operator-configured feeds may
live inside the network).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import typing

import anyio
import httpcore
import httpx

from botsvc.ingest.addresses import AddressGuard, IPAddress, literal_address

CHECK_ADDRESSES = "botsvc.check_addresses"
"""Request extension: True to connect only to addresses the guard accepts."""
ADDRESSES_CHECKED = "botsvc.addresses_checked"
"""Response extension set by :class:`FetchTransport` on responses from the checked pool."""


class AddressRefused(httpcore.ConnectError):
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


class CheckedBackend(httpcore.AsyncNetworkBackend):
    """Resolves, checks every address, then connects to a checked address (never the name)."""

    def __init__(self, guard: AddressGuard, inner: httpcore.AsyncNetworkBackend) -> None:
        self.guard = guard
        self.inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            with anyio.fail_after(timeout):
                addresses = await resolve(host, port)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from exc
        except (OSError, UnicodeError) as exc:
            raise httpcore.ConnectError(f"could not resolve {host}: {exc}") from exc
        for address in addresses:  # all or nothing: a name with one internal address is refused
            reason = self.guard.refusal(address, port)
            if reason:
                raise AddressRefused(host, address, reason)
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(
                    str(address), port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not used for feeds")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class _PoolTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a connection pool that uses the given network backend.

    httpx 0.28 takes no network backend; its ``__init__`` only builds ``self._pool``, which
    is built here instead (tests/test_ssrf.py fails if this stops taking effect).
    """

    def __init__(
        self, limits: httpx.Limits, ssl_context: ssl.SSLContext, backend: httpcore.AsyncNetworkBackend
    ) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )


class FetchTransport(httpx.AsyncBaseTransport):
    """Direct connections, or (for requests marked :data:`CHECK_ADDRESSES`) checked ones."""

    def __init__(
        self, limits: httpx.Limits, guard: AddressGuard, network_backend: httpcore.AsyncNetworkBackend | None = None
    ) -> None:
        backend = network_backend or httpcore.AnyIOBackend()
        ssl_context = httpx.create_ssl_context()  # what httpx's own transport uses
        self.guard = guard
        self._direct = _PoolTransport(limits, ssl_context, backend)
        self._checked = _PoolTransport(limits, ssl_context, CheckedBackend(guard, backend))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not request.extensions.get(CHECK_ADDRESSES):
            return await self._direct.handle_async_request(request)
        response = await self._checked.handle_async_request(request)
        response.extensions[ADDRESSES_CHECKED] = True
        return response

    async def aclose(self) -> None:
        try:
            await self._direct.aclose()
        finally:
            await self._checked.aclose()
