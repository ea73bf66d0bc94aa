"""Which webhook URLs may be called: http(s) to public addresses only (SSRF).

A name is resolved and every address it resolves to must be public, at registration and
again at every try (a name can be pointed at 127.0.0.1 after registration: DNS
rebinding); the try then connects to the address that was checked, not to a second
lookup's. An administrator may allow non-public addresses (AUDIOMILL_WEBHOOK_ALLOW_PRIVATE).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from audiomill.errors import InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
MAX_URL_LENGTH = 2000
ALLOW_SETTING = "AUDIOMILL_WEBHOOK_ALLOW_PRIVATE=true"


@dataclass(frozen=True)
class Target:
    """A URL that passed the checks, and the address a try connects to."""

    url: str
    scheme: str
    host: str  # as written (a name or an address), for the Host header and TLS
    port: int
    address: IPAddress


def parse(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an acceptable URL, or InvalidInput naming the problem."""
    if len(url) > MAX_URL_LENGTH:
        raise InvalidInput(f"webhook URL is longer than {MAX_URL_LENGTH} characters")
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise InvalidInput("webhook URL must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidInput(f"webhook URL is not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise InvalidInput(f"webhook URL must start with http:// or https:// (got {parts.scheme or 'no'} scheme)")
    if not parts.hostname:
        raise InvalidInput("webhook URL has no host")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def why_refused(address: IPAddress) -> str | None:
    """What kind of non-public address this is; None for a public one."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    checks = (
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (address.is_unspecified, "an unspecified address"),
        (address.is_reserved, "a reserved address"),
        (address.is_private, "a private address"),
        (not address.is_global, "not a public address"),
    )
    return next((reason for refused, reason in checks if refused), None)


def resolve(host: str, port: int) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError) as exc:
        raise InvalidInput(f"webhook URL host {host!r} cannot be resolved: {exc}") from None
    addresses: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise InvalidInput(f"webhook URL host {host!r} resolves to no address")
    return addresses


def check(url: str, allow_private: bool) -> Target:
    """The URL's target if it may be called now; InvalidInput (422) naming the problem."""
    scheme, host, port = parse(url)
    addresses = resolve(host, port)
    if not allow_private:
        for address in addresses:
            reason = why_refused(address)
            if reason is not None:
                shown = host if host == str(address) else f"{host} (resolves to {address})"
                raise InvalidInput(
                    f"webhook URL host {shown} is {reason}; webhooks only call public addresses "
                    f"(an administrator can allow others with {ALLOW_SETTING})"
                )
    return Target(url=url, scheme=scheme, host=host, port=port, address=addresses[0])
