"""One running Pushflow (``pushflow up`` as a subprocess in its own process group) shared by the
tests of a module: private ports, a private data dir, and the session's Redis and PostgreSQL
(through the inherited ``PUSHFLOW_*`` variables)."""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
PUSHFLOW = Path(sys.executable).parent / "pushflow"
START_TIMEOUT = 90.0
# honcho's own line, which pushflow up prints as a JSON record (pushflow/up/printer.py).
STARTED = re.compile(r'system\s*\| .*"msg": "(\S+) started \(pid=(\d+)\)"')


# Below Linux's ephemeral range (32768-60999): a port picked there can be taken by any outgoing
# connection's local port before the process meant to listen on it binds it.
_QUIET_PORTS = (20000, 32000)


def free_port_block(size: int) -> int:
    """The first of ``size`` consecutive free loopback ports outside the ephemeral range."""
    for _ in range(200):
        base = random.randrange(_QUIET_PORTS[0], _QUIET_PORTS[1] - size)
        ports = []
        try:
            for port in range(base, base + size):
                s = socket.socket()
                ports.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in ports:
                s.close()
    raise RuntimeError("no block of free ports")


@dataclass
class RunningSystem:
    process: subprocess.Popen[bytes]
    log_path: Path
    data_dir: Path
    demo: dict[str, Any]
    api_url: str
    metrics_base: int

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def tail(self, name: str, lines: int = 40) -> str:
        """The last log lines of one process (or of honcho's own, name "system")."""
        mine = [line for line in self.log_text().splitlines()
                if line[9:].startswith(name + " ") or line.startswith(name)]
        return "\n".join(mine[-lines:])

    def child_pids(self) -> dict[str, int]:
        return {m.group(1): int(m.group(2)) for m in STARTED.finditer(self.log_text())}

    def request(self, method: str, path: str, body: Any = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
        data = json.dumps(body).encode() if body is not None else None
        all_headers = {"Authorization": self.demo["secret"],
                       "Application-Key": self.demo["applicationKey"],
                       "Content-Type": "application/json", **(headers or {})}
        req = urllib.request.Request(self.api_url + path, data=data, method=method,
                                     headers=all_headers)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                raw, status, hdrs = resp.read(), resp.status, dict(resp.headers)
        except urllib.error.HTTPError as exc:
            raw, status, hdrs = exc.read(), exc.code, dict(exc.headers)
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = raw.decode(errors="replace")
        return status, hdrs, payload


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0


def through_make(up_args: list[str]) -> list[str]:
    """``make up`` passing ``up_args`` on, with this interpreter's venv, never reinstalling it."""
    venv = Path(sys.prefix)
    return ["make", "--no-print-directory", "-o", str(venv / ".installed"), f"VENV={venv}", "up",
            f"UP_ARGS={shlex.join(up_args)}"]


def start_system(tmp: Path, env_overrides: dict[str, str] | None = None,
                 command: Callable[[list[str]], list[str]] | None = None) -> RunningSystem:
    """``pushflow up`` on private ports; ``command`` turns its arguments into another way of
    starting it (``through_make``)."""
    names = ("api", "flower", "apns", "fcm", "oauth", "control", "m1", "m2", "m3", "m4")
    base = free_port_block(len(names))
    ports = {name: base + i for i, name in enumerate(names)}
    metrics_base = ports["m1"]
    data_dir = tmp / "data"
    env = {**os.environ, "PUSHFLOW_DATA_DIR": str(data_dir), "PUSHFLOW_LOG_JSON": "true",
           "PUSHFLOW_LOG_LEVEL": "INFO", **(env_overrides or {})}
    log_path = tmp / "up.log"
    up_args = ["--api-port", str(ports["api"]), "--flower-port", str(ports["flower"]),
               "--sandbox-apns-port", str(ports["apns"]), "--sandbox-fcm-port", str(ports["fcm"]),
               "--sandbox-oauth-port", str(ports["oauth"]),
               "--sandbox-control-port", str(ports["control"]),
               "--metrics-port-base", str(metrics_base)]
    argv = command(up_args) if command else [str(PUSHFLOW), "up", *up_args]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    api_url = f"http://127.0.0.1:{ports['api']}"
    system = RunningSystem(process, log_path, data_dir, {}, api_url, metrics_base)
    deadline = time.monotonic() + START_TIMEOUT
    demo_path = data_dir / "demo.json"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        if demo_path.exists() and _get(api_url + "/readyz") == 200:
            system.demo = json.loads(demo_path.read_text())
            return system
        time.sleep(0.3)
    stop_system(system)
    tail = "\n".join(system.log_text().splitlines()[-60:])
    raise AssertionError(f"pushflow up did not become ready:\n{tail}")


def stop_system(system: RunningSystem, timeout: float = 30.0) -> int | None:
    """Ctrl-C, as a terminal sends it: SIGINT to the foreground process group."""
    if system.process.poll() is None:
        os.killpg(system.process.pid, signal.SIGINT)
        try:
            system.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(system.process.pid, signal.SIGKILL)
            system.process.wait(10)
    # Anything honcho started must be gone too (each runs in a process group of its own).
    for pid in system.child_pids().values():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    return system.process.returncode


@pytest.fixture(scope="module")
def running_system(pushflow_env: dict[str, str],
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    system = start_system(tmp_path_factory.mktemp("up"))
    try:
        yield system
    finally:
        stop_system(system)
