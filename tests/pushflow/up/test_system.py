"""``pushflow up`` end to end: one system start for the whole module (see conftest).

Reaches readiness, delivers a push through the sandboxes, exposes the named metric series,
carries the request id into the logs, runs the documented cURL and Python examples, and stops
every process on Ctrl-C, every printed line JSON. The last two tests stop the system and read
its whole log: keep them last.
"""

from __future__ import annotations

import json
import os
import queue
import secrets
import subprocess
import sys
import threading
import time
import urllib.request
from typing import Any

from tests.pushflow.up.conftest import REPO, RunningSystem, stop_system
from tests.services import free_port

SENT_OR_LATER = {"sent", "delivered", "opened"}


def apns_token() -> str:
    return secrets.token_hex(32)


def fcm_token() -> str:
    return "pfdemo" + secrets.token_hex(4) + ":APA91b" + secrets.token_urlsafe(105)[:140]


def wait_dispatches(system: RunningSystem, message_id: str, timeout: float = 45.0) -> Any:
    deadline = time.monotonic() + timeout
    data: Any = None
    while time.monotonic() < deadline:
        status, _, body = system.request("GET", f"/v2.1/push/{message_id}")
        assert status == 200, body
        data = body["data"][0]
        if all(d["status"] in SENT_OR_LATER | {"failed"} for d in data["dispatches"]):
            return data
        time.sleep(0.3)
    raise AssertionError(f"dispatches not final after {timeout}s: {json.dumps(data)[:2000]}")


def scrape(url: str, system: RunningSystem | None = None, name: str = "") -> str:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return str(resp.read().decode())
    except OSError as exc:
        context = system.tail(name) if system and name else ""
        raise AssertionError(f"{url}: {exc}\n{context}") from None


def test_ready_with_demo_credentials(running_system: RunningSystem) -> None:
    demo = running_system.demo
    assert set(demo) >= {"applicationKey", "secret", "apiUrl", "flowerUrl"}
    assert demo["apiUrl"] == running_system.api_url
    assert sorted(demo["credentials"]) == ["apns", "fcm"]
    with urllib.request.urlopen(running_system.api_url + "/readyz", timeout=5) as resp:
        checks = {c["name"]: c["ok"] for c in json.loads(resp.read())["checks"]}
    assert checks == {"postgres": True, "migrations": True, "redis": True}
    assert scrape(demo["flowerUrl"] + "/healthcheck").strip() == "OK"


def test_push_is_delivered_end_to_end_through_the_sandboxes(
    running_system: RunningSystem,
) -> None:
    tokens = [apns_token(), fcm_token()]
    status, _, body = running_system.request(
        "POST", "/v2.1/push", {"device_tokens": tokens, "title": "Hi", "content": "Your code"})
    assert status == 202, body
    message_id = body["data"][0]["messageId"]
    data = wait_dispatches(running_system, message_id)
    by_platform = {d["platform"]: d for d in data["dispatches"]}
    assert set(by_platform) == {"ios", "android"}
    for dispatch in by_platform.values():
        assert dispatch["status"] in SENT_OR_LATER, dispatch


def scrape_until(system: RunningSystem, name: str, wanted: str, timeout: float = 30.0) -> str:
    url = system.demo["metricsUrls"][name]
    deadline = time.monotonic() + timeout
    while True:
        text = scrape(url, system, name)
        if wanted in text or time.monotonic() > deadline:
            return text
        time.sleep(0.3)


def test_metrics_expose_the_named_series(running_system: RunningSystem) -> None:
    running_system.request("GET", "/v2.1/push/00000000-0000-7000-8000-000000000000")
    api = scrape(running_system.api_url + "/metrics")
    assert 'pushflow_http_requests_total{method="GET",route="/v2.1/push/{message_id}"' in api
    assert "pushflow_http_request_duration_seconds_bucket" in api
    # The sandbox answers 429 to tokens starting 04290429 (a retry) and 410 to 04100410.
    retried, dead = "04290429" + apns_token()[8:], "04100410" + apns_token()[8:]
    status, _, body = running_system.request(
        "POST", "/v2.1/push", {"device_tokens": [retried, dead], "content": "metrics"})
    assert status == 202, body
    urls = running_system.demo["metricsUrls"]
    apns = scrape_until(running_system, "worker-apns", "pushflow_send_retries_total{")
    for series in ('pushflow_send_retries_total{gateway="apns"',
                   'pushflow_dispatches_total{gateway="apns",outcome="sent"}',
                   'pushflow_send_latency_seconds_bucket{gateway="apns"',
                   "pushflow_apns_jwt_age_seconds{", "pushflow_rate_limit_waits_total",
                   "pushflow_credential_expiry_timestamp_seconds"):
        assert series in apns, f"{series} missing on worker-apns"
    # Sampled every few seconds by the send runtime: an open connection after the sends.
    connections = 'pushflow_gateway_connections{gateway="apns"} '
    apns = scrape_until(running_system, "worker-apns", connections + "1")
    assert connections + "0.0" not in apns and connections in apns
    assert 'pushflow_queue_wait_seconds_count{gateway="apns",lane="tx"}' in apns
    apns = scrape_until(running_system, "worker-apns", 'outcome="unregistered"} 1.0')
    assert 'pushflow_dispatches_total{gateway="apns",outcome="unregistered"} 1.0' in apns
    for name in ("worker-fcm", "worker-apns", "dlr", "webhooks"):
        text = scrape(urls[name], running_system, name)
        for lane in ("fcm.tx", "fcm.bulk", "apns.tx", "apns.bulk"):
            assert f'pushflow_queue_depth{{queue="{lane}"}}' in text, f"{lane} on {name}"
    webhooks = scrape(urls["webhooks"], running_system, "webhooks")
    for series in ("pushflow_webhook_attempts_total", "pushflow_webhook_dead_letters_total"):
        assert series in webhooks, f"{series} missing on webhooks"


def _processes_logging(system: RunningSystem, uniq_id: str) -> set[str]:
    """Process types whose JSON log lines carry ``uniq_id`` in their ``uniqId`` field."""
    found = set()
    for line in system.log_text().splitlines():
        _, _, payload = line.partition("| ")
        if uniq_id in payload and payload.startswith("{"):
            record = json.loads(payload)
            if record.get("uniqId") == uniq_id:
                found.add(record["process"])
    return found


def _logged_push(system: RunningSystem, token: str | None = None) -> str:
    status, headers, body = system.request(
        "POST", "/v2.1/push", {"device_tokens": [token or apns_token()], "content": "log me"})
    assert status == 202, body
    uniq_id = str(body["meta"]["uniqId"])
    assert headers.get("X-Request-Id", headers.get("x-request-id")) == uniq_id
    wait_dispatches(system, body["data"][0]["messageId"])
    return uniq_id


def test_api_logs_carry_the_request_id(running_system: RunningSystem) -> None:
    uniq_id = _logged_push(running_system)
    deadline = time.monotonic() + 10
    while "api" not in _processes_logging(running_system, uniq_id):
        assert time.monotonic() < deadline, "the API logged nothing with the request's uniqId"
        time.sleep(0.3)
    assert running_system.demo["secret"] not in running_system.log_text()


def test_worker_logs_carry_the_request_id(running_system: RunningSystem) -> None:
    # 04100410...: the APNs sandbox answers 410 Unregistered, which the send worker logs per job
    # (the batched consumer has no per-task context: the line carries the job's requestId).
    uniq_id = _logged_push(running_system, "04100410" + apns_token()[8:])
    deadline = time.monotonic() + 10
    while not {"worker-apns", "dlr"} <= _processes_logging(running_system, uniq_id):
        assert time.monotonic() < deadline, (
            f"send and DLR workers did not both log the request's uniqId: "
            f"{_processes_logging(running_system, uniq_id)}")
        time.sleep(0.3)


def _example_env(system: RunningSystem) -> dict[str, str]:
    return {**os.environ, "PUSHFLOW_DEMO": str(system.data_dir / "demo.json")}


def test_curl_examples_send_and_read_status(running_system: RunningSystem) -> None:
    env = _example_env(running_system)
    examples = REPO / "docs" / "examples" / "curl"
    sent = subprocess.run(["bash", str(examples / "send.sh"), apns_token()], env=env,
                          capture_output=True, text=True, timeout=30, check=True)
    message_id = json.loads(sent.stdout)["data"][0]["messageId"]
    wait_dispatches(running_system, message_id)
    read = subprocess.run(["bash", str(examples / "status.sh"), message_id], env=env,
                          capture_output=True, text=True, timeout=30, check=True)
    assert json.loads(read.stdout)["data"][0]["dispatches"][0]["status"] in SENT_OR_LATER


def test_python_examples_send_and_read_status(running_system: RunningSystem) -> None:
    env = _example_env(running_system)
    examples = REPO / "docs" / "examples" / "python"
    sent = subprocess.run([sys.executable, str(examples / "send.py"), fcm_token()], env=env,
                          capture_output=True, text=True, timeout=30, check=True)
    message_id = json.loads(sent.stdout)["data"][0]["messageId"]
    wait_dispatches(running_system, message_id)
    read = subprocess.run([sys.executable, str(examples / "status.py"), message_id], env=env,
                          capture_output=True, text=True, timeout=30, check=True)
    assert json.loads(read.stdout)["data"][0]["dispatches"][0]["status"] in SENT_OR_LATER


def test_webhook_arrives_signed_at_the_example_receiver(running_system: RunningSystem) -> None:
    port = free_port()
    status, _, body = running_system.request(
        "PUT", "/v2.1/webhooks", {"primaryUrl": f"http://127.0.0.1:{port}/"})
    assert status in (200, 201), body
    secret = body["data"][0]["secret"]
    examples = REPO / "docs" / "examples" / "python"
    receiver = subprocess.Popen(
        [sys.executable, "webhook_receiver.py", "--port", str(port), "--secret", secret],
        cwd=examples, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in receiver.stdout or ()],
                     daemon=True).start()
    try:
        assert lines.get(timeout=10).startswith("listening")
        status, _, sent = running_system.request(
            "POST", "/v2.1/push", {"device_tokens": [apns_token()], "content": "hook"})
        assert status == 202, sent
        message_id = sent["data"][0]["messageId"]
        deadline = time.monotonic() + 45
        while True:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            assert not line.startswith("REJECTED"), line  # the signature did not verify
            event = json.loads(line)
            if event["data"]["messageId"] == message_id and event["type"] == "push.sent":
                break
    finally:
        receiver.terminate()
        receiver.wait(10)
        running_system.request("DELETE", "/v2.1/webhooks")


def test_ctrl_c_stops_every_process(running_system: RunningSystem) -> None:
    children = running_system.child_pids()
    assert {"api", "worker-fcm", "worker-apns", "dlr", "webhooks", "beat", "flower",
            "sandbox"} <= set(children)
    returncode = stop_system(running_system)
    assert returncode == 0  # a stop asked for, not a failure: `make up` prints no error line
    leftovers = []
    for name, pid in children.items():
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            continue
        leftovers.append(name)
    assert leftovers == [], f"still running after Ctrl-C: {leftovers}"


def test_every_line_printed_is_json_but_the_banner(running_system: RunningSystem) -> None:
    # Runs after the stop above, so the shutdown lines (Celery's "Warm shutdown", honcho's
    # "sending SIGTERM") are in the log too.
    assert running_system.process.poll() is not None
    not_json, processes = [], set()
    for line in running_system.log_text().splitlines():
        _, _, text = line.partition("| ")
        try:
            record = json.loads(text)
        except ValueError:
            not_json.append(line)
            continue
        processes.add(record.get("process", line[9:].split(" ", 1)[0]))  # sandbox: its ready line
    banner = [line for line in not_json if line.startswith("up     | ")]
    assert banner and banner[0] == "up     | Pushflow is ready.", not_json
    assert not_json == banner, "\n".join(line for line in not_json if line not in banner)
    assert {"up", "system", "api", "sandbox", "worker-fcm", "worker-apns", "dlr", "webhooks",
            "beat", "flower"} <= processes
