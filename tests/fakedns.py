"""Name resolution and sockets for address-check tests, without any traffic off 127.0.0.1.

:class:`FakeDNS` stands in for ``socket.getaddrinfo``: names in its table get the answers
listed for them (one list per lookup, the last repeating, so a name can change between
lookups as in DNS rebinding); numeric hosts go to the real getaddrinfo with
``AI_NUMERICHOST``, which parses ``127.1`` or ``0x7f.1`` like ``inet_aton`` and never
asks a DNS server; any other name fails as unknown. Every lookup is logged.

:class:`LoopbackOnly` is a network backend for :func:`botsvc.ingest.fetch.make_client` that
resolves names the same way and opens real sockets only to 127.0.0.1; any other
destination is recorded in ``stopped`` and refused, so a bug in the checks shows up as
a failed test, never as a packet to another address.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import typing
from collections.abc import Iterator

import httpcore

_real_getaddrinfo = socket.getaddrinfo


class FakeDNS:
    def __init__(self, table: dict[str, list[list[str]]] | None = None) -> None:
        self.table: dict[str, list[list[str]]] = dict(table or {})
        self.lookups: list[str] = []
        self._lock = threading.Lock()

    def set(self, name: str, *answers: list[str]) -> None:
        """``name`` answers ``answers[0]`` on its first lookup, ``answers[1]`` on the next, …"""
        self.table[name] = list(answers)

    def getaddrinfo(self, host, port, family=0, type=0, proto=0, flags=0):  # noqa: A002 - socket's names
        name = host.decode() if isinstance(host, bytes) else str(host)
        with self._lock:
            self.lookups.append(name)
            answers = self.table.get(name.lower().rstrip("."))
            count = sum(1 for n in self.lookups if n == name)
        if answers is None:
            try:
                return _real_getaddrinfo(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)
            except socket.gaierror:
                raise socket.gaierror(socket.EAI_NONAME, f"fake DNS has no {name!r}") from None
        addresses = answers[min(count, len(answers)) - 1]
        port_number = int(port or 0)
        result = []
        for address in addresses:
            if ":" in address:
                result.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port_number, 0, 0)))
            else:
                result.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port_number)))
        return result

    @contextlib.contextmanager
    def installed(self) -> Iterator[FakeDNS]:
        """Replace ``socket.getaddrinfo`` while the block runs (benchmarks; tests use monkeypatch)."""
        socket.getaddrinfo = self.getaddrinfo
        try:
            yield self
        finally:
            socket.getaddrinfo = _real_getaddrinfo


class LoopbackOnly(httpcore.AsyncNetworkBackend):
    """Real sockets, but only to 127.0.0.1; anything else is recorded and refused."""

    def __init__(self) -> None:
        self.inner = httpcore.AnyIOBackend()
        self.dialed: list[tuple[str, int]] = []
        self.stopped: list[tuple[str, int]] = []

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)  # FakeDNS when installed
        except socket.gaierror as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        addresses = {info[4][0] for info in infos}
        if addresses != {"127.0.0.1"}:
            self.stopped.append((host, port))
            raise httpcore.ConnectError(f"test network: {host} is not 127.0.0.1")
        self.dialed.append((host, port))
        return await self.inner.connect_tcp(
            "127.0.0.1", port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("test network: no unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)
