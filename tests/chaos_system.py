"""A whole Pushflow on 127.0.0.1 whose parts a fault run can kill, restart and cut off: a
restartable redis-server with AOF, a fresh PostgreSQL database reached through a cuttable TCP
proxy, the sandbox gateways, every process ``pushflow up`` runs (but Flower), each in a process
group of its own, and a webhook receiver that can be stopped and started again.

    with ChaosSystem(workdir) as system:
        system.push(["<apns token>", "<fcm token>"])   # (status, body)
        system.kill("worker-apns"); system.start("worker-apns")
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pushflow.up import bootstrap
from pushflow.up.procfile import ProcessSpec, UpPorts, build_processes
from sandbox.testing import SandboxProcess
from shared.db.migrate import migrate
from shared.observability.exporter import MULTIPROC_ENV, reset_multiprocess_dir
from tests.pushflow.up.conftest import free_port_block
from tests.services import RedisServer, postgres_database
from tests.tcp_proxy import TcpProxy
from tests.workers.webhooks.receiver import Receiver
from workers.delivery.reliable_queue import TAKE_SCRIPT

# What the batched consumer sends for a take (redis-py calls a registered script by its SHA1).
TAKE_MARKER = hashlib.sha1(TAKE_SCRIPT.encode()).hexdigest().encode()
# The process whose Redis connections go through ``ChaosSystem.redis_proxy``.
PROXIED_TO_REDIS = "worker-apns"

# Webhook retries a fault run can wait for (production: 10 s doubling up to an hour).
BENCH_ENV = {
    "PUSHFLOW_WEBHOOK_ALLOW_HTTP": "true",
    "PUSHFLOW_WEBHOOK_ALLOW_PRIVATE": "true",
    "PUSHFLOW_WEBHOOK_RETRY_BASE_SECONDS": "1",
    "PUSHFLOW_WEBHOOK_RETRY_MAX_SECONDS": "4",
    "PUSHFLOW_SECRET_KEY": "cHVzaGZsb3ctdGVzdC1rZXktbm90LWZvci1wcm9kISE=",
    "PUSHFLOW_LOG_JSON": "true",
    "PUSHFLOW_LOG_LEVEL": "WARNING",
    "PYTHONUNBUFFERED": "1",
}


class ThreadedProxy:
    """``TcpProxy`` in an event loop of its own thread, so a synchronous run can cut it."""

    def __init__(self, host: str, port: int) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._proxy = TcpProxy(host, port)

    @property
    def port(self) -> int:
        return self._proxy.port

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(30)

    def start(self) -> ThreadedProxy:
        self._thread.start()
        self._run(self._proxy.__aenter__())
        return self

    def cut(self) -> None:
        self._run(self._proxy.cut())

    def restore(self) -> None:
        self._run(self._proxy.restore())

    def hold_replies_after(self, marker: bytes) -> None:
        self._loop.call_soon_threadsafe(self._proxy.hold_replies_after, marker)

    def wait_holding(self, timeout: float) -> None:
        """Until a connection's replies are held (``TcpProxy.hold_replies_after``)."""
        self._run(asyncio.wait_for(self._proxy.holding.wait(), timeout))

    def stop(self) -> None:
        self.cut()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


class ChaosSystem:
    def __init__(self, workdir: Path, *, proxies: bool = True) -> None:
        """``proxies``: PostgreSQL for every process, and Redis for ``PROXIED_TO_REDIS``,
        reached through relays the fault tests can cut or hold; False connects them directly,
        as a deployment does (the relays run in this process and cost it CPU)."""
        self.workdir = workdir
        self.proxies = proxies
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.specs: dict[str, ProcessSpec] = {}
        self.receiver = Receiver()
        self._stack = ExitStack()
        self.env: dict[str, str] = {}
        self.headers: dict[str, str] = {}
        self.overrides: dict[str, dict[str, str]] = {}  # per process, over ``env``

    # -- lifecycle ------------------------------------------------------------------------------
    def __enter__(self) -> ChaosSystem:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "redis").mkdir(exist_ok=True)
        self.redis = RedisServer(self.workdir / "redis", appendonly=True).start()
        self._stack.callback(self.redis.stop)
        self.direct_db_url = self._stack.enter_context(postgres_database("pushflow_chaos"))
        migrate(self.direct_db_url)
        db_url = self.direct_db_url
        if self.proxies:
            # One send worker reaches Redis through a proxy that can hold back a take's reply.
            self.redis_proxy = ThreadedProxy("127.0.0.1", self.redis.port).start()
            self._stack.callback(self.redis_proxy.stop)
            self.overrides = {PROXIED_TO_REDIS: {
                "PUSHFLOW_REDIS_URL": f"redis://127.0.0.1:{self.redis_proxy.port}/0"}}
            pg = urlsplit(self.direct_db_url)
            self.pg_proxy = ThreadedProxy(pg.hostname or "127.0.0.1", pg.port or 5432).start()
            self._stack.callback(self.pg_proxy.stop)
            userinfo = pg.netloc.rpartition("@")[0]
            netloc = f"{userinfo}@" if userinfo else ""
            db_url = urlunsplit(pg._replace(netloc=f"{netloc}127.0.0.1:{self.pg_proxy.port}"))
        self.sandbox = SandboxProcess(self.workdir / "sandbox").start()
        self._stack.callback(self.sandbox.stop)
        base = free_port_block(6)
        ports = UpPorts(api=base, metrics_base=base + 1)
        self.api_url = f"http://127.0.0.1:{ports.api}"
        data_dir = self.workdir / "data"
        data_dir.mkdir(exist_ok=True)
        self.env = {**os.environ, **BENCH_ENV, **self.sandbox.env(),
                    "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"],
                    "PUSHFLOW_REDIS_URL": self.redis.url, "PUSHFLOW_DATABASE_URL": db_url,
                    "PUSHFLOW_DATA_DIR": str(data_dir)}
        app_key, secret, _ = bootstrap.ensure_demo_key(self.direct_db_url,
                                                       self.workdir / "demo.json")
        bootstrap.load_credentials(app_key, self.sandbox.credentials_dir, self.env)
        self.headers = {"Authorization": secret, "Application-Key": app_key,
                        "Content-Type": "application/json"}
        for spec in build_processes(ports, data_dir, flower=False):
            if spec.name != "sandbox":
                self.specs[spec.name] = spec
                self.start(spec.name)
        self._stack.callback(self._stop_processes)
        self.wait_api()
        self.receiver.start()
        self._stack.callback(self.receiver.stop)
        status, body = self.request("PUT", "/v2.1/webhooks", {"primaryUrl": self.receiver.url})
        if status not in (200, 201):
            raise RuntimeError(f"webhook configuration refused: {status} {body}")

    def close(self) -> None:
        self._stack.close()

    # -- processes ------------------------------------------------------------------------------
    def start(self, name: str) -> None:
        spec = self.specs[name]
        if MULTIPROC_ENV in spec.env:  # a restarted DLR must not merge its dead self's files
            reset_multiprocess_dir(spec.env[MULTIPROC_ENV])
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 - the child owns it
        with log:
            self.procs[name] = subprocess.Popen(
                list(spec.argv), env={**self.env, **spec.env, **self.overrides.get(name, {})},
                stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)

    def kill(self, name: str) -> None:
        """SIGKILL to the whole process group (a prefork DLR's children too)."""
        proc = self.procs[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def _stop_processes(self) -> None:
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for name, proc in self.procs.items():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill(name)

    def dead(self) -> list[str]:
        return [name for name, proc in self.procs.items() if proc.poll() is not None]

    def wait_api(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), urllib.request.urlopen(
                    self.api_url + "/readyz", timeout=2) as resp:
                if resp.status == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"the API was not ready in {timeout}s: {self.dead()} exited")

    # -- the API --------------------------------------------------------------------------------
    def request(self, method: str, path: str, body: Any = None, timeout: float = 10.0,
                headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """(status, JSON body); status 0 when no answer came (connection refused or reset)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.api_url + path, data=data, method=method,
                                     headers={**self.headers, **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return int(resp.status), json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                return int(exc.code), json.loads(raw)
            except ValueError:
                return int(exc.code), raw.decode(errors="replace")
        except (OSError, ValueError) as exc:
            return 0, str(exc)

    def push(self, tokens: list[str], idempotency_key: str | None = None) -> tuple[int, Any]:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return self.request("POST", "/v2.1/push",
                            {"device_tokens": tokens, "title": "Chaos", "content": "fault run"},
                            headers=headers)
