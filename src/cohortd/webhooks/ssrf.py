"""Where a webhook may go (SPEC §7), checked at registration and pinned at each attempt.

A URL's host is resolved once; every address it resolves to must be allowed, and the
attempt then connects to one of those checked addresses (the Host header and TLS SNI
still name the host), so a name cannot resolve to a public address for the check and
to a private one for the connection. Redirects are never followed.

Live mode: ``https`` only, public addresses only. Test mode: ``http`` too, and loopback
(local development); never link-local or cloud metadata. ``COHORTD_WEBHOOK_ALLOW_NETWORKS``
lists networks allowed anyway.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_METADATA = (
    ipaddress.ip_address("169.254.169.254"),
    ipaddress.ip_address("fd00:ec2::254"),
    ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud's metadata service
)


class UnsafeUrl(ValueError):
    """A destination URL that may not be used; the message says why (no secret in it)."""


@dataclass(frozen=True, slots=True)
class Target:
    """A checked URL: where to connect (``address``) and what to call it (``host``)."""

    scheme: str
    host: str
    port: int
    address: str
    path: str  # path and query, as given


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (the system resolver: decimal and octal IPv4
    forms such as ``2130706433`` or ``0177.0.0.1`` resolve to what they mean)."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise UnsafeUrl(f"the host does not resolve ({type(error).__name__})") from None
    return sorted({str(info[4][0]) for info in found})


def parse_networks(text: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(
        ipaddress.ip_network(n.strip(), strict=False) for n in text.split(",") if n.strip()
    )


def check_url(
    url: str,
    *,
    livemode: bool,
    allow: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network] = (),
    resolver: Resolver = system_resolver,
) -> Target:
    """The URL's checked target, or ``UnsafeUrl`` saying why not."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeUrl("the URL cannot be parsed") from None
    scheme = parts.scheme.lower()
    allowed_schemes = ("https",) if livemode else ("https", "http")
    if scheme not in allowed_schemes:
        raise UnsafeUrl(
            "live-mode URLs must use https" if livemode else "the URL must use http or https"
        )
    if not parts.hostname:
        raise UnsafeUrl("the URL has no host")
    if parts.username or parts.password:
        raise UnsafeUrl("the URL may not carry credentials")
    port = port or (443 if scheme == "https" else 80)
    addresses = resolver(parts.hostname, port)
    if not addresses:
        raise UnsafeUrl("the host does not resolve")
    for text in addresses:
        reason = _refusal(ipaddress.ip_address(text.split("%")[0]), livemode=livemode, allow=allow)
        if reason:
            raise UnsafeUrl(f"the host resolves to a {reason} address")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(scheme=scheme, host=parts.hostname, port=port, address=addresses[0], path=path)


def _refusal(
    address: IPAddress,
    *,
    livemode: bool,
    allow: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network],
) -> str | None:
    """Why ``address`` may not be used, or None."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if isinstance(address, ipaddress.IPv6Address) and address.sixtofour is not None:
        address = address.sixtofour
    if address in _METADATA:
        return "cloud-metadata"
    if address.is_link_local:
        return "link-local"
    if any(address in network for network in allow):
        return None
    if address.is_loopback:
        return None if not livemode else "loopback"
    if address.is_unspecified:
        return "unspecified"
    if address.is_multicast:
        return "multicast"
    if isinstance(address, ipaddress.IPv4Address) and address in _CGNAT:
        return "shared (CGNAT)"
    if address.is_private:
        return "private"
    if address.is_reserved or not address.is_global:
        return "reserved"
    return None
