"""``SandboxProcess``: run ``pushflow sandbox`` in a subprocess for tests and benchmarks.

It must be another process: firebase-admin refreshes OAuth tokens with blocking ``requests``
calls, which would deadlock a sandbox running on the caller's event loop.

Usage::

    from sandbox.testing import SandboxProcess

    with SandboxProcess(state_dir=tmp / "sbx", credentials_dir=tmp / "creds", latency_ms=0) as sbx:
        sbx.apns_url, sbx.fcm_url, sbx.oauth_url, sbx.control_url  # "https://127.0.0.1:PORT" ...
        sbx.ca_file              # Path of the sandbox CA (trust it for APNs and FCM)
        sbx.credentials_dir      # Path: apns-key.p8, apns.json, apns-cert.pem, apns-cert.p12,
                                 #       fcm-service-account.json, ca.pem, sandbox.env
        sbx.apns                 # dict from apns.json: keyId, teamId, topic, sandbox
        sbx.service_account_file # Path of fcm-service-account.json (token_uri -> sandbox OAuth)
        sbx.env()                # {"PUSHFLOW_FCM_URL", "PUSHFLOW_APNS_SANDBOX_URL",
                                 #  "PUSHFLOW_APNS_PRODUCTION_URL", "PUSHFLOW_GATEWAY_CA_FILE"}
        rule_id = sbx.add_fault(gateway="apns", kind="unregistered", match="04", times=1)
        sbx.add_fault(gateway="fcm", kind="quota_exceeded", percent=50, retryAfter=7)
        sbx.clear_faults()
        sbx.stats()              # {"apns": {"requests", "accepted", "rejected", "abandoned",
                                 #   "duplicates", "connections", "refusedStreams",
                                 #   "streamLimitGoaways", "acceptedByToken", "jwts", "jwtIats"},
                                 #   "fcm": {..., "accessTokens"}, "oauth": {"tokensIssued"},
                                 #   "latencyMs", "http2"}
        sbx.requests("apns", token=None)  # recorded requests, oldest first
        sbx.set_latency(50)      # ms, for every later answer
        sbx.set_http2(max_concurrent_streams=10, strict=True, settings_delay_ms=20)  # new conns
        sbx.close_connections("apns", "goaway")  # or "drop"; None: both gateways
        sbx.reset()              # counters, faults, recorded requests, stream limit

Ports are picked free (0) unless given; ``state_dir`` keeps the generated CA and keys so several
sandboxes (or restarts) share them; ``credentials_dir`` defaults to ``state_dir/credentials``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

START_TIMEOUT = 30.0


class SandboxError(RuntimeError):
    """The sandbox process did not start or a control call failed."""


class SandboxProcess:
    def __init__(
        self,
        state_dir: Path,
        credentials_dir: Path | None = None,
        *,
        latency_ms: float = 0,
        ports: dict[str, int] | None = None,
        extra_args: list[str] | None = None,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.credentials_dir = Path(credentials_dir or self.state_dir / "credentials").resolve()
        self._latency_ms = latency_ms
        self._ports = {"apns": 0, "fcm": 0, "oauth": 0, "control": 0, **(ports or {})}
        self._extra_args = extra_args or []
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None
        self._client: httpx.Client | None = None
        self.ready: dict[str, Any] = {}

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> SandboxProcess:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "pushflow.cli.main",
            "sandbox",
            "--apns-port",
            str(self._ports["apns"]),
            "--fcm-port",
            str(self._ports["fcm"]),
            "--oauth-port",
            str(self._ports["oauth"]),
            "--control-port",
            str(self._ports["control"]),
            "--latency-ms",
            str(self._latency_ms),
            "--state-dir",
            str(self.state_dir),
            "--write-credentials",
            str(self.credentials_dir),
            *self._extra_args,
        ]
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - kept open for the process's life
        self._proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=self._log, env=os.environ.copy()
        )
        self.ready = self._read_ready_line()
        self._client = httpx.Client(base_url=self.control_url, timeout=10.0)
        return self

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc is not None and proc.stdout is not None:
            proc.stdout.close()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> SandboxProcess:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _read_ready_line(self) -> dict[str, Any]:
        import selectors

        assert self._proc is not None and self._proc.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT
        buf = b""
        with selectors.DefaultSelector() as sel:
            sel.register(self._proc.stdout, selectors.EVENT_READ)
            while b"\n" not in buf:
                left = deadline - time.monotonic()
                if left <= 0 or (self._proc.poll() is not None and not sel.select(0)):
                    self._fail("did not print its ready line")
                if sel.select(min(left, 0.5)):
                    chunk = os.read(self._proc.stdout.fileno(), 65536)
                    if not chunk:
                        self._fail("exited before it was ready")
                    buf += chunk
        ready: dict[str, Any] = json.loads(buf.split(b"\n", 1)[0])
        return ready

    def _fail(self, what: str) -> None:
        log = b""
        if self._log is not None:
            self._log.seek(0)
            log = self._log.read()[-4000:]
        self.stop()
        raise SandboxError(f"pushflow sandbox {what}; stderr:\n{log.decode(errors='replace')}")

    # -- where it is ----------------------------------------------------------------------------
    @property
    def pid(self) -> int:
        if self._proc is None:
            raise SandboxError("sandbox is not running")
        return self._proc.pid

    @property
    def apns_url(self) -> str:
        return str(self.ready["apnsUrl"])

    @property
    def fcm_url(self) -> str:
        return str(self.ready["fcmUrl"])

    @property
    def oauth_url(self) -> str:
        return str(self.ready["oauthUrl"])

    @property
    def control_url(self) -> str:
        return str(self.ready["controlUrl"])

    @property
    def ca_file(self) -> Path:
        return Path(self.ready["caFile"])

    @property
    def apns(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.credentials_dir / "apns.json").read_text())
        return data

    @property
    def service_account_file(self) -> Path:
        return self.credentials_dir / "fcm-service-account.json"

    def env(self) -> dict[str, str]:
        """The ``PUSHFLOW_*`` settings that point Pushflow at this sandbox."""
        return {
            "PUSHFLOW_FCM_URL": self.fcm_url,
            "PUSHFLOW_APNS_SANDBOX_URL": self.apns_url,
            "PUSHFLOW_APNS_PRODUCTION_URL": self.apns_url,
            "PUSHFLOW_GATEWAY_CA_FILE": str(self.ca_file),
        }

    # -- control API ----------------------------------------------------------------------------
    def add_fault(self, **rule: Any) -> int:
        """Add a fault rule (gateway, kind, match, percent, times, retryAfter); returns its id."""
        return int(self._call("POST", "/faults", rule)["id"])

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "/stats")

    def requests(
        self, gateway: str, token: str | None = None, limit: int = 10_000,
        since: float | None = None,
    ) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"gateway": gateway, "limit": limit}
        if token is not None:
            params["token"] = token
        if since is not None:
            params["since"] = since
        result: list[dict[str, Any]] = self._call("GET", "/requests", params=params)["requests"]
        return result

    def reset(self) -> None:
        self._call("POST", "/reset")

    def set_latency(self, ms: float) -> None:
        self._call("POST", "/latency", {"ms": ms})

    def set_http2(self, **behaviour: Any) -> None:
        """max_concurrent_streams, strict, settings_delay_ms: for connections opened later."""
        names = {
            "max_concurrent_streams": "maxConcurrentStreams",
            "strict": "strict",
            "settings_delay_ms": "settingsDelayMs",
        }
        self._call("POST", "/http2", {names.get(k, k): v for k, v in behaviour.items()})

    def close_connections(self, gateway: str | None = None, action: str = "goaway") -> int:
        """GOAWAY (every stream received so far is answered) or drop open HTTP/2 connections."""
        body = {"gateway": gateway, "action": action}
        return int(self._call("POST", "/connections/close", body)["closed"])

    def _call(self, method: str, path: str, body: Any = None, params: Any = None) -> dict[str, Any]:
        if self._client is None:
            raise SandboxError("sandbox is not running")
        resp = self._client.request(method, path, json=body, params=params)
        if resp.status_code != 200:
            raise SandboxError(f"{method} {path}: {resp.status_code} {resp.text}")
        data: dict[str, Any] = resp.json()
        return data
