"""Pushes sent as a careful client sends them while a fault is injected, and what became of them.

``Load`` posts pushes of one APNs and one FCM token each, at a set pace, in a thread; a push not
answered 202 (a 503, a reset connection, no answer) is retried with the same Idempotency-Key
until it is, a bounded number of times. ``Outcome`` then reads, from PostgreSQL, the sandbox and
the webhook receiver, what happened to every dispatch answered 202.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import psycopg

from tests.chaos_system import ChaosSystem
from workers.delivery.testing import apns_token, fcm_token

FINAL = ("sent", "failed", "delivered", "opened")
RETRY_PAUSE_S = 0.5
MAX_TRIES = 120  # 60 s of retries: longer than any outage injected


@dataclass
class Load:
    system: ChaosSystem
    pushes: int
    per_second: float = 100.0
    accepted: dict[str, str] = field(default_factory=dict)  # dispatchId -> token
    tokens: set[str] = field(default_factory=set)
    refusals: Counter[int] = field(default_factory=Counter)  # status -> answers before a 202
    given_up: int = 0  # pushes never answered 202 after MAX_TRIES
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Load:
        self._thread.start()
        return self

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        # A few senders, so one push being retried does not stop the others.
        senders = [threading.Thread(target=self._send_share, args=(i, 4), daemon=True)
                   for i in range(4)]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join()

    def _send_share(self, index: int, of: int) -> None:
        start = time.monotonic()
        for n in range(index, self.pushes, of):
            pause = start + n / self.per_second - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            self._send_one()

    def _send_one(self) -> None:
        tokens = [apns_token(), fcm_token()]
        key = uuid.uuid4().hex
        with self.lock:
            self.tokens.update(tokens)
        for _ in range(MAX_TRIES):
            status, body = self.system.push(tokens, idempotency_key=key)
            if status == 202:
                with self.lock:
                    for dispatch in body["data"][0]["dispatches"]:
                        self.accepted[dispatch["dispatchId"]] = dispatch["deviceToken"]
                return
            with self.lock:
                self.refusals[status] += 1
            time.sleep(RETRY_PAUSE_S)
        with self.lock:
            self.given_up += 1

    def snapshot(self) -> dict[str, str]:
        with self.lock:
            return dict(self.accepted)


def statuses(db_url: str, dispatch_ids: list[str]) -> dict[str, str]:
    with psycopg.connect(db_url, autocommit=True) as conn:
        rows = conn.execute("SELECT id::text, status FROM dispatches WHERE id = ANY(%s::uuid[])",
                            (dispatch_ids,)).fetchall()
    return {str(i): str(s) for i, s in rows}


def not_final(db_url: str, dispatch_ids: list[str]) -> int:
    found = statuses(db_url, dispatch_ids)
    return sum(1 for d in dispatch_ids if found.get(d) not in FINAL)


def final_event_counts(db_url: str, dispatch_ids: list[str]) -> Counter[str]:
    """How many final statuses (sent or failed) each dispatch's history holds."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT dispatch_id::text, count(*) FROM dispatch_events"
            " WHERE dispatch_id = ANY(%s::uuid[]) AND status IN ('sent', 'failed')"
            " GROUP BY dispatch_id", (dispatch_ids,)).fetchall()
    return Counter({str(d): int(n) for d, n in rows})


def dispatch_tokens(db_url: str, tokens: list[str]) -> Counter[str]:
    """Dispatches stored per token: more than one is a push stored twice (a retry that was
    not recognised as a repeat)."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        rows = conn.execute("SELECT device_token, count(*) FROM dispatches"
                            " WHERE device_token = ANY(%s) GROUP BY device_token",
                            (tokens,)).fetchall()
    return Counter({str(t): int(n) for t, n in rows})


def webhook_events(system: ChaosSystem) -> dict[tuple[str, str], list[str]]:
    """(dispatchId, event type) -> the webhook-id of each time it arrived."""
    seen: dict[tuple[str, str], list[str]] = defaultdict(list)
    with system.receiver.lock:
        received = list(system.receiver.received)
    for request in received:
        event: dict[str, Any] = json.loads(request.body)
        key = (str(event["data"].get("dispatchId")), str(event["type"]))
        seen[key].append(request.headers.get("webhook-id", ""))
    return seen
