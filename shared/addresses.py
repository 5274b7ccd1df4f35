"""Which network addresses customer-given URLs (webhook receivers) may point at.

Pure rules, no DNS: the intake uses them on a message's ``webhookUrl`` as given (an IP literal
or a ``localhost`` name is refused at once, without a look-up on the hot path); the webhook
sender (``workers.webhooks.addresses``) applies them to every address a host resolves to, when a
URL is saved and again at every send.
"""

from __future__ import annotations

import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def blocked_reason(ip: IPAddress) -> str | None:
    """Why an address may not receive webhooks, or None when it is a public address."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for label, flag in (("loopback", ip.is_loopback), ("unspecified", ip.is_unspecified),
                        ("link-local", ip.is_link_local), ("multicast", ip.is_multicast),
                        ("private", ip.is_private), ("reserved", ip.is_reserved)):
        if flag:
            return label
    return None if ip.is_global else "not globally routable"


def literal_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def blocked_literal(host: str) -> str | None:
    """Why a host that is an IP literal may not receive webhooks; None for a public address or
    a name."""
    ip = literal_ip(host)
    why = blocked_reason(ip) if ip is not None else None
    return f"{ip} is {why}" if why else None


def blocked_host(host: str) -> str | None:
    """Why a URL's host is refused without resolving it: a non-public IP literal, or a
    ``localhost`` name (RFC 6761: always loopback). None when only DNS can tell."""
    name = host.rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return f"{host} is loopback"
    return blocked_literal(host)
