"""Helpers shared by the DLR, webhook and receipts tests: seed messages/dispatches with SQL,
publish send results exactly as the send workers do, run real worker subprocesses, poll."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import redis

from shared.ids import new_id
from shared.queues import DLR, TASK_RECORD_RESULT
from shared.taskmessage import build_message

ROOT = Path(__file__).resolve().parents[3]
# The tests' DLR worker consumes a list of its own: other areas' tests read send outcomes off the
# real ``dlr`` list in the same session, and a worker eating them would break those tests.
TEST_DLR_QUEUE = f"{DLR}.test"
T = TypeVar("T")


def ios_token() -> str:
    return uuid.uuid4().hex + uuid.uuid4().hex


def seed_dispatches(
    db: psycopg.Connection[Any],
    app_id: int,
    n: int = 1,
    *,
    webhook_url: str | None = None,
    external_id: str | None = "ext-1",
    tokens: list[str] | None = None,
) -> list[dict[str, Any]]:
    """One message with ``n`` queued iOS dispatches; returns their SendResult skeletons."""
    message_id = new_id()
    db.execute(
        "INSERT INTO messages (id, app_id, external_id, content, webhook_url)"
        " VALUES (%s, %s, %s, '{}'::jsonb, %s)",
        (message_id, app_id, external_id, webhook_url),
    )
    out = []
    for i in range(n):
        token = tokens[i] if tokens else ios_token()
        dispatch_id = new_id()
        db.execute(
            "INSERT INTO dispatches (id, message_id, app_id, device_token, platform, status,"
            " external_id) VALUES (%s, %s, %s, %s, 'ios', 'queued', %s)",
            (dispatch_id, message_id, app_id, token, external_id),
        )
        out.append({"dispatchId": dispatch_id, "messageId": message_id, "appId": app_id,
                    "token": token, "platform": "ios", "requestId": "test"})
    return out


def result(base: dict[str, Any], status: str, at: float | None = None,
           **extra: Any) -> dict[str, Any]:
    """A SendResult for a seeded dispatch."""
    return {**base, "status": status, "attempts": extra.pop("attempts", 1),
            "at": time.time() if at is None else at, **extra}


def publish_results(client: redis.Redis, *batches: list[dict[str, Any]]) -> None:
    """LPUSH one Celery message per batch, built as the send workers build them (onto the
    tests' own DLR list)."""
    messages = [build_message(TASK_RECORD_RESULT, TEST_DLR_QUEUE, [batch]) for batch in batches]
    client.lpush(TEST_DLR_QUEUE, *messages)


def dispatch_row(db: psycopg.Connection[Any], dispatch_id: str) -> dict[str, Any]:
    with db.cursor(row_factory=psycopg.rows.dict_row) as cur:
        row = cur.execute("SELECT * FROM dispatches WHERE id = %s", (dispatch_id,)).fetchone()
    assert row is not None
    return row


def history(db: psycopg.Connection[Any], dispatch_id: str) -> list[tuple[str, str | None]]:
    rows = db.execute(
        "SELECT status, reason FROM dispatch_events WHERE dispatch_id = %s ORDER BY id",
        (dispatch_id,),
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


@contextmanager
def subprocess_running(args: list[str], log_path: Path, env: dict[str, str] | None = None
                       ) -> Iterator[subprocess.Popen[bytes]]:
    """Run a child process (inheriting PUSHFLOW_*), stopped at exit; its output goes to a file."""
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, **(env or {})})
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@contextmanager
def running_alive(args: list[str], log_path: Path, env: dict[str, str] | None = None
                  ) -> Iterator[subprocess.Popen[bytes]]:
    """``subprocess_running`` that fails the fixture when the child died during the tests."""
    with subprocess_running(args, log_path, env) as proc:
        yield proc
        assert proc.poll() is None, f"{args[2:6]} died during the tests; see {log_path}"


def celery_worker_args(queue: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q", queue, "-P", "solo",
            "--without-mingle", "--without-gossip", "--without-heartbeat", "-l", "WARNING"]


def webhook_sender_args() -> list[str]:
    return [sys.executable, "-m", "pushflow.cli.main", "webhooks-worker"]
