"""Where webhooks may go: the URL rules checked when a URL is saved and again at send time.

A receiver URL is customer input, so without checks it is a request-forgery channel into our own
network (metadata endpoints, databases on loopback). Rules:
- https only, unless ``webhook_allow_http`` (development);
- the host, in the form the HTTP client connects to (``shared.addresses.connect_host``), must be
  a valid name or a public address, and every address it resolves to must be globally routable
  (no private, loopback, link-local, multicast, reserved or shared ranges, nor a transition form
  of one), unless ``webhook_allow_private``.
The sender's connect-time hooks (``workers.webhooks.addresses``) apply the address rules again
to every connection it makes.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable

from yarl import URL

from shared.addresses import (
    IPAddress,
    blocked_reason,
    connect_host,
    literal_ip,
    webhook_url_problem,
)

MAX_URL_LENGTH = 2048
_RESOLVE_TIMEOUT = 3.0


class UrlRejected(ValueError):
    """The URL may not be used as a webhook target; the message says why (safe to show).
    ``non_public``: the URL is well formed but its host is a non-public address."""

    def __init__(self, reason: str, *, non_public: bool = False) -> None:
        super().__init__(reason)
        self.non_public = non_public


def check_shape(url: str, *, allow_http: bool, allow_private: bool) -> tuple[str, int]:
    """Scheme, a valid host, no credentials, and (unless ``allow_private``) no literal or
    ``localhost`` host that is not public; returns (host, port), the host as connected to."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        raise UrlRejected(f"must be a URL of at most {MAX_URL_LENGTH} characters")
    why = webhook_url_problem(url, allow_private=allow_private)
    if why:
        # A reason about the address is one that the development setting would not give.
        non_public = not allow_private and webhook_url_problem(url, allow_private=True) != why
        raise UrlRejected(why, non_public=non_public)
    parsed = URL(url)
    allowed = ("https", "http") if allow_http else ("https",)
    if parsed.scheme not in allowed:
        raise UrlRejected("must use https" if not allow_http else "must use http or https")
    return connect_host(url), parsed.port or (443 if parsed.scheme == "https" else 80)


def host_key(url: str) -> str:
    """The receiver host a URL counts against (per-host concurrency); never raises."""
    try:
        return connect_host(url)
    except ValueError:
        return ""


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (in resolver order)."""
    ip = literal_ip(host)
    if ip is not None:
        return [ip]
    loop = asyncio.get_running_loop()
    infos = await asyncio.wait_for(
        loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), _RESOLVE_TIMEOUT
    )
    seen: dict[str, IPAddress] = {}
    for _family, _type, _proto, _canon, sockaddr in infos:
        addr = str(sockaddr[0]).split("%", 1)[0]
        seen.setdefault(addr, ipaddress.ip_address(addr))
    return list(seen.values())


def first_blocked(addresses: Iterable[IPAddress]) -> str | None:
    for ip in addresses:
        why = blocked_reason(ip)
        if why:
            return f"{ip} is {why}"
    return None


async def check_url(url: str, *, allow_http: bool, allow_private: bool) -> None:
    """The save-time check. A name that does not resolve yet is accepted (the receiver may not
    exist yet); it is checked again, strictly, at every send. The reason does not name the
    addresses a name resolves to: they describe our network, not the customer's input."""
    host, port = check_shape(url, allow_http=allow_http, allow_private=allow_private)
    if allow_private:
        return
    try:
        addresses = await resolve(host, port)
    except (OSError, TimeoutError, UnicodeError):
        return
    if first_blocked(addresses):
        raise UrlRejected("points at a non-public address (its name resolves to one)")
