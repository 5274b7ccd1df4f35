"""Real processes for webhook tests, for this package only: the Celery DLR worker and one webhook
sender subprocess with fast retries, http and loopback allowed (receivers run on 127.0.0.1)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cryptography.fernet import Fernet

from domain.webhooks.signing import encrypt, new_secret
from shared.settings import get_settings
from shared.statuses import EVENT_TYPES
from tests.services import free_port
from tests.workers.dlr.helpers import (
    TEST_DLR_QUEUE,
    celery_worker_args,
    running_alive,
    webhook_sender_args,
)
from tests.workers.webhooks.receiver import Receiver

SENDER_ENV = {
    "PUSHFLOW_WEBHOOK_ALLOW_HTTP": "true",
    "PUSHFLOW_WEBHOOK_ALLOW_PRIVATE": "true",
    "PUSHFLOW_WEBHOOK_RETRY_BASE_SECONDS": "0.2",
    "PUSHFLOW_WEBHOOK_RETRY_MAX_SECONDS": "0.5",
    "PUSHFLOW_WEBHOOK_TIMEOUT_SECONDS": "5",
    "PUSHFLOW_WEBHOOK_PER_APP_CONCURRENCY": "3",
    "PUSHFLOW_WEBHOOK_POLL_SECONDS": "0.05",
    "PUSHFLOW_LOG_LEVEL": "INFO",  # per-event lines (failed attempts, retries) are INFO
    "PUSHFLOW_LOG_JSON": "true",
}


@dataclass(frozen=True)
class SenderProcess:
    log_path: Path
    metrics_port: int



@pytest.fixture(scope="package")
def dlr_worker(pushflow_env: dict[str, str], service_dir: Path) -> Iterator[None]:
    with running_alive(celery_worker_args(TEST_DLR_QUEUE), service_dir / "dlr-worker-2.log"):
        yield


@pytest.fixture(scope="package")
def webhook_sender(pushflow_env: dict[str, str], service_dir: Path) -> Iterator[SenderProcess]:
    sender = SenderProcess(service_dir / "webhook-sender.log", free_port())
    env = {**SENDER_ENV, "PUSHFLOW_METRICS_PORT": str(sender.metrics_port)}
    with running_alive(webhook_sender_args(), sender.log_path, env):
        yield sender


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
