"""Where webhooks may go: URL rules checked when a URL is saved AND at send time.

A receiver URL is customer input, so without checks it is a request-forgery channel into our own
network (metadata endpoints, databases on loopback). Rules:
- https only, unless ``webhook_allow_http`` (development);
- the host, in the form the HTTP client connects to (``shared.addresses.connect_host``), must be
  a valid name or a public address, and every address it resolves to must be globally routable
  (no private, loopback, link-local, multicast, reserved or shared ranges, nor a transition form
  of one), unless ``webhook_allow_private``.
At send time two hooks of the HTTP client apply the address rules: the resolver
(``GuardedResolver``) refuses a name when any address it resolves to is non-public, and the
socket factory (``guarded_socket``) refuses to open a socket to a non-public address. Every
connection aiohttp makes, to a resolved name or to an IP literal, goes through the factory with
the exact address it will connect to, so a DNS answer that changed since the URL was saved (DNS
rebinding) or a spelling of an address that slipped past the URL check cannot reach one. TLS
still verifies the certificate against the URL's host name, because only the TCP target is
checked. Redirects are not followed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable

import aiohttp
from aiohttp.abc import ResolveResult
from aiohttp.connector import AddrInfoType
from aiohttp.resolver import ThreadedResolver
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


class BlockedAddress(OSError):
    """The receiver's host is, or resolves to, an address webhooks may not reach. The message
    is fixed (the address is in ``detail``), so that aiohappyeyeballs, which folds the errors of
    several addresses into one unless their messages match, keeps it a BlockedAddress."""

    def __init__(self, detail: str) -> None:
        super().__init__("blocked_address")
        self.detail = detail


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


class GuardedResolver(ThreadedResolver):
    """aiohttp's default resolver with the address check: a name is refused when any address
    it resolves to is non-public (the socket factory checks each connect again)."""

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        results = await super().resolve(host, port, family)
        why = first_blocked(ipaddress.ip_address(r["host"].split("%", 1)[0]) for r in results)
        if why:
            raise BlockedAddress(f"{host} resolves to {why}")
        return results


def guarded_socket(addr_info: AddrInfoType) -> socket.socket:
    """The connector's socket factory: the socket for one address aiohttp is about to connect
    to, refused (before any packet is sent) when that address is not public."""
    family, type_, proto, _canonname, sockaddr = addr_info
    ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
    why = blocked_reason(ip)
    if why:
        raise BlockedAddress(f"{ip} is {why}")
    return socket.socket(family=family, type=type_, proto=proto)


def session(*, allow_private: bool, max_connections: int, per_host: int,
            timeout_seconds: float, user_agent: str) -> aiohttp.ClientSession:
    """The sender's HTTP client. ``allow_private`` (development) skips the address checks."""
    connector = aiohttp.TCPConnector(
        limit=max_connections, limit_per_host=per_host, ttl_dns_cache=10,
        resolver=None if allow_private else GuardedResolver(),
        socket_factory=None if allow_private else guarded_socket)
    return aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=timeout_seconds),
        headers={"user-agent": user_agent}, auto_decompress=False)
