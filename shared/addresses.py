"""Which network addresses customer-given URLs (webhook receivers) may point at.

Pure rules, no DNS. A host is judged in the form the webhook sender's HTTP client connects to:
aiohttp takes a URL's host from yarl, which maps Unicode through IDNA/UTS46 (full-width digits,
U+3002 ideographic full stop and circled digits become ASCII, so full-width ``127`` with U+3002
dots is ``127.0.0.1``), and the system resolver reads the numeric forms of IPv4 that ``inet_aton``
accepts (``2130706433``, ``0177.0.0.1``, ``0x7f.1``, ``127.1``). Checking the string as the
customer wrote it would judge a different host from the one connected to.

The intake calls ``webhook_url_problem`` on a message's ``webhookUrl`` (an IP literal or a
``localhost`` name is refused at once, without a look-up on the hot path); the webhook sender
(``workers.webhooks.addresses``) applies ``blocked_reason`` to every address a host resolves to,
when a URL is saved and again at every connect.
"""

from __future__ import annotations

import ipaddress
import re

from yarl import URL

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_HOST_LENGTH = 253  # RFC 1035: a name of at most 255 octets on the wire
MAX_LABEL_LENGTH = 63
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?")
# One part of an IPv4 address as inet_aton (and the WHATWG URL parser) reads it.
_IPV4_PART = re.compile(r"0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*")
_NUMERIC_LABEL = re.compile(r"[0-9]+|0[xX][0-9a-fA-F]*")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052 well-known prefix
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")  # RFC 2765


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    """The IPv4 address a transition form of IPv6 carries (a packet to it can end up there)."""
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.ipv4_mapped is not None:
        return "IPv4-mapped", ip.ipv4_mapped
    if ip.sixtofour is not None:
        return "6to4", ip.sixtofour
    if ip.teredo is not None:
        return "Teredo", ip.teredo[1]
    if ip in _NAT64:
        return "NAT64", low32
    if ip in _IPV4_TRANSLATED:
        return "IPv4-translated", low32
    if int(ip) >> 32 == 0 and int(ip) > 1:  # ::a.b.c.d, deprecated by RFC 4291
        return "IPv4-compatible", low32
    return None


def _range_reason(ip: IPAddress) -> str | None:
    site_local = isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local
    for label, flag in (("loopback", ip.is_loopback), ("unspecified", ip.is_unspecified),
                        ("link-local", ip.is_link_local), ("site-local", site_local),
                        ("multicast", ip.is_multicast), ("private", ip.is_private),
                        ("reserved", ip.is_reserved)):
        if flag:
            return label
    return None if ip.is_global else "not globally routable"


def blocked_reason(ip: IPAddress) -> str | None:
    """Why an address may not receive webhooks, or None when it is a public address."""
    embedded = _embedded_ipv4(ip) if isinstance(ip, ipaddress.IPv6Address) else None
    if embedded is not None:
        form, ipv4 = embedded
        why = _range_reason(ipv4)
        if why:
            return why if form == "IPv4-mapped" else f"{form} for {ipv4}, {why}"
    return _range_reason(ip)


def literal_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _ipv4_part(part: str) -> int:
    if part[:2] in ("0x", "0X"):
        return int(part[2:], 16)
    return int(part, 8) if part.startswith("0") else int(part)


def legacy_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The address ``inet_aton`` reads from ``host`` (1 to 4 parts, each decimal, octal with a
    leading 0, or hex with 0x), or None when it is not such a number."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or not all(_IPV4_PART.fullmatch(p) for p in parts):
        return None
    *head, last = (_ipv4_part(p) for p in parts)
    if any(v > 255 for v in head) or last >= 256 ** (5 - len(parts)):
        return None
    return ipaddress.IPv4Address(
        sum(v << (8 * (3 - i)) for i, v in enumerate(head)) + last)


def connect_host(url: str) -> str:
    """The host of ``url`` exactly as the webhook sender's HTTP client connects to it: yarl's
    encoding (IDNA/UTS46 mapping, lower case, IPv6 without brackets), with aiohttp's collapsing
    of repeated trailing dots. Raises ValueError (UnicodeError included) for a URL or host that
    yarl cannot encode; returns "" when there is no host."""
    host = URL(url).raw_host or ""
    return host.rstrip(".") + "." if host.endswith("..") else host


def _name_problem(host: str) -> str | None:
    """Why an encoded (ASCII) host is not a usable DNS name."""
    name = host[:-1] if host.endswith(".") else host
    if len(name) > MAX_HOST_LENGTH:
        return f"has a host name longer than {MAX_HOST_LENGTH} characters"
    for label in name.split("."):
        if not label:
            return "has a host name with an empty label"
        if len(label) > MAX_LABEL_LENGTH:
            return f"has a host name label longer than {MAX_LABEL_LENGTH} characters"
        if not _LABEL.fullmatch(label):
            return "has a host name with characters a DNS name cannot have"
        if label.startswith("xn--"):
            try:
                label[4:].encode("ascii").decode("punycode")
            except UnicodeError:
                return "has a host name with an invalid IDNA label"
    return None


def host_problem(host: str, *, allow_private: bool = False) -> str | None:
    """Why an encoded host (``connect_host``) may not receive webhooks, judged without DNS: not
    a valid host at all, or (unless ``allow_private``) an IP literal or numeric IPv4 form of a
    non-public address, or a ``localhost`` name (RFC 6761: always loopback). None when only
    DNS can tell."""
    if not host:
        return "has no host"
    ip: IPAddress | None
    if ":" in host:  # IPv6: yarl has already checked and compressed it
        if "%" in host:
            return "has an IPv6 host with a zone index (a local interface)"
        ip = literal_ip(host)
        if ip is None:
            return "has an invalid IPv6 host"
        shown = str(ip)
    else:
        name = host[:-1] if host.endswith(".") else host
        if _NUMERIC_LABEL.fullmatch(name.rsplit(".", 1)[-1]):
            ip = legacy_ipv4(name)
            if ip is None:
                return "has a numeric host that is not an IPv4 address"
            shown = str(ip) if name == str(ip) else f"{name} is {ip}, which"
        elif name == "localhost" or name.endswith(".localhost"):
            return None if allow_private else (
                f"points at a non-public address ({name} is loopback)")
        else:
            return _name_problem(host)
    why = None if allow_private else blocked_reason(ip)
    if why:
        return f"points at a non-public address ({shown} is {why})"
    if ip.version == 4 and host != str(ip):  # aiohttp refuses these at connect: say so now
        return f"has a numeric host that is not written a.b.c.d (use {ip})"
    return None


def webhook_url_problem(url: str, *, allow_private: bool = False) -> str | None:
    """Why ``url`` may not be a webhook target, as a phrase to follow the field's name (e.g.
    "points at a non-public address (127.0.0.1 is loopback)"), or None. Never raises. Judges
    the host the HTTP client will connect to; DNS names are resolved and checked by the
    webhook sender, at every connect. ``allow_private`` (development) keeps the URL and host
    checks and skips the address rules. The caller decides which schemes it accepts."""
    if not isinstance(url, str) or not url:
        return "must be a URL"
    try:
        parsed = URL(url)
        host = connect_host(url)
    except UnicodeError:  # IDNA refused the host (an empty label, one over 63 octets, ...)
        return "has a host name that is not valid IDNA"
    except ValueError as exc:  # yarl's messages name the part (port, IPv6 literal, ...)
        return f"is not a valid URL ({exc})"
    if parsed.scheme not in ("http", "https"):
        return "must be an http or https URL"
    if parsed.raw_user is not None or parsed.raw_password is not None:
        return "must not carry credentials"
    return host_problem(host, allow_private=allow_private)
