"""Session-wide real services and per-test helpers.

Every test session gets its own redis-server and its own PostgreSQL database, migrated once;
``PUSHFLOW_*`` variables point at them, so code under test (and subprocesses it starts: API
servers, Celery workers, sandboxes) finds them through the normal settings.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from domain.keys import store as apps
from shared.db.migrate import migrate
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


@pytest.fixture()
def make_app(db: psycopg.Connection[Any]) -> Any:
    """Create an app with a key of the given scopes (default: every scope)."""

    def factory(name: str = "test", scopes: tuple[str, ...] = apps.SCOPES) -> TestApp:
        app_key = apps.create_app(db, name)
        key = apps.create_key(db, app_key, list(scopes))
        return TestApp(app_key, apps.app_id_for(db, app_key), key.secret)

    return factory
