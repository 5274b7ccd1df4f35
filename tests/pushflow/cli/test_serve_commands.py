"""``pushflow api``: uvicorn's own lines come out in the API's JSON format, not uvicorn's text."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.services import free_port


def wait_healthy(url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("pushflow api did not answer /healthz")


def test_a_refused_request_is_logged_as_a_json_line(pushflow_env: dict[str, str]) -> None:
    port = free_port()
    api = subprocess.Popen(
        [str(Path(sys.executable).parent / "pushflow"), "api", "--port", str(port)],
        env={**os.environ, "PUSHFLOW_LOG_JSON": "true"}, stderr=subprocess.PIPE, text=True)
    try:
        wait_healthy(f"http://127.0.0.1:{port}/healthz", api)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.sendall(b"NOT HTTP AT ALL\r\n\r\n")  # answered 400, with a warning logged
            conn.recv(1024)
    finally:
        api.terminate()
        _, stderr = api.communicate(timeout=30)
    records = [json.loads(line) for line in stderr.splitlines()]  # every line is JSON
    # The server's HTTP protocol (producer/http_server.py, run by uvicorn) logs the refusal
    # through the API's JSON handler.
    assert any(r["logger"] == "pushflow.api" and "refused before routing" in r["msg"]
               and r["process"] == "api" for r in records), stderr
    # The served app's startup objects are out of the collector's full passes
    # (shared/gc_pauses.py).
    assert any(r["logger"] == "pushflow.gc" and "startup objects frozen" in r["msg"]
               for r in records), stderr
