"""Security properties that must keep holding: API keys stored hashed, webhook secrets encrypted
at rest and shown once, and no secret and no full device token in the API's logs."""

from __future__ import annotations

import time
from typing import Any

import httpx
import psycopg

from tests.producer.conftest import api_process, ios_token


def _row_text(db: psycopg.Connection[Any], table: str, app_id: int) -> str:
    """Every column of the app's rows in ``table`` as PostgreSQL prints them (bytea as hex),
    so a plaintext copy anywhere in a row is found as text or as its hex."""
    rows = db.execute(f"SELECT t::text FROM {table} t WHERE app_id = %s", (app_id,)).fetchall()
    return " ".join(r[0] for r in rows)


def _absent(secret: str, stored: str) -> bool:
    return secret not in stored and secret.encode().hex() not in stored


async def test_api_keys_are_stored_hashed(make_app: Any, db: psycopg.Connection[Any]) -> None:
    app = make_app()
    stored = _row_text(db, "api_keys", app.app_id)
    assert stored.strip()
    assert _absent(app.secret, stored)


async def test_webhook_secrets_are_encrypted_and_shown_once(
    api: httpx.AsyncClient, make_app: Any, db: psycopg.Connection[Any]
) -> None:
    app = make_app()
    saved = await api.put("/v2.1/webhooks", headers=app.headers(),
                          json={"primaryUrl": "https://hooks.example.com/pushflow"})
    assert saved.status_code in (200, 201), saved.text
    secret = saved.json()["data"][0]["secret"]
    assert secret.startswith("whsec_")
    raw = secret.removeprefix("whsec_")
    stored = _row_text(db, "webhook_secrets", app.app_id)
    assert stored.strip() and _absent(secret, stored) and _absent(raw, stored)
    shown = await api.get("/v2.1/webhooks", headers=app.headers())
    assert shown.status_code == 200
    assert raw not in shown.text and "secret\":" not in shown.text.replace(" ", "")


def test_no_secret_and_no_full_device_token_in_the_api_log(make_app: Any) -> None:
    app = make_app()
    token = ios_token()
    with api_process({"PUSHFLOW_LOG_JSON": "true", "PUSHFLOW_ACCESS_LOG_SUCCESSES": "true",
                      "PUSHFLOW_LOG_LEVEL": "INFO"}) as (url, proc):
        with httpx.Client(base_url=url, timeout=10) as client:
            accepted = client.post("/v2.1/push", headers=app.headers(),
                                   json={"device_tokens": [token], "content": "hi"})
            assert accepted.status_code == 202, accepted.text
            refused = client.post("/v2.1/push", json={"device_tokens": [token + "zz"]},
                                  headers={**app.headers(), "Authorization": app.secret + "x"})
            assert refused.status_code == 401
            client.get(f"/v2.1/devices/{token}", headers=app.headers())
        time.sleep(0.3)  # the access log line of the last request
    assert proc.stderr is not None
    log = proc.stderr.read().decode()
    assert "POST /v2.1/push 202" in log  # the log was read, and it logs requests
    assert app.secret not in log
    assert token not in log
