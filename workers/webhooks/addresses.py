"""Where webhooks may go at send time: the HTTP client's hooks that apply the address rules of
``domain.webhooks.urls`` (checked when a URL is saved) to every connection.

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

import ipaddress
import socket

import aiohttp
from aiohttp.abc import ResolveResult
from aiohttp.connector import AddrInfoType
from aiohttp.resolver import ThreadedResolver

from domain.webhooks.urls import first_blocked
from shared.addresses import blocked_reason


class BlockedAddress(OSError):
    """The receiver's host is, or resolves to, an address webhooks may not reach. The message
    is fixed (the address is in ``detail``), so that aiohappyeyeballs, which folds the errors of
    several addresses into one unless their messages match, keeps it a BlockedAddress."""

    def __init__(self, detail: str) -> None:
        super().__init__("blocked_address")
        self.detail = detail


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
