"""Where postbacks may go: public addresses only, unless ``postback.allow_private``.

A ``postback_url`` is chosen by whoever calls ``start_payment``; without this check it could
make the daemon post to itself (its private port), to the cloud metadata service
(169.254.169.254) or to anything on the operator's internal network.

Two checks. At ``start_payment``, a URL naming a non-public IP literal or ``localhost`` is
refused (no DNS lookup there: an answer can change). At delivery, every address the
connector is about to connect to, after DNS resolution, is checked in the socket factory,
so a name that resolves (or is rebound) to a private address is refused too.
"""

from __future__ import annotations

import errno
import ipaddress
import socket

import aiohttp
import yarl
from aiohttp.abc import AbstractResolver

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


class PrivateAddressRefused(OSError):
    """The postback would connect to a loopback, link-local, private or reserved address."""


def is_public(ip: IPAddress) -> bool:
    """Globally routable unicast: not loopback, link-local, private, shared, multicast,
    unspecified, reserved or documentation; IPv4-mapped and 6to4/Teredo forms unwrapped."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            return is_public(embedded)
    return ip.is_global and not ip.is_multicast


def refused_host(host: str) -> bool:
    """True for ``localhost`` names and IP literals that are not public."""
    name = host.strip("[]").rstrip(".").lower()
    if name in _LOCAL_NAMES or name.endswith(".localhost"):
        return True
    ip = _literal(name.split("%", 1)[0])
    return ip is not None and not is_public(ip)


def _literal(name: str) -> IPAddress | None:
    """The address an IP literal names, legacy IPv4 forms (``2130706433``, ``0x7f.1``) too."""
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        pass
    if not name or not all(c in "0123456789abcdefx." for c in name):
        return None  # a name: judged at delivery, after resolution
    try:
        return ipaddress.IPv4Address(socket.inet_aton(name))
    except OSError:
        return None


def refused_url(url: str) -> bool:
    """The start_payment check of an already well-formed http(s) URL.

    The host is the one aiohttp will connect to: read by ``yarl``, as the client reads it.
    """
    try:
        host = yarl.URL(url).host
    except ValueError:
        return True
    return refused_host(host or "")


def public_socket(addr_info: tuple[object, ...]) -> socket.socket:
    """aiohttp ``socket_factory``: a socket for ``addr_info`` only if its address is public."""
    family, type_, proto, _, sockaddr = addr_info
    host = str(sockaddr[0])  # type: ignore[index]
    if not is_public(ipaddress.ip_address(host.split("%", 1)[0])):
        raise PrivateAddressRefused(
            errno.EACCES, f"refused: {host} is not a public address (postback.allow_private is off)"
        )
    return socket.socket(family, type_, proto)  # type: ignore[arg-type]


def postback_connector(
    allow_private: bool, resolver: AbstractResolver | None = None
) -> aiohttp.TCPConnector:
    """The connector of the postback session (a session of its own: the chain node is local).

    ``resolver`` is for tests (a stub that answers a name with a loopback address).
    """
    if allow_private:
        return aiohttp.TCPConnector(resolver=resolver)
    return aiohttp.TCPConnector(resolver=resolver, socket_factory=public_socket)
