"""Name resolution and sockets for address-check tests, without any traffic off 127.0.0.1.

:class:`FakeDNS` stands in for ``socket.getaddrinfo``: names in its table get the answers
listed for them (one list per lookup, the last repeating, so a name can change between
lookups as in DNS rebinding); numeric hosts go to the real getaddrinfo with
``AI_NUMERICHOST``, which parses ``127.1`` or ``0x7f.1`` like ``inet_aton`` and never
asks a DNS server; any other name fails as unknown. Every lookup is logged.

:class:`LoopbackOnly` is a socket factory for :func:`botsvc.ingest.fetch.make_client`: the
client resolves names (through ``socket.getaddrinfo``, so through a FakeDNS when one is
installed) and asks it for a socket for each address it is about to dial; it makes real
sockets only for 127.0.0.1 and records every other destination in ``stopped`` and refuses
it, so a bug in the checks shows up as a failed test, never as a packet to another address.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

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


class LoopbackOnly:
    """Real sockets, but only to 127.0.0.1; anything else is recorded and refused."""

    def __init__(self) -> None:
        self.dialed: list[tuple[str, int]] = []
        self.stopped: list[tuple[str, int]] = []

    def __call__(self, addr_info: tuple) -> socket.socket:
        family, kind, proto, _, sockaddr = addr_info
        address, port = str(sockaddr[0]), int(sockaddr[1])
        if address != "127.0.0.1":
            self.stopped.append((address, port))
            raise OSError(f"test network: {address} is not 127.0.0.1")
        self.dialed.append((address, port))
        return socket.socket(family=family, type=kind, proto=proto)
