"""The webhook sender subprocess's JSON logs and ``/metrics``: each failed attempt, retry and
dead letter is logged with the message's request id (``messages.request_id``) as ``uniqId``,
and counted in ``pushflow_webhook_attempts_total``, ``..._latency_seconds`` and
``..._dead_letters_total``."""

from __future__ import annotations

import json
import secrets
import urllib.request
from typing import Any

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.workers.dlr.helpers import publish_results, result, seed_dispatches
from tests.workers.webhooks.conftest import SenderProcess, configure_webhooks
from tests.workers.webhooks.receiver import Receiver
from workers.delivery.testing import wait_for

pytestmark = pytest.mark.usefixtures("dlr_worker")


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(port: int) -> Samples:
    """The sender's samples, once its endpoint listens (it may be starting with this test)."""

    def text() -> str:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
                return str(resp.read().decode())
        except OSError:
            return ""

    found = wait_for(text, timeout=20, what="the sender's /metrics")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(found) for s in family.samples}


def lines_with(sender: SenderProcess, event_id: str) -> list[dict[str, Any]]:
    out = []
    for line in sender.log_path.read_text(errors="replace").splitlines():
        if line.startswith("{") and event_id in line:
            out.append(json.loads(line))
    return out


def test_failed_attempts_and_dead_letter_are_logged_with_uniq_id_and_counted(
        db: psycopg.Connection[Any], redis_client: Any, make_app: Any,
        webhook_sender: SenderProcess) -> None:
    before = scrape(webhook_sender.metrics_port)
    app = make_app()
    down = Receiver()  # never started: every attempt is refused
    configure_webhooks(db, app.app_id, down.url, events=("push.sent",))
    (d,) = seed_dispatches(db, app.app_id)
    request_id = secrets.token_hex(5)
    db.execute("UPDATE messages SET request_id = %s WHERE id = %s", (request_id, d["messageId"]))
    publish_results(redis_client, [result(d, "sent")])
    event_id = wait_for(lambda: db.execute(
        "SELECT id::text FROM webhook_events WHERE app_id = %s AND attempts >= 1",
        (app.app_id,)).fetchone(), timeout=20, what="a failed attempt")[0]
    db.execute("UPDATE webhook_events SET retry_from = now() - interval '30 hours'"
               " WHERE id = %s", (event_id,))
    wait_for(lambda: any("dead-lettered" in r["msg"] for r in lines_with(webhook_sender,
                                                                          event_id)), timeout=20,
             what="the dead-letter line", show=lambda: lines_with(webhook_sender, event_id))

    lines = lines_with(webhook_sender, event_id)
    assert {r.get("uniqId") for r in lines} == {request_id}
    kinds = {r["msg"].split(event_id, 1)[1].split()[0] for r in lines}
    assert kinds >= {"to", "retry", "dead-lettered"}  # failed attempt, next round, dead
    assert all(r["eventId"] == event_id for r in lines)

    after = scrape(webhook_sender.metrics_port)

    def grew(name: str, labels: tuple[tuple[str, str], ...] = ()) -> float:
        return after.get((name, labels), 0.0) - before.get((name, labels), 0.0)

    assert grew("pushflow_webhook_attempts_total", (("outcome", "connect_error"),)) >= 2
    assert grew("pushflow_webhook_latency_seconds_count") >= 2
    assert grew("pushflow_webhook_dead_letters_total") >= 1
