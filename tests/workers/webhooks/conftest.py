"""Real processes for webhook tests: the Celery DLR worker and one webhook sender subprocess
with fast retries, http and loopback allowed (the receivers run on 127.0.0.1)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cryptography.fernet import Fernet

from shared.settings import get_settings
from shared.statuses import EVENT_TYPES
from tests.workers.dlr.conftest import dlr_worker
from tests.workers.dlr.helpers import shared_process, webhook_sender_args
from tests.workers.webhooks.receiver import Receiver
from workers.webhooks.signing import encrypt, new_secret

__all__ = ["dlr_worker"]

SENDER_ENV = {
    "PUSHFLOW_WEBHOOK_ALLOW_HTTP": "true",
    "PUSHFLOW_WEBHOOK_ALLOW_PRIVATE": "true",
    "PUSHFLOW_WEBHOOK_RETRY_BASE_SECONDS": "0.2",
    "PUSHFLOW_WEBHOOK_RETRY_MAX_SECONDS": "0.5",
    "PUSHFLOW_WEBHOOK_TIMEOUT_SECONDS": "5",
    "PUSHFLOW_WEBHOOK_PER_APP_CONCURRENCY": "3",
    "PUSHFLOW_WEBHOOK_POLL_SECONDS": "0.05",
    "PUSHFLOW_LOG_LEVEL": "WARNING",
}


@pytest.fixture(scope="session")
def webhook_sender(request: pytest.FixtureRequest, pushflow_env: dict[str, str],
                   service_dir: Path) -> None:
    shared_process(request, "webhook-sender", webhook_sender_args(),
                   service_dir / "webhook-sender.log", SENDER_ENV)


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def configure_webhooks(db: psycopg.Connection[Any], app_id: int, primary: str | None,
                       secondary: str | None = None,
                       events: tuple[str, ...] = EVENT_TYPES) -> str:
    """Store a webhook configuration directly (as if saved through the API); returns the secret."""
    secret = new_secret()
    db.execute("INSERT INTO webhook_endpoints (app_id, primary_url, secondary_url, event_types)"
               " VALUES (%s, %s, %s, %s)", (app_id, primary, secondary, list(events)))
    db.execute("INSERT INTO webhook_secrets (app_id, secret) VALUES (%s, %s)",
               (app_id, encrypt(Fernet(get_settings().fernet_key()), secret)))
    return secret
