"""`pushflow up` on a machine where nothing answers at the configured Redis and PostgreSQL URLs:
it starts embedded ones, every process uses them, a push is delivered, and Ctrl-C stops the
embedded servers too."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import psutil

from tests.pushflow.up.conftest import free_port_block, start_system, stop_system
from tests.pushflow.up.test_system import SENT_OR_LATER, apns_token, wait_dispatches


def embedded_servers(data_dir: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or ())
        if str(data_dir) in cmdline and ("redis-server" in cmdline or "postgres" in cmdline):
            found.append(proc)
    return found


def test_up_with_embedded_redis_and_postgres(pushflow_env: dict[str, str]) -> None:
    # Outside pytest's 0700 tmp: as root, PostgreSQL runs as pgserver's own user.
    folder = Path(tempfile.mkdtemp(prefix="pushflow-up-embedded-"))
    dead = free_port_block(1)  # nothing listens: the embedded Redis takes this port
    try:
        system = start_system(folder, {
            "PUSHFLOW_REDIS_URL": f"redis://127.0.0.1:{dead}/0",
            "PUSHFLOW_DATABASE_URL": f"postgresql://127.0.0.1:{dead}/pushflow",
        })
        try:
            log = system.log_text()
            assert "Redis: embedded" in log and "PostgreSQL: embedded" in log
            assert any(system.data_dir.joinpath("redis").glob("appendonly*"))
            assert (system.data_dir / "postgres" / "PG_VERSION").exists()
            status, _, body = system.request(
                "POST", "/v2.1/push", {"device_tokens": [apns_token()], "content": "embedded"})
            assert status == 202, body
            data = wait_dispatches(system, body["data"][0]["messageId"])
            assert data["dispatches"][0]["status"] in SENT_OR_LATER
            assert embedded_servers(system.data_dir)
        finally:
            stop_system(system)
        deadline = time.monotonic() + 15
        while embedded_servers(system.data_dir):
            assert time.monotonic() < deadline, "embedded servers still running after Ctrl-C"
            time.sleep(0.2)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
