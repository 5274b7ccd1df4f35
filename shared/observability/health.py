"""Readiness checks behind ``/readyz``: PostgreSQL reachable, migrations current, Redis reachable.

Each check opens its own short-lived connection with a short timeout (a probe must answer even
when a pool is exhausted) and reports ``ok`` plus a reason an operator can act on. Messages never
contain the connection URL (it may carry a password).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import psycopg
import redis
import redis.asyncio

from shared.db.migrate import latest_version

PROBE_TIMEOUT_SECONDS = 2.0
_VERSION_SQL = "SELECT coalesce(max(version), 0) FROM schema_migrations"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _migration_check(version: int) -> Check:
    want = latest_version()
    if version < want:
        return Check("migrations", False, f"database at {version}, code needs {want}:"
                     " run `pushflow migrate`")
    return Check("migrations", True, f"version {version}")


def check_postgres_sync(url: str) -> list[Check]:
    try:
        with psycopg.connect(url, connect_timeout=int(PROBE_TIMEOUT_SECONDS)) as conn:
            row = conn.execute(_VERSION_SQL).fetchone()
    except psycopg.errors.UndefinedTable:
        return [Check("postgres", True, "reachable"),
                Check("migrations", False, "schema missing: run `pushflow migrate`")]
    except (psycopg.Error, OSError) as exc:
        return [Check("postgres", False, _first_line(exc))]
    return [Check("postgres", True, "reachable"), _migration_check(int(row[0]) if row else 0)]


def check_redis_sync(url: str) -> Check:
    client = redis.Redis.from_url(
        url, socket_timeout=PROBE_TIMEOUT_SECONDS, socket_connect_timeout=PROBE_TIMEOUT_SECONDS
    )
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        return Check("redis", False, _first_line(exc))
    finally:
        client.close()
    return Check("redis", True, "reachable")


async def check_postgres(url: str) -> list[Check]:
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_SECONDS + 1):
            conn = await psycopg.AsyncConnection.connect(
                url, connect_timeout=int(PROBE_TIMEOUT_SECONDS)
            )
            async with conn:
                cur = await conn.execute(_VERSION_SQL)
                row = await cur.fetchone()
    except psycopg.errors.UndefinedTable:
        return [Check("postgres", True, "reachable"),
                Check("migrations", False, "schema missing: run `pushflow migrate`")]
    except (psycopg.Error, OSError, TimeoutError) as exc:
        return [Check("postgres", False, _first_line(exc))]
    return [Check("postgres", True, "reachable"), _migration_check(int(row[0]) if row else 0)]


async def check_redis(url: str) -> Check:
    client = redis.asyncio.Redis.from_url(
        url, socket_timeout=PROBE_TIMEOUT_SECONDS, socket_connect_timeout=PROBE_TIMEOUT_SECONDS
    )
    try:
        await client.ping()
    except (redis.RedisError, OSError, TimeoutError) as exc:
        return Check("redis", False, _first_line(exc))
    finally:
        await client.aclose()  # type: ignore[attr-defined]  # stubs predate redis 5
    return Check("redis", True, "reachable")


async def readiness(database_url: str, redis_url: str) -> list[Check]:
    """Every check of the API's readiness, run concurrently."""
    pg, rd = await asyncio.gather(check_postgres(database_url), check_redis(redis_url))
    return [*pg, rd]
