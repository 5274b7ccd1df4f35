"""Session-wide real services and per-test helpers.

Every test session gets its own redis-server and its own PostgreSQL database, migrated once;
``PUSHFLOW_*`` variables point at them, so code under test (and subprocesses it starts: API
servers, Celery workers, sandboxes) finds them through the normal settings.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from domain.keys import store as apps
from shared import credentials
from shared.db.migrate import migrate
from shared.settings import get_settings
from shared.tokens import Platform
from tests.services import patched_env, postgres_database, redis_server


@pytest.fixture(scope="session")
def service_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("services")


@pytest.fixture(scope="session", autouse=True)
def pushflow_env(service_dir: Path) -> Iterator[dict[str, str]]:
    """Point every ``PUSHFLOW_*`` setting at this session's private services."""
    with redis_server(service_dir) as redis_url, postgres_database() as db_url:
        env = {
            "PUSHFLOW_DATABASE_URL": db_url,
            "PUSHFLOW_REDIS_URL": redis_url,
            "PUSHFLOW_DATA_DIR": str(service_dir / "data"),
            "PUSHFLOW_SECRET_KEY": "cHVzaGZsb3ctdGVzdC1rZXktbm90LWZvci1wcm9kISE=",
            "PUSHFLOW_LOG_JSON": "true",
        }
        with patched_env(env):
            migrate(db_url)
            yield env


@pytest.fixture()
def db(pushflow_env: dict[str, str]) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(pushflow_env["PUSHFLOW_DATABASE_URL"], autocommit=True) as conn:
        yield conn


@pytest.fixture()
def redis_client(pushflow_env: dict[str, str]) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(pushflow_env["PUSHFLOW_REDIS_URL"])
    yield client
    client.close()


@dataclass(frozen=True)
class TestApp:
    app_key: str
    app_id: int
    secret: str

    def headers(self) -> dict[str, str]:
        return {"Authorization": self.secret, "Application-Key": self.app_key}


def _pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@pytest.fixture(scope="session")
def gateway_credentials() -> dict[Platform, credentials.Credential]:
    """An APNs token key and an FCM service account, per platform: they parse like real ones
    (so the intake accepts the platform's tokens) but no gateway knows them. Tests that deliver
    load the sandbox's own (tests/workers/conftest.py)."""
    account = {"type": "service_account", "project_id": "pushflow-tests",
               "private_key": _pem(rsa.generate_private_key(65537, 2048)).decode(),
               "client_email": "tests@pushflow-tests.iam.gserviceaccount.com",
               "token_uri": "https://oauth2.invalid/token"}
    return {
        "ios": credentials.parse_apns_key(_pem(ec.generate_private_key(ec.SECP256R1())),
                                          "TESTKEY001", "TESTTEAM01", "com.example.tests"),
        "android": credentials.parse_fcm_service_account(
            json.dumps(account).encode()),
    }


@pytest.fixture()
def make_app(db: psycopg.Connection[Any],
             gateway_credentials: dict[Platform, credentials.Credential]) -> Any:
    """Create an app with a key of the given scopes (default: every scope) and credentials for
    the given platforms (default: none; the intake refuses tokens of a platform without
    credentials, ``PLATFORM_NOT_CONFIGURED``)."""

    def factory(name: str = "test", scopes: tuple[str, ...] = apps.SCOPES,
                platforms: tuple[Platform, ...] = ()) -> TestApp:
        app_key = apps.create_app(db, name)
        key = apps.create_key(db, app_key, list(scopes))
        app_id = apps.app_id_for(db, app_key)
        for platform in platforms:
            credentials.store(db, app_id, gateway_credentials[platform],
                              get_settings().fernet_key())
        return TestApp(app_key, app_id, key.secret)

    return factory
