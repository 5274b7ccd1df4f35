"""``pushflow send``: one push through ``domain.messages.submit`` (source api, the tx lane), its
messageId, then the status a worker gave its dispatch."""

from __future__ import annotations

import json
import secrets
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from pushflow.cli.main import main
from shared import queues
from shared.settings import get_settings
from shared.taskmessage import decode_message


def _take_job(client: redis.Redis[bytes], queue: str, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        raw = client.rpop(queue)
        if raw is not None:
            _task, args, _kwargs, _headers = decode_message(raw)
            return dict(args[0])
        time.sleep(0.02)
    raise AssertionError(f"no job in {queue}")


def test_send_prints_the_message_id_and_the_status(
        make_app: Any, db: psycopg.Connection[Any], redis_client: redis.Redis[bytes],
        capsys: pytest.CaptureFixture[str]) -> None:
    redis_client.delete(*queues.SEND_QUEUES)
    app = make_app(platforms=("ios",))
    token = secrets.token_hex(32)

    def worker() -> None:  # stands in for a send worker: takes the job, records its outcome
        job = _take_job(redis_client, queues.APNS_TX)
        with psycopg.connect(get_settings().database_url, autocommit=True) as conn:
            conn.execute("UPDATE dispatches SET status = 'failed', reason = 'unregistered'"
                         " WHERE id = %s", (job["dispatchId"],))

    thread = threading.Thread(target=worker)
    thread.start()
    code = main(["send", token, "--title", "Hi", "--content", "Quick test", "--app",
                 app.app_key, "--wait", "10"])
    thread.join()
    out = capsys.readouterr().out.splitlines()
    assert code == 1  # a failed dispatch fails the command
    message_id = out[0].removeprefix("messageId ")
    assert out[1].endswith("(ios): failed (unregistered)"), out
    row = db.execute("SELECT source, lane, content FROM messages WHERE id = %s AND app_id = %s",
                     (message_id, app.app_id)).fetchone()
    assert row is not None
    assert row[:2] == ("api", "tx") and row[2]["title"] == "Hi"
    assert row[2]["content"] == "Quick test"


def test_without_workers_the_status_stays_queued(
        make_app: Any, db: psycopg.Connection[Any], redis_client: redis.Redis[bytes],
        capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    redis_client.delete(*queues.SEND_QUEUES)
    app = make_app(platforms=("ios",))
    # Without --app: the demo app of <data dir>/demo.json.
    (tmp_path / "demo.json").write_text(json.dumps({"applicationKey": app.app_key}))
    monkeypatch.setenv("PUSHFLOW_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        assert main(["send", secrets.token_hex(32), "--content", "hello", "--wait", "0"]) == 0
    finally:
        get_settings.cache_clear()
    first, second = capsys.readouterr().out.splitlines()
    job = _take_job(redis_client, queues.APNS_TX)
    assert first == f"messageId {job['messageId']}"
    assert second.endswith("(ios): queued after 0s; are the workers running?")
    # Published and acknowledged: the outbox holds nothing a sweeper would publish again.
    assert db.execute("SELECT count(*) FROM outbox WHERE dispatch_id = %s",
                      (job["dispatchId"],)).fetchone() == (0,)


def test_bad_input_is_refused_readably(make_app: Any, capsys: pytest.CaptureFixture[str],
                                       tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_app(platforms=("ios",))
    assert main(["send", "not-a-token", "--content", "x", "--app", app.app_key]) == 1
    assert "INVALID_DEVICE_TOKEN device token" in capsys.readouterr().err
    android = secrets.token_hex(6) + ":APA91b" + secrets.token_urlsafe(100)
    assert main(["send", android, "--content", "x", "--app", app.app_key]) == 1
    assert "PLATFORM_NOT_CONFIGURED device token: This app has no FCM credentials" in \
        capsys.readouterr().err
    assert main(["send", secrets.token_hex(32), "--content", "", "--app", app.app_key]) == 1
    assert "push refused:" in capsys.readouterr().err
    monkeypatch.setenv("PUSHFLOW_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        assert main(["send", secrets.token_hex(32), "--content", "x"]) == 1
    finally:
        get_settings.cache_clear()
    assert "name the app with --app KEY" in capsys.readouterr().err
