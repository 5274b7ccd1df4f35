"""Webhook configuration and deliveries as typed rows: the secret shown once, rotation's overlap,
every attempt of a delivery."""

from __future__ import annotations

from typing import Any

import psycopg
from cryptography.fernet import Fernet

from domain.webhooks import config
from shared.ids import new_id


async def test_configuration_rotation_and_deliveries(
    make_app: Any, db: psycopg.Connection[Any], aconn: psycopg.AsyncConnection[Any]
) -> None:
    app = make_app()
    fernet = Fernet(Fernet.generate_key())
    assert await config.get_config(aconn, app.app_id) is None
    secret = await config.save_config(aconn, app.app_id, primary_url="https://hooks.example/a",
                                      secondary_url=None, event_types=["push.sent"],
                                      fernet=fernet)
    assert secret is not None and secret.startswith("whsec_")
    assert await config.save_config(aconn, app.app_id, primary_url="https://hooks.example/b",
                                    secondary_url=None, event_types=["push.failed"],
                                    fernet=fernet) is None  # shown once only
    rotation = await config.rotate_secret(aconn, app.app_id, overlap_hours=1, fernet=fernet)
    assert rotation is not None and rotation.previous_valid_until is not None
    saved = await config.get_config(aconn, app.app_id)
    assert saved is not None
    assert (saved.primary_url, saved.event_types, saved.signing_secrets) == (
        "https://hooks.example/b", ["push.failed"], 2)
    assert saved.previous_secret_valid_until == rotation.previous_valid_until

    event = new_id()
    db.execute("INSERT INTO webhook_events (id, app_id, type, payload, state, attempts, dead_at)"
               " VALUES (%s, %s, 'push.failed', '{}', 'dead', 1, now())", (event, app.app_id))
    db.execute("INSERT INTO webhook_attempts (event_id, app_id, at, url, status_code, latency_ms)"
               " VALUES (%s, %s, now(), 'https://hooks.example/b', 500, 12.34)",
               (event, app.app_id))
    [dead] = await config.list_deliveries(aconn, app.app_id, config.DeliveryFilter(state="dead"),
                                          offset=0, limit=10)
    assert (dead.id, dead.next_attempt_at) == (event, None)
    [attempt] = dead.attempt_log
    assert (attempt.url, attempt.status_code, attempt.latency_ms) == (
        "https://hooks.example/b", 500, 12.3)
    assert await config.replay(aconn, app.app_id, event) == 1
    assert await config.delete_config(aconn, app.app_id)
    assert await config.get_config(aconn, app.app_id) is None
