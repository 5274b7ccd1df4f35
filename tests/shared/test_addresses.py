"""Address rules for customer-given URLs, as the intake applies them without DNS: the host is
judged in the form the webhook sender's HTTP client (aiohttp, through yarl) connects to."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from shared.addresses import connect_host, legacy_ipv4, webhook_url_problem

LOOPBACK = "points at a non-public address"

# (host as written in the URL, the reason's expected text). Every one of these reaches an
# address the sender must not connect to, once normalised as the HTTP client does.
REFUSED_FORMS = [
    # Unicode that IDNA/UTS46 maps to ASCII digits and dots
    ("\uff11\uff12\uff17\uff0e\uff10\uff0e\uff10\uff0e\uff11",  # full-width digits and dots
     "127.0.0.1 is loopback"),
    ("127\u30020\u30020\u30021", "127.0.0.1 is loopback"),  # ideographic full stop
    ("\u2460\u2461\u2466.0.0.1", "127.0.0.1 is loopback"),  # circled digits
    ("127\uff610\uff610\uff611", "127.0.0.1 is loopback"),  # half-width ideographic stop
    ("\uff10\uff58\uff17\uff46.1", "0x7f.1 is 127.0.0.1, which is loopback"),  # full-width hex
    ("\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54", "localhost is loopback"),
    # numeric forms of IPv4 that inet_aton (the system resolver) reads
    ("2130706433", "2130706433 is 127.0.0.1, which is loopback"),  # decimal
    ("0177.0.0.1", "0177.0.0.1 is 127.0.0.1, which is loopback"),  # octal
    ("017700000001", "017700000001 is 127.0.0.1, which is loopback"),
    ("0x7f.1", "0x7f.1 is 127.0.0.1, which is loopback"),  # hex, short
    ("0x7f000001", "0x7f000001 is 127.0.0.1, which is loopback"),
    ("0X7F.0.0.1", "0x7f.0.0.1 is 127.0.0.1, which is loopback"),  # yarl lower-cases
    ("127.1", "127.1 is 127.0.0.1, which is loopback"),  # short form
    ("127.0.1", "127.0.1 is 127.0.0.1, which is loopback"),
    ("127.0.0.01", "127.0.0.01 is 127.0.0.1, which is loopback"),
    ("0", "0 is 0.0.0.0, which is unspecified"),
    ("0251.0376.0251.0376", "0251.0376.0251.0376 is 169.254.169.254, which is link-local"),
    ("10.1", "10.1 is 10.0.0.1, which is private"),
    ("127.0.0.1.", "127.0.0.1 is loopback"),  # trailing dot
    # plain literals
    ("127.0.0.1", "127.0.0.1 is loopback"),
    ("10.1.2.3", "10.1.2.3 is private"),
    ("192.168.0.10", "192.168.0.10 is private"),
    ("169.254.169.254", "169.254.169.254 is link-local"),  # cloud metadata endpoints
    ("0.0.0.0", "0.0.0.0 is unspecified"),
    ("100.64.0.1", "100.64.0.1 is not globally routable"),  # carrier-grade NAT
    ("[::1]", "::1 is loopback"),
    ("[::]", ":: is unspecified"),
    ("[fe80::1]", "fe80::1 is link-local"),
    ("[fec0::1]", "fec0::1 is site-local"),
    ("[fc00::1]", "fc00::1 is private"),
    # IPv6 transition forms that carry a private IPv4 address
    ("[::ffff:127.0.0.1]", "::ffff:7f00:1 is loopback"),  # IPv4-mapped
    ("[::ffff:10.0.0.7]", "::ffff:a00:7 is private"),
    ("[::127.0.0.1]", "::7f00:1 is IPv4-compatible for 127.0.0.1, loopback"),
    ("[::ffff:0:7f00:1]", "::ffff:0:7f00:1 is IPv4-translated for 127.0.0.1, loopback"),
    ("[2002:7f00:1::]", "2002:7f00:1:: is 6to4 for 127.0.0.1, loopback"),
    ("[2002:a9fe:a9fe::1]", "2002:a9fe:a9fe::1 is 6to4 for 169.254.169.254, link-local"),
    ("[64:ff9b::7f00:1]", "64:ff9b::7f00:1 is NAT64 for 127.0.0.1, loopback"),
    ("[64:ff9b::10.0.0.1]", "64:ff9b::a00:1 is NAT64 for 10.0.0.1, private"),
    ("[2001:0:4136:e378:8000:63bf:80ff:fffe]",  # Teredo, client 127.0.0.1 (stored inverted)
     "2001:0:4136:e378:8000:63bf:80ff:fffe is Teredo for 127.0.0.1, loopback"),
    # names that are always loopback (RFC 6761)
    ("localhost", "localhost is loopback"),
    ("LOCALHOST.", "localhost is loopback"),
    ("api.localhost", "api.localhost is loopback"),
]


@pytest.mark.parametrize(("host", "reason"), REFUSED_FORMS)
def test_private_addresses_in_every_spelling_are_refused(host: str, reason: str) -> None:
    url = f"https://{host}:8443/hook"
    assert webhook_url_problem(url) == f"{LOOPBACK} ({reason})"
    # judged as connected to: the host of aiohttp's own parse of the URL
    assert connect_host(url).rstrip(".") in reason.replace("[", "").replace("]", "")


def _resolver_reads(host: str) -> ipaddress.IPv4Address | None:
    """The address the system resolver reads from a numeric host, without DNS."""
    try:
        infos = socket.getaddrinfo(host, None, family=socket.AF_INET,
                                   flags=socket.AI_NUMERICHOST)
    except (OSError, UnicodeError):
        return None
    return ipaddress.IPv4Address(infos[0][4][0])


NUMERIC_HOSTS = [
    "2130706433", "0x7f.1", "0177.0.0.1", "127.1", "127.0.1", "127.0.0.01", "0x7f000001",
    "017700000001", "0X7F.0.0.1", "0", "0x", "1.2.3", "255.255.65535", "1.2.3.256",
    "4294967296", "1..2", "09", "08.1.1.1", "256.1.1.1", "1.2.3.4.5", "0251.0376.0251.0376",
    "10.1", "8.8.8.8", "0x100.1", "0.0x1000000", "00000000000000000177.1",
]


@pytest.mark.skipif(_resolver_reads("127.1") is None, reason="resolver without inet_aton forms")
@pytest.mark.parametrize("host", NUMERIC_HOSTS)
def test_legacy_ipv4_reads_what_the_system_resolver_reads(host: str) -> None:
    assert legacy_ipv4(host) == _resolver_reads(host)


@pytest.mark.parametrize(("url", "reason"), [
    # invalid IDNA: a reason, never UnicodeError
    ("https://a..\u00e4.example/h", "has a host name that is not valid IDNA"),
    ("https://" + "a" * 64 + "\u00e4.example/h", "has a host name that is not valid IDNA"),
    ("https://" + "\u00e4." * 130 + "example/h", "has a host name longer than 253 characters"),
    ("https://a\u200b.example/h", "is not a valid URL (Host "),  # invisible: yarl refuses it
    ("https://a..b.example/h", "has a host name with an empty label"),
    ("https://.example/h", "has a host name with an empty label"),
    ("https://" + "a" * 64 + ".example/h", "has a host name label longer than 63 characters"),
    ("https://" + "ab." * 90 + "example/h", "has a host name longer than 253 characters"),
    ("https://exa mple.com/h", "has a host name with characters a DNS name cannot have"),
    ("https://a\x00b.example/h", "has a host name with characters a DNS name cannot have"),
    ("https://%31%32%37.0.0.1/h", "has a numeric host that is not an IPv4 address"),
    ("https://-x.example/h", "has a host name with characters a DNS name cannot have"),
    ("https://xn--zz.example/h", "has a host name with an invalid IDNA label"),
    ("https://08.1.1.1/h", "has a numeric host that is not an IPv4 address"),  # 8 is not octal
    ("https://256.1.1.1/h", "has a numeric host that is not an IPv4 address"),
    ("https://1.2.3.4.5/h", "has a numeric host that is not an IPv4 address"),
    ("https://hooks.123/h", "has a numeric host that is not an IPv4 address"),
    ("https://134744072/h", "has a numeric host that is not written a.b.c.d (use 8.8.8.8)"),
    ("https://[fe80::1%25eth0]/h", "has an IPv6 host with a zone index (a local interface)"),
    ("https://[::1/h", "is not a valid URL (Invalid IPv6"),
    ("https://x.example:99999/h", "is not a valid URL (Port out of range"),
    ("https:///h", "has no host"),
    ("https://user:pw@x.example/h", "must not carry credentials"),
    ("ftp://x.example/h", "must be an http or https URL"),
    ("x.example/h", "must be an http or https URL"),
    ("", "must be a URL"),
])
def test_bad_urls_get_a_reason_and_never_raise(url: str, reason: str) -> None:
    # A reason in parentheses goes on in yarl's own words (not pinned here).
    for why in (webhook_url_problem(url), webhook_url_problem(url, allow_private=True)):
        assert why is not None  # and checked in development too
        assert why == reason or ("(" in reason and why.startswith(reason))


@pytest.mark.parametrize("url", [
    "https://93.184.215.14/h", "https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/h",
    "https://hooks.example.com/h", "https://localhost.example.com/h",
    "https://HOOKS.Example.COM./h", "https://b\u00fccher.example/h", "https://xn--bcher-kva.example/h",
    "https://[2002:808:808::1]/h",  # 6to4 for a public address
    "https://my_host.example/h", "http://hooks.example.com:8080/h",
    "https://10.0.0.1.nip.io/h",  # a name: only DNS can tell (checked at every connect)
])
def test_public_addresses_and_names_pass(url: str) -> None:
    assert webhook_url_problem(url) is None


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "10.0.0.1"])
def test_development_setting_allows_private_addresses(host: str) -> None:
    assert webhook_url_problem(f"http://{host}:8080/h") is not None
    assert webhook_url_problem(f"http://{host}:8080/h", allow_private=True) is None


@pytest.mark.parametrize(("host", "address"), [
    ("2130706433", "127.0.0.1"), ("0x7f.1", "127.0.0.1"), ("0177.0.0.1", "127.0.0.1"),
    ("127.1", "127.0.0.1"), ("1.2.3", "1.2.0.3"), ("255.255.65535", "255.255.255.255"),
    ("0x", None), ("1.2.3.256", None), ("4294967296", None), ("1..2", None), ("09", None),
    ("a.b", None),
])
def test_legacy_ipv4_reads_what_inet_aton_reads(host: str, address: str | None) -> None:
    assert legacy_ipv4(host) == (ipaddress.IPv4Address(address) if address else None)
