"""Real services for tests: a private redis-server per test session and a fresh PostgreSQL
database per session on the local server, so parallel runs never share state."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql

PG_SERVER_URL = os.environ.get("PUSHFLOW_TEST_PG", "postgresql://127.0.0.1:5432/postgres")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 10.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")


class RedisServer:
    """A redis-server a test can restart on the same port and data directory. ``appendonly``:
    AOF on, as in production, so what Redis acknowledged survives a restart."""

    def __init__(self, workdir: Path, port: int | None = None, *, appendonly: bool = False
                 ) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.appendonly = appendonly
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self._proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes" if self.appendonly else "no", "--dir", str(self.workdir),
             "--logfile", str(self.workdir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_port(self.port)
        return self

    def stop(self) -> None:
        """A clean shutdown (SIGTERM: the AOF is flushed), as an operator's restart does."""
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(10)
            self._proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def kill(self) -> None:
        """A crash (SIGKILL: nothing flushed but what Redis already wrote to its AOF)."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(10)
            self._proc = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def redis_server(workdir: Path, port: int | None = None) -> Iterator[str]:
    """Start a throwaway redis-server (on ``port``, else a free one); yields its URL."""
    with RedisServer(workdir, port) as server:
        yield server.url


class ReplyDropper:
    """A TCP proxy in front of a server (in a thread of its own, so subprocesses can use it) that,
    once armed, swallows the first reply containing some bytes and closes that connection: a
    command that ran but whose client never heard so, as when the server restarts at that moment.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.dropped = threading.Event()
        self._pattern: bytes | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def arm(self, pattern: bytes) -> None:
        self.dropped.clear()
        self._pattern = pattern

    def __enter__(self) -> ReplyDropper:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _close(self) -> None:
        self._server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter
                     ) -> None:
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_w.close()
            return

        async def pump(r: asyncio.StreamReader, w: asyncio.StreamWriter, replies: bool) -> None:
            while data := await r.read(65536):
                if replies and self._pattern is not None and self._pattern in data:
                    self._pattern = None
                    self.dropped.set()
                    break
                w.write(data)
                await w.drain()
            client_w.close()
            server_w.close()

        await asyncio.gather(pump(client_r, server_w, False), pump(server_r, client_w, True),
                             return_exceptions=True)


@contextmanager
def postgres_database(prefix: str = "pushflow_test") -> Iterator[str]:
    """Create an empty database on the local PostgreSQL server; yields its URL, drops it after."""
    name = f"{prefix}_{os.getpid()}_{int(time.time() * 1000) % 100000}"
    with psycopg.connect(PG_SERVER_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    base = PG_SERVER_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_SERVER_URL, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@contextmanager
def patched_env(env: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the block (and re-read settings), restoring them after."""
    from shared.settings import get_settings

    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    get_settings.cache_clear()
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        get_settings.cache_clear()
