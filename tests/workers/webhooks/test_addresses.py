"""Webhook targets: URL rules when saved, and the connect-time address check (a real sender and
a real receiver on loopback, with private addresses NOT allowed)."""

from __future__ import annotations

import ipaddress

import pytest

from shared.settings import get_settings
from tests.workers.webhooks.receiver import Receiver
from workers.webhooks import queue
from workers.webhooks.addresses import (
    UrlRejected,
    blocked_reason,
    check_shape,
    check_url,
    session,
)
from workers.webhooks.sender import Sender


@pytest.mark.parametrize(("address", "why"), [
    ("127.0.0.1", "loopback"), ("::1", "loopback"), ("10.1.2.3", "private"),
    ("192.168.0.10", "private"), ("169.254.169.254", "link-local"), ("fe80::1", "link-local"),
    ("100.64.0.1", "not globally routable"), ("::ffff:127.0.0.1", "loopback"),
    ("0.0.0.0", "unspecified"), ("224.0.0.1", "multicast"), ("8.8.8.8", None),
    ("2001:4860:4860::8888", None),
])
def test_blocked_reason(address, why):
    assert blocked_reason(ipaddress.ip_address(address)) == why


@pytest.mark.parametrize("url", ["ftp://x.example/h", "http://x.example/h", "https://",
                                 "https://user:pw@x.example/h", "https://x.example:99999/h",
                                 "https://x.example/" + "a" * 3000, ""])
def test_bad_shapes_are_rejected(url):
    with pytest.raises(UrlRejected):
        check_shape(url, allow_http=False)


async def test_save_time_check_resolves_names():
    await check_url("https://8.8.8.8/hook", allow_http=False, allow_private=False)
    for url in ("https://127.0.0.1/hook", "https://localhost:8443/hook",
                "https://[::1]/hook", "https://169.254.169.254/latest/meta-data"):
        with pytest.raises(UrlRejected, match="non-public"):
            await check_url(url, allow_http=False, allow_private=False)
    await check_url("http://localhost:8080/hook", allow_http=True, allow_private=True)


async def test_send_time_check_refuses_a_name_that_now_resolves_to_loopback(monkeypatch):
    """The URL passed the save-time check when its name was public; now ``localhost`` (the name
    in the URL) resolves to 127.0.0.1: the sender must refuse to connect."""
    monkeypatch.setenv("PUSHFLOW_WEBHOOK_ALLOW_HTTP", "true")
    monkeypatch.setenv("PUSHFLOW_WEBHOOK_ALLOW_PRIVATE", "false")
    get_settings.cache_clear()
    target = Receiver().start()
    settings = get_settings()
    sender = Sender(settings)
    event = queue.Claimed("00000000-0000-0000-0000-000000000001", 1, "{}", 0, 0.0,
                          (f"http://localhost:{target.port}/hook",), ())
    try:
        for allow_private in (False, True):
            async with session(allow_private=allow_private, max_connections=4, per_host=4,
                               timeout_seconds=5, user_agent="test") as client:
                sender.settings = settings.model_copy(
                    update={"webhook_allow_private": allow_private})
                attempt = await sender._attempt(client, event, event.urls[0])
                literal = await sender._attempt(
                    client, event, f"http://127.0.0.1:{target.port}/hook")
            if not allow_private:
                for a in (attempt, literal):
                    assert a.status_code is None
                    assert a.error is not None and a.error.startswith("blocked")
                    assert "127.0.0.1 is loopback" in a.error
                assert target.received == []
            else:  # the check, not the network, refused it above
                assert (attempt.status_code, attempt.error) == (200, None)
                assert (literal.status_code, literal.error) == (200, None)
    finally:
        target.stop()
        get_settings.cache_clear()
