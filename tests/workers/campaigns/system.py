"""Campaigns through a whole Pushflow (``tests/chaos_system.py``: the API, send workers, DLR,
webhook sender, beat and the pacer, every process ``pushflow up`` runs, against the sandbox):
create, upload, act, and watch the ledger and the gateways."""

from __future__ import annotations

import time
import urllib.request
from collections import Counter
from typing import Any

import psycopg

from tests.chaos_system import ChaosSystem

# Fast send retries, so recipients failing with a retryable reason end in a test's time.
SYSTEM_ENV = {"PUSHFLOW_MAX_ATTEMPTS": "2", "PUSHFLOW_RETRY_BASE_SECONDS": "0.2",
              "PUSHFLOW_RETRY_MAX_SECONDS": "0.5"}
CONTENT = {"title": "Campaign", "content": "bulk"}


def create(system: ChaosSystem, tokens: list[str], **fields: Any) -> str:
    status, body = system.request("POST", "/v2.1/campaigns", {
        "name": "t", "content": CONTENT, "audience": {"kind": "upload"}, "perMinute": 6000,
        **fields})
    assert status == 201, body
    campaign_id: str = body["data"][0]["id"]
    request = urllib.request.Request(
        f"{system.api_url}/v2.1/campaigns/{campaign_id}/audience",
        data="\n".join(tokens).encode(), method="POST",
        headers={**system.headers, "Content-Type": "text/csv"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 200
    return campaign_id


def act(system: ChaosSystem, campaign_id: str, action: str) -> dict[str, Any]:
    status, body = system.request("POST", f"/v2.1/campaigns/{campaign_id}/{action}")
    assert status == 200, body
    campaign: dict[str, Any] = body["data"][0]
    return campaign


def read(system: ChaosSystem, campaign_id: str) -> dict[str, Any]:
    status, body = system.request("GET", f"/v2.1/campaigns/{campaign_id}")
    assert status == 200, body
    campaign: dict[str, Any] = body["data"][0]
    return campaign


def wait_state(system: ChaosSystem, campaign_id: str, state: str, timeout: float = 60.0
               ) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        campaign = read(system, campaign_id)
        if campaign["state"] == state:
            return campaign
        assert time.monotonic() < deadline, f"not {state} after {timeout}s: {campaign}"
        time.sleep(0.3)


def sends(system: ChaosSystem, tokens: set[str]) -> list[dict[str, Any]]:
    """The gateways' accepted and refused requests for these tokens, oldest first."""
    found = [r for gateway in ("apns", "fcm")
             for r in system.sandbox.requests(gateway, limit=20_000) if r["token"] in tokens]
    return sorted(found, key=lambda r: r["time"])


def ledger(system: ChaosSystem, campaign_id: str) -> list[tuple[Any, ...]]:
    """(token, ledger state, dispatch status, reason) of every recipient."""
    with psycopg.connect(system.direct_db_url) as db:
        return db.execute(
            "SELECT r.token, r.state, d.status, coalesce(d.reason, r.reason)"
            " FROM campaign_recipients r LEFT JOIN dispatches d ON d.id = r.dispatch_id"
            " WHERE r.campaign_id = %s ORDER BY r.seq", (campaign_id,)).fetchall()


def sent_once_each(system: ChaosSystem, tokens: list[str]) -> None:
    """Every token reached its gateway exactly once (one dispatch id / FCM message each)."""
    counts = Counter(r["token"] for r in sends(system, set(tokens)) if r["status"] == 200)
    assert set(counts) == set(tokens), f"{len(set(tokens) - set(counts))} never sent"
    assert [t for t, n in counts.items() if n > 1] == []


def submitted_times(system: ChaosSystem, campaign_id: str, platform: str) -> list[float]:
    """When the pacer submitted each recipient of ``platform`` (unix seconds), in order."""
    with psycopg.connect(system.direct_db_url) as db:
        rows = db.execute(
            "SELECT extract(epoch FROM submitted_at)::float8 FROM campaign_recipients"
            " WHERE campaign_id = %s AND platform = %s ORDER BY submitted_at",
            (campaign_id, platform)).fetchall()
    return [r[0] for r in rows]


def dispatches_per_token(system: ChaosSystem, campaign_id: str) -> set[int]:
    """How many dispatches the campaign made per token (1 each: nothing submitted twice)."""
    with psycopg.connect(system.direct_db_url) as db:
        rows = db.execute("SELECT count(*) FROM dispatches WHERE source_ref = %s"
                          " GROUP BY device_token", (campaign_id,)).fetchall()
    return {r[0] for r in rows}
