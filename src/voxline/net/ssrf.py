"""The SSRF guard: which URLs Voxline may send requests to on a customer's behalf.

A customer chooses the URL (a webhook endpoint, an agent's HTTP tool), so a request to it
must not reach what only the deployment can reach: loopback, private (RFC 1918, unique
local), link-local (cloud metadata at 169.254.169.254), multicast, unspecified and other
reserved addresses. :func:`check_url` resolves the host and refuses the URL when *any* of its
addresses is such an address. Check when the URL is saved and again before every request:
what a name resolves to can change.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

__all__ = ["UnsafeUrl", "check_url", "is_public_address"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeUrl(ValueError):
    """A URL Voxline does not send requests to; the message says why (no secrets in it)."""


def is_public_address(address: IPAddress) -> bool:
    """Whether ``address`` is a globally routable unicast address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return is_public_address(address.ipv4_mapped)
    return not (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_unspecified
        or address.is_reserved
        or not address.is_global
    )


async def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return [literal]
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeUrl("host does not resolve") from exc
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


async def check_url(url: str, *, allow_http: bool, allow_private: bool) -> None:
    """Raise :class:`UnsafeUrl` unless ``url`` is an absolute ``https://`` URL (or
    ``http://`` with ``allow_http``) without credentials whose host resolves only to public
    addresses (any address with ``allow_private``)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrl("is not a valid URL") from exc
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes:
        raise UnsafeUrl("must be an https:// URL" if not allow_http else "must be an http(s) URL")
    if not parts.hostname:
        raise UnsafeUrl("must name a host")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrl("must not hold credentials")
    if allow_private:
        return
    addresses = await _resolve(parts.hostname, port or (443 if parts.scheme == "https" else 80))
    if not addresses or not all(is_public_address(a) for a in addresses):
        raise UnsafeUrl("resolves to a loopback, private, link-local or reserved address")
