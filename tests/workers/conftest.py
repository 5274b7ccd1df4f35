"""Fixtures for delivery tests: one sandbox per session (real HTTP/2 over TLS), apps with real
credentials from it, and send workers as real ``celery -A workers worker`` subprocesses."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from psycopg.types.json import Jsonb

from domain.keys import send_rates
from domain.keys import store as apps
from sandbox.testing import SandboxProcess
from shared import credentials, queues
from shared.jobs import SendResult
from shared.settings import get_settings
from tests.services import patched_env
from workers.delivery.testing import WorkerProcess, dlr_results, wait_for

# Fast retries so retry paths finish in a test's time; the quota floor keeps its real 60 s
# (tests read the ETA of the re-published message instead of waiting for it).
WORKER_ENV = {
    "PUSHFLOW_MAX_ATTEMPTS": "3",
    "PUSHFLOW_RETRY_BASE_SECONDS": "0.2",
    "PUSHFLOW_RETRY_MAX_SECONDS": "0.5",
    "PUSHFLOW_SEND_TIMEOUT_SECONDS": "5",
    "PUSHFLOW_LOG_JSON": "false",
}
SEND_QUEUES = list(queues.SEND_QUEUES)


@pytest.fixture(scope="session")
def sandbox(pushflow_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[SandboxProcess]:
    with SandboxProcess(tmp_path_factory.mktemp("sandbox")) as sbx, patched_env(sbx.env()):
        yield sbx


@pytest.fixture(scope="session")
def delivery_redis(pushflow_env: dict[str, str]) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(pushflow_env["PUSHFLOW_REDIS_URL"])
    yield client
    client.close()


@pytest.fixture(scope="session")
def delivery_db(pushflow_env: dict[str, str]) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(pushflow_env["PUSHFLOW_DATABASE_URL"], autocommit=True) as conn:
        yield conn


def apns_key_credential(sbx: SandboxProcess) -> credentials.ApnsTokenKey:
    a = sbx.apns
    return credentials.parse_apns_key((sbx.credentials_dir / "apns-key.p8").read_bytes(),
                                      a["keyId"], a["teamId"], a["topic"], a["sandbox"])


@pytest.fixture(scope="session")
def new_app(sandbox: SandboxProcess, delivery_db: psycopg.Connection[Any]
            ) -> Callable[..., int]:
    """An app with the sandbox's APNs token key and FCM service account; returns its id."""

    def factory(*, apns: str = "token", fcm: bool = True, send_rate: float | None = None,
                by_lane: dict[str, float] | None = None) -> int:
        """``send_rate``: that rate on every gateway and lane; by ``gateway.lane``
        (``apns.bulk``): ``by_lane``, the others at their lane's default."""
        key = apps.create_app(delivery_db, "delivery-" + secrets.token_hex(3))
        app_id = apps.app_id_for(delivery_db, key)
        fernet = get_settings().fernet_key()
        if apns == "token":
            credentials.store(delivery_db, app_id, apns_key_credential(sandbox), fernet)
        elif apns == "certificate":
            cert = credentials.parse_apns_certificate(
                (sandbox.credentials_dir / "apns-cert.pem").read_bytes())
            credentials.store(delivery_db, app_id, cert, fernet)
        if fcm:
            credentials.store(delivery_db, app_id, credentials.parse_fcm_service_account(
                sandbox.service_account_file.read_bytes()), fernet)
        own = dict.fromkeys(send_rates.KEYS, send_rate) if send_rate is not None else {}
        own.update(by_lane or {})
        delivery_db.execute("UPDATE apps SET send_rates = %s WHERE id = %s", (Jsonb(own), app_id))
        return app_id

    return factory


@pytest.fixture()
def start_worker(sandbox: SandboxProcess, tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """Start send workers (stopped at the end of the test)."""
    started: list[WorkerProcess] = []

    def start(queue_names: list[str] | None = None, **env: str) -> WorkerProcess:
        worker = WorkerProcess(queue_names or SEND_QUEUES, env={**WORKER_ENV, **env},
                               log_path=tmp_path / f"worker-{len(started)}.log").start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture(scope="module")
def module_worker(sandbox: SandboxProcess, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[WorkerProcess]:
    """One send worker for all four queues, shared by a module's tests (apps keep them apart)."""
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    with WorkerProcess(SEND_QUEUES, env=WORKER_ENV, log_path=log) as worker:
        yield worker


def results_for(client: redis.Redis, dispatch_ids: set[str]) -> list[SendResult]:
    """The final results of these dispatches (not the reports of attempts to be retried)."""
    return [r for r in dlr_results(client)
            if r["dispatchId"] in dispatch_ids and r["status"] != "queued"]


def retry_reports(client: redis.Redis, dispatch_ids: set[str]) -> list[SendResult]:
    """The attempts of these dispatches that were re-queued, as reported to the DLR."""
    return [r for r in dlr_results(client)
            if r["dispatchId"] in dispatch_ids and r["status"] == "queued"]


def wait_results(client: redis.Redis, dispatch_ids: set[str], timeout: float = 30.0
                 ) -> dict[str, SendResult]:
    """The final results of these dispatches once every one has one (asserting: only one)."""
    found = wait_for(lambda: len({r["dispatchId"] for r in results_for(client, dispatch_ids)})
                     >= len(dispatch_ids) and results_for(client, dispatch_ids),
                     timeout, what=f"results of {len(dispatch_ids)} dispatches")
    by_id: dict[str, SendResult] = {}
    for r in found:
        assert r["dispatchId"] not in by_id, f"two final outcomes for {r['dispatchId']}"
        by_id[r["dispatchId"]] = r
    return by_id
