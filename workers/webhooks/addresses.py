"""Where webhooks may go: URL rules checked when a URL is saved AND at send time.

A receiver URL is customer input, so without checks it is a request-forgery channel into our own
network (metadata endpoints, databases on loopback). Rules:
- https only, unless ``webhook_allow_http`` (development);
- every address the host resolves to must be globally routable (no private, loopback,
  link-local, multicast, reserved or shared ranges), unless ``webhook_allow_private``.
At send time the check runs inside the HTTP client's resolver (``GuardedResolver``): the
connector connects only to addresses that resolver returned, all checked, so a DNS answer that
changed since the URL was saved (or changes between check and connect) cannot slip through. TLS
still verifies the certificate against the URL's host name, because only the TCP target is
pinned. The address rules themselves live in ``shared.addresses`` (the intake applies them to a
message's ``webhookUrl`` without DNS).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import ResolveResult
from aiohttp.resolver import ThreadedResolver

from shared.addresses import IPAddress, blocked_literal, blocked_reason, literal_ip

MAX_URL_LENGTH = 2048
_RESOLVE_TIMEOUT = 3.0


class UrlRejected(ValueError):
    """The URL may not be used as a webhook target; the message says why (safe to show)."""


def check_shape(url: str, *, allow_http: bool) -> tuple[str, int]:
    """Scheme, host, no credentials; returns (host, port)."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        raise UrlRejected(f"must be a URL of at most {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UrlRejected("is not a valid URL") from None
    allowed = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in allowed:
        raise UrlRejected("must use https" if not allow_http else "must use http or https")
    if not parts.hostname:
        raise UrlRejected("has no host")
    if parts.username or parts.password:
        raise UrlRejected("must not carry credentials")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


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
    exist yet); it is checked again, strictly, at every send."""
    host, port = check_shape(url, allow_http=allow_http)
    if allow_private:
        return
    try:
        addresses = await resolve(host, port)
    except (OSError, TimeoutError):
        return
    why = first_blocked(addresses)
    if why:
        raise UrlRejected(f"points at a non-public address ({why})")


class BlockedAddress(OSError):
    """The receiver's host resolves to an address webhooks may not reach."""


def check_literal(host: str) -> None:
    """aiohttp connects to an IP-literal host without asking the resolver: check it here."""
    why = blocked_literal(host)
    if why:
        raise BlockedAddress(f"blocked: {why}")


class GuardedResolver(ThreadedResolver):
    """aiohttp's default resolver with the address check: the connector connects only to the
    addresses returned here (and caches them), all of which passed the check. TLS still uses
    the URL's host name for SNI and certificate checks."""

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        results = await super().resolve(host, port, family)
        why = first_blocked(ipaddress.ip_address(r["host"].split("%", 1)[0]) for r in results)
        if why:
            raise BlockedAddress(f"blocked: {host} resolves to {why}")
        return results


def session(*, allow_private: bool, max_connections: int, per_host: int,
            timeout_seconds: float, user_agent: str) -> aiohttp.ClientSession:
    """The sender's HTTP client. ``allow_private`` (development) skips the address check."""
    connector = aiohttp.TCPConnector(
        limit=max_connections, limit_per_host=per_host, ttl_dns_cache=10,
        resolver=None if allow_private else GuardedResolver())
    return aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=timeout_seconds),
        headers={"user-agent": user_agent}, auto_decompress=False)
