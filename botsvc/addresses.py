"""Which network addresses the bot must not be sent to by someone else's input.

A feed address added from chat, or a redirect from a public feed, must not make the
bot fetch from inside its own network: the host itself, a private LAN, link-local
addresses or a cloud provider's metadata service.
"""

from __future__ import annotations

import ipaddress

_METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"),
             ipaddress.ip_address("100.100.100.200")}


def forbidden_address(address: str) -> str | None:
    """Why an IP address may not be fetched from chat, or None when it may."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if ip in _METADATA:
        return "a cloud metadata address"
    for test, label in ((ip.is_loopback, "a loopback address"), (ip.is_link_local, "a link-local address"),
                        (ip.is_unspecified, "an unspecified address"), (ip.is_multicast, "a multicast address"),
                        (ip.is_reserved, "a reserved address"), (ip.is_private, "a private address")):
        if test:
            return label
    return None


def internal_host(host: str) -> str | None:
    """Why a URL host written as an IP address (or ``localhost``) is internal, else None.

    Host names other than ``localhost`` are not resolved here: that takes a DNS lookup
    (see :func:`botsvc.feedcheck.check_address`).
    """
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return "a loopback address"
    try:
        return forbidden_address(name)
    except ValueError:
        return None
