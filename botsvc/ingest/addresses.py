"""Which network addresses the bot must not be sent to by someone else's input.

A feed address added from chat, or a redirect away from a configured feed's host, must
not make the bot fetch from inside its own network: the host itself, a private LAN,
carrier-grade NAT space, link-local addresses or a cloud provider's metadata service,
written in any form (``2130706433`` and ``0x7f.1`` are 127.0.0.1 to the OS resolver;
``2002:7f00:1::`` and ``64:ff9b::7f00:1`` carry it inside IPv6). This module only
classifies; :mod:`botsvc.ingest.connect` resolves names and connects to checked addresses.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOW_PRIVATE_ENV = "BOTSVC_ALLOW_PRIVATE_FEEDS"
"""Test-only escape hatch: "1" lets every address through; a comma-separated list of
``address:port`` endpoints (e.g. ``127.0.0.1:8123``) lets only those through."""

_METADATA = {
    ipaddress.ip_address("169.254.169.254"),
    ipaddress.ip_address("fd00:ec2::254"),
    ipaddress.ip_address("100.100.100.200"),
}
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
# Not globally reachable per the IANA special-purpose registries, but not (on every
# Python version) in ipaddress's private lists: protocol assignments, the 6to4 relay
# anycast, the IPv6 documentation prefix added in 2024.
_SPECIAL = [ipaddress.ip_network(n) for n in ("192.0.0.0/24", "192.88.99.0/24", "3fff::/20")]


def loose_ipv4(text: str) -> ipaddress.IPv4Address | None:
    """Parse an IPv4 address the way ``inet_aton`` (and so getaddrinfo) does, else None.

    One to four parts, each decimal, octal (leading 0) or hex (0x); the last part fills
    the remaining bytes: ``127.1``, ``0x7f.1``, ``017700000001``, ``2130706433`` and
    ``0`` are all addresses, not host names.
    """
    parts = text.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    values = []
    for part in parts:
        lowered = part.lower()
        if lowered.startswith("0x"):
            digits, base = lowered[2:], 16
        elif len(part) > 1 and part.startswith("0"):
            digits, base = part[1:], 8
        else:
            digits, base = part, 10
        if not digits or not all(c in "0123456789abcdef"[:base] for c in digits.lower()):
            return None
        values.append(int(digits, base))
    *leading, last = values
    if any(v > 255 for v in leading) or last >= 256 ** (4 - len(leading)):
        return None
    number = last
    for position, value in enumerate(leading):
        number |= value << (8 * (3 - position))
    return ipaddress.IPv4Address(number)


def literal_address(host: str) -> IPAddress | None:
    """The address a URL host names without any lookup (any IPv4 form, IPv6), else None."""
    name = host.strip("[]").split("%", 1)[0]
    if ":" in name:
        try:
            return ipaddress.IPv6Address(name)
        except ValueError:
            return None
    return loose_ipv4(name)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[tuple[str, ipaddress.IPv4Address]]:
    """IPv4 addresses an IPv6 address stands for or tunnels to."""
    found: list[tuple[str, ipaddress.IPv4Address]] = []
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.ipv4_mapped is not None:
        found.append(("an IPv4-mapped", ip.ipv4_mapped))
    elif ip in _IPV4_TRANSLATED or ip in _NAT64:
        found.append(("a NAT64" if ip in _NAT64 else "an IPv4-translated", low32))
    elif ip in _IPV4_COMPATIBLE and int(ip) > 1:
        found.append(("an IPv4-compatible", low32))
    if ip.sixtofour is not None:
        found.append(("a 6to4", ip.sixtofour))
    if ip.teredo is not None:
        found.extend(("a Teredo", part) for part in ip.teredo)
    return found


def _forbidden_plain(ip: IPAddress) -> str | None:
    if ip in _METADATA:
        return "a cloud metadata address"
    for test, label in (
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_unspecified, "an unspecified address"),
        (ip.is_multicast, "a multicast address"),
        (ip in _CGNAT, "a shared (carrier-grade NAT) address"),
        (ip.is_reserved, "a reserved address"),
        (ip.is_private, "a private address"),
        (any(ip in net for net in _SPECIAL), "a special-purpose address"),
        (not ip.is_global, "a non-public address"),
    ):
        if test:
            return label
    return None


def forbidden_address(address: str | IPAddress) -> str | None:
    """Why an IP address may not be connected to for someone else's input, or None when it may.

    An IPv6 address that embeds an IPv4 address (mapped, NAT64, 6to4, Teredo) is refused
    when the embedded address is; a mapped or NAT64 address of a public IPv4 host is allowed
    (that is how IPv6-only networks reach it).
    """
    ip = address if not isinstance(address, str) else ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv4Address):
        return _forbidden_plain(ip)
    if ip in _NAT64_LOCAL:
        return "a local-use NAT64 address"
    embedded = _embedded_ipv4(ip)
    for kind, inner in embedded:
        reason = _forbidden_plain(inner)
        if reason:
            return f"{reason} (inside {kind} address)"
    if embedded and embedded[0][0] in ("an IPv4-mapped", "a NAT64", "an IPv4-translated"):
        return None  # the IPv4 host it translates to is public
    return _forbidden_plain(ip)


def internal_host(host: str) -> str | None:
    """Why a URL host written as an address (in any form) or ``localhost`` is internal, else None.

    Other host names are not resolved here: that takes a lookup, done at connect time.
    """
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return "a loopback address"
    address = literal_address(name)
    return forbidden_address(address) if address is not None else None


@dataclass(frozen=True)
class AddressGuard:
    """The rule for connections made for someone else's input: public addresses only.

    ``allow_all`` and ``allowed`` exist for tests, which can only use loopback servers:
    ``allowed`` endpoints (address, port) count as public while the rest of loopback does not.
    """

    allow_all: bool = False
    allowed: frozenset[tuple[IPAddress, int]] = frozenset()

    @classmethod
    def from_env(cls) -> AddressGuard:
        value = os.environ.get(ALLOW_PRIVATE_ENV, "").strip()
        if value == "1":
            return cls(allow_all=True)
        endpoints = set()
        for item in filter(None, (part.strip() for part in value.split(","))):
            host, _, port = item.rpartition(":")
            address = literal_address(host)
            if address is None or not port.isdigit():
                raise ValueError(f"{ALLOW_PRIVATE_ENV}: expected 1 or address:port, got {item!r}")
            endpoints.add((address, int(port)))
        return cls(allowed=frozenset(endpoints))

    def refusal(self, address: str | IPAddress, port: int) -> str | None:
        """Why connecting to ``address``:``port`` is refused, or None."""
        ip = address if not isinstance(address, str) else ipaddress.ip_address(address.split("%", 1)[0])
        if self.allow_all or (ip, port) in self.allowed:
            return None
        return forbidden_address(ip)

    def host_refusal(self, host: str, port: int) -> str | None:
        """Like :meth:`refusal` for a URL host, without any lookup (names other than localhost pass)."""
        address = literal_address(host.strip("[]"))
        if address is not None:
            return self.refusal(address, port)
        return None if self.allow_all else internal_host(host)
