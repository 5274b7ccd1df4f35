"""Address rules for customer-given URLs, as the intake applies them without DNS."""

from __future__ import annotations

import pytest

from shared.addresses import blocked_host


@pytest.mark.parametrize(("host", "reason"), [
    ("127.0.0.1", "127.0.0.1 is loopback"),
    ("[::1]", "::1 is loopback"),
    ("::ffff:10.0.0.7", "::ffff:a00:7 is private"),  # IPv4-mapped: judged as IPv4
    ("10.1.2.3", "10.1.2.3 is private"),
    ("192.168.0.10", "192.168.0.10 is private"),
    ("169.254.169.254", "169.254.169.254 is link-local"),  # cloud metadata endpoints
    ("0.0.0.0", "0.0.0.0 is unspecified"),
    ("100.64.0.1", "100.64.0.1 is not globally routable"),  # carrier-grade NAT
    ("localhost", "localhost is loopback"),
    ("LOCALHOST.", "LOCALHOST. is loopback"),
    ("api.localhost", "api.localhost is loopback"),
])
def test_refused_without_resolving(host: str, reason: str) -> None:
    assert blocked_host(host) == reason


@pytest.mark.parametrize("host", ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c",
                                  "hooks.example.com", "localhost.example.com"])
def test_public_literals_and_names_pass(host: str) -> None:
    # Names are resolved and checked by the webhook sender, when saved and at every send.
    assert blocked_host(host) is None
