"""Webhook targets: the connect-time address check and what a failed attempt records (the
save-time URL rules: tests/domain/webhooks/test_urls.py). Real receivers and listeners on
loopback; a real sender subprocess with private addresses NOT allowed (the package's other sender
allows them, for its receivers on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
import pytest

from domain.webhooks import config as webhook_config
from shared.addresses import blocked_reason
from shared.settings import Settings, get_settings
from tests.domain.webhooks.loopback import LOOPBACK_SPELLINGS, local_name
from tests.services import free_port
from tests.workers.dlr.helpers import (
    publish_results,
    result,
    running_alive,
    seed_dispatches,
    webhook_sender_args,
)
from tests.workers.webhooks.conftest import SENDER_ENV, configure_webhooks
from tests.workers.webhooks.receiver import Receiver
from workers.delivery.testing import wait_for
from workers.webhooks import queue
from workers.webhooks.addresses import session
from workers.webhooks.sender import (
    BAD_RESPONSE,
    BLOCKED_ADDRESS,
    CONNECT_FAILED,
    INVALID_URL,
    TIMEOUT,
    TLS_ERROR,
    Sender,
)

VOCABULARY = {INVALID_URL, BLOCKED_ADDRESS, CONNECT_FAILED, TLS_ERROR, TIMEOUT, BAD_RESPONSE}


@pytest.mark.parametrize(("address", "why"), [
    ("127.0.0.1", "loopback"), ("::1", "loopback"), ("10.1.2.3", "private"),
    ("192.168.0.10", "private"), ("169.254.169.254", "link-local"), ("fe80::1", "link-local"),
    ("100.64.0.1", "not globally routable"), ("::ffff:127.0.0.1", "loopback"),
    ("2002:7f00:1::", "6to4 for 127.0.0.1, loopback"),
    ("64:ff9b::7f00:1", "NAT64 for 127.0.0.1, loopback"),
    ("0.0.0.0", "unspecified"), ("224.0.0.1", "multicast"), ("8.8.8.8", None),
    ("2001:4860:4860::8888", None),
])
def test_blocked_reason(address, why):
    assert blocked_reason(ipaddress.ip_address(address)) == why


def _sender(*, allow_private: bool) -> Sender:
    settings = get_settings().model_copy(update={"webhook_allow_http": True,
                                                 "webhook_allow_private": allow_private})
    return Sender(settings)


def _event(url: str) -> queue.Claimed:
    return queue.Claimed("00000000-0000-0000-0000-000000000001", 1, "{}", 0, 0.0, (url,), ())


async def test_the_connect_time_check_refuses_what_the_url_check_let_through():
    """The socket factory refuses a non-public peer even when the URL check is skipped, and
    the resolver refuses a name that resolves to one (DNS rebinding)."""
    target = Receiver().start()
    try:
        async with session(allow_private=False, max_connections=4, per_host=4,
                           timeout_seconds=5, user_agent="test") as client:
            urls = [f"http://{host}:{target.port}/hook" for host in
                    ("127.0.0.1", "[::ffff:127.0.0.1]", "\uff11\uff12\uff17.0.0.1")]
            name = local_name()
            if name is not None:
                urls.append(f"http://{name}:{target.port}/hook")
            for url in urls:
                with pytest.raises(aiohttp.ClientConnectorError) as caught:
                    await client.post(url, data=b"{}")
                assert caught.value.os_error.strerror is None
                assert str(caught.value.os_error) == BLOCKED_ADDRESS
        assert target.received == []
        async with (session(allow_private=True, max_connections=4, per_host=4,
                            timeout_seconds=5, user_agent="test") as client,
                    client.post(target.url, data=b"{}") as response):
            assert response.status == 200  # the check, not the network, refused it above
    finally:
        target.stop()


async def test_send_time_check_refuses_every_spelling_of_loopback():
    target = Receiver().start()
    try:
        for allow_private in (False, True):
            sender = _sender(allow_private=allow_private)
            async with session(allow_private=allow_private, max_connections=4, per_host=4,
                               timeout_seconds=5, user_agent="test") as client:
                for host in LOOPBACK_SPELLINGS:
                    url = f"http://{host}:{target.port}/hook"
                    attempt = await sender._attempt(client, _event(url), url)
                    if not allow_private:
                        assert (attempt.status_code, attempt.error) == (None, BLOCKED_ADDRESS)
                    elif host in ("2130706433", "0x7f.1", "0177.0.0.1", "127.1"):
                        assert attempt.error == INVALID_URL  # not a.b.c.d: aiohttp refuses it
                    else:  # the check, not the network, refused it above
                        assert (attempt.status_code, attempt.error) == (200, None), host
                bad = "http://a..\u00e4.example/h"
                assert (await sender._attempt(client, _event(bad), bad)).error == INVALID_URL
            if not allow_private:
                assert target.received == []
    finally:
        target.stop()


class Listener:
    """A TCP listener on 127.0.0.1 that either answers in another protocol (as an SSH or
    database port does) or holds the connection silently: what a port scan tells apart."""

    def __init__(self, *, banner: bytes | None) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.banner, self.held = banner, list[socket.socket]()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            if self.banner is None:
                self.held.append(conn)
                continue
            with conn:
                conn.recv(65536)
                conn.sendall(self.banner)

    def stop(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.fixture()
def listeners() -> Iterator[tuple[Listener, Listener, Receiver]]:
    other = Listener(banner=b"SSH-2.0-OpenSSH_9.6\r\n")
    silent, http = Listener(banner=None), Receiver().start()
    yield other, silent, http
    other.stop()
    silent.stop()
    http.stop()


async def test_failed_attempts_record_a_fixed_word_not_the_connection_error(listeners):
    """With private addresses allowed (development), what a closed port, one speaking another
    protocol, one that never answers and one that does not speak TLS record: one word each,
    the same for any port, with no exception text (that would make the deliveries API a
    scanner)."""
    other, silent, http = listeners
    sender = _sender(allow_private=True)
    closed = free_port()
    cases = {f"http://127.0.0.1:{closed}/h": CONNECT_FAILED,
             f"http://127.0.0.1:{other.port}/h": BAD_RESPONSE,
             f"http://127.0.0.1:{silent.port}/h": TIMEOUT,
             f"https://127.0.0.1:{http.port}/h": TLS_ERROR,
             "http://no-such-host.invalid/h": "dns_failed"}
    async with session(allow_private=True, max_connections=8, per_host=8, timeout_seconds=1,
                       user_agent="test") as client:
        for url, word in cases.items():
            attempt = await sender._attempt(client, _event(url), url)
            assert (attempt.status_code, attempt.error) == (None, word), url
    strict = _sender(allow_private=False)
    async with session(allow_private=False, max_connections=8, per_host=8, timeout_seconds=1,
                       user_agent="test") as client:
        for url in (*list(cases)[:4], http.url):  # open or closed: the same answer
            attempt = await strict._attempt(client, _event(url), url)
            assert (attempt.status_code, attempt.error) == (None, BLOCKED_ADDRESS), url


def test_private_addresses_are_refused_unless_a_setting_allows_them():
    assert Settings.model_fields["webhook_allow_private"].default is False
    assert Settings.model_fields["webhook_allow_http"].default is False


@pytest.fixture(scope="module")
def strict_sender(pushflow_env: dict[str, str], service_dir: Path, dlr_worker: None
                  ) -> Iterator[Path]:
    """A webhook sender subprocess with the production address rules (the package's own
    sender, which allows loopback, must not be running: this module runs before the ones
    that start it)."""
    log_path = service_dir / "webhook-sender-strict.log"
    env = {**SENDER_ENV, "PUSHFLOW_WEBHOOK_ALLOW_PRIVATE": "false",
           "PUSHFLOW_METRICS_PORT": str(free_port())}
    with running_alive(webhook_sender_args(), log_path, env):
        yield log_path


def _attempts(db: psycopg.Connection[Any], app_id: int) -> list[tuple[int | None, str | None]]:
    return [(r[0], r[1]) for r in db.execute(
        "SELECT status_code, error FROM webhook_attempts WHERE app_id = %s ORDER BY id",
        (app_id,)).fetchall()]


def _deliveries(app_id: int) -> list[webhook_config.Delivery]:
    async def go() -> list[webhook_config.Delivery]:
        async with await psycopg.AsyncConnection.connect(get_settings().database_url,
                                                         autocommit=True) as conn:
            return await webhook_config.list_deliveries(
                conn, app_id, webhook_config.DeliveryFilter(), offset=0, limit=100)
    return asyncio.run(go())


def test_a_sender_never_delivers_to_a_host_that_normalises_to_loopback(
        db, redis_client, make_app, receiver, strict_sender):
    """End to end: per-message ``webhookUrl`` and the app's configured URL, each in a spelling
    the HTTP client turns into 127.0.0.1, with a real receiver listening there."""
    hosts = [*LOOPBACK_SPELLINGS, *filter(None, [local_name()])]
    apps = {}
    for host in [*hosts, "a..\u00e4.example"]:
        app = make_app()
        url = f"http://{host}:{receiver.port}/hook"
        configure_webhooks(db, app.app_id, url, events=("push.sent",))
        (configured,) = seed_dispatches(db, app.app_id)
        (per_message,) = seed_dispatches(db, app.app_id, webhook_url=url)
        publish_results(redis_client, [result(configured, "sent"), result(per_message, "sent")])
        apps[host] = app.app_id
    try:
        for host, app_id in apps.items():  # retried (fast) a few times each
            wait_for(lambda a=app_id: len(_attempts(db, a)) >= 4, timeout=30,
                     what=f"attempts to {host!r}", show=lambda a=app_id: _attempts(db, a))
    finally:  # no later sender (which allows loopback) may pick these events up
        db.execute("UPDATE webhook_events SET state = 'dead', dead_at = now()"
                   " WHERE app_id = ANY(%s) AND state = 'pending'", (list(apps.values()),))
    assert receiver.received == []
    for host, app_id in apps.items():
        word = INVALID_URL if host.startswith("a..") else BLOCKED_ADDRESS
        assert set(_attempts(db, app_id)) == {(None, word)}, host
        for event in _deliveries(app_id):  # what GET of webhook deliveries shows
            assert event.last_error == word
            assert {a.error for a in event.attempt_log} == {word}
    logged = [json.loads(line) for line in strict_sender.read_text().splitlines()
              if line.startswith("{")]
    assert any("blocked: 127.0.0.1 is loopback" in r["msg"] or
               "(127.0.0.1 is loopback)" in r["msg"] for r in logged)  # the detail: logs only
