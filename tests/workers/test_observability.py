"""A real send worker's JSON logs and ``/metrics``: every per-job line (retry, failure, expired,
auth error, rate-limit parking) carries the job's request id as ``uniqId`` and never a whole
token; the send path's named series have samples after real sends through the sandbox."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
from prometheus_client.parser import text_string_to_metric_families

from sandbox.testing import SandboxProcess
from shared.jobs import SendJob
from tests.services import free_port
from tests.workers.conftest import wait_results
from workers.delivery.testing import WorkerProcess, apns_token, enqueue, make_job, wait_for


def json_lines(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def sample(found: Samples, name: str,
           **labels: str) -> float | None:
    """The value of the first sample of ``name`` whose labels include ``labels``."""
    for (sample_name, sample_labels), value in found.items():
        if sample_name == name and set(labels.items()) <= sample_labels:
            return value
    return None


def test_send_worker_logs_carry_uniq_id_and_metrics_have_samples(
        delivery_redis: redis.Redis[bytes], new_app: Callable[..., int], sandbox: SandboxProcess,
        start_worker: Callable[..., WorkerProcess]) -> None:
    cert_app = new_app(apns="certificate")
    limited_app = new_app(send_rate=5.0)  # token auth: the shared JWT too
    no_credentials = new_app(apns="none", fcm=False)
    retried = make_job(cert_app, "ios", "04290429" + apns_token()[8:])  # 429 until exhausted
    gone = make_job(cert_app, "ios", "04100410" + apns_token()[8:])  # 410 Unregistered
    expired = make_job(cert_app, "ios", apns_token(), ttl=int(time.time()) - 10)
    auth = make_job(no_credentials, "ios", apns_token())
    limited = [make_job(limited_app, "ios", apns_token()) for _ in range(8)]
    for job in limited:  # one API request with many tokens: one uniqId
        job["requestId"] = limited[0]["requestId"]
    failing: list[SendJob] = [retried, gone, expired, auth]
    jobs = failing + limited

    port = free_port()
    worker = start_worker(["apns.tx"], PUSHFLOW_LOG_JSON="true", PUSHFLOW_LOG_LEVEL="INFO",
                          PUSHFLOW_METRICS_PORT=str(port))
    enqueue(delivery_redis, jobs)
    results = wait_results(delivery_redis, {j["dispatchId"] for j in jobs}, 60)
    assert {results[j["dispatchId"]]["reason"] for j in failing} == {
        "retries_exhausted", "unregistered", "expired", "auth_config"}
    assert all(results[j["dispatchId"]]["status"] == "sent" for j in limited)

    log_path = worker.log_path
    assert log_path is not None

    def logged() -> list[dict[str, Any]]:
        lines = json_lines(log_path)
        return lines if any("rate limit" in r["msg"] for r in lines) else []

    lines = wait_for(logged, 10, what="the rate-limit line")
    for job in failing:
        about = [r for r in lines if r.get("dispatchId") == job["dispatchId"]]
        assert about, f"no log line about {job['dispatchId']}"
        assert {r.get("uniqId") for r in about} == {job["requestId"]}, about
        assert all(r["process"] == "worker-apns" for r in about)
    retry_lines = [r for r in lines if r.get("dispatchId") == retried["dispatchId"]]
    assert sum(r["msg"].startswith("retry ") for r in retry_lines) == 2  # attempts 1 and 2
    parked = [r for r in lines if "rate limit" in r["msg"]]
    assert {r.get("uniqId") for r in parked} == {limited[0]["requestId"]}
    text = log_path.read_text()
    assert not [j["token"] for j in jobs if j["token"] in text]  # masked, never whole

    def scraped() -> Samples:
        found = samples(port)  # the connection gauge is sampled every few seconds
        return found if sample(found, "pushflow_gateway_connections", gateway="apns") else {}

    found = wait_for(scraped, 15, what="pushflow_gateway_connections{gateway=apns} > 0")
    expiry = sample(found, "pushflow_credential_expiry_timestamp_seconds",
                    provider="apns", app=str(cert_app))
    assert expiry is not None and expiry > time.time()  # the certificate's notAfter
    assert sample(found, "pushflow_credential_expiry_timestamp_seconds",
                  app=str(limited_app)) is None  # a .p8 key does not expire
    for name, labels in [
        ("pushflow_queue_wait_seconds_count", {"gateway": "apns", "lane": "tx"}),
        ("pushflow_rate_limit_waits_total", {"gateway": "apns"}),
        ("pushflow_rate_limit_wait_seconds_count", {"gateway": "apns"}),
        ("pushflow_send_retries_total", {"gateway": "apns", "reason": "TooManyRequests"}),
        ("pushflow_send_latency_seconds_count", {"gateway": "apns"}),
        ("pushflow_dispatches_total", {"gateway": "apns", "outcome": "expired"}),
        ("pushflow_dispatches_total", {"gateway": "apns", "outcome": "auth_config"}),
    ]:
        value = sample(found, name, **labels)
        assert value is not None and value >= 1, (name, labels, value)
    jwt_age = sample(found, "pushflow_apns_jwt_age_seconds", team=sandbox.apns["teamId"],
                     key=sandbox.apns["keyId"])
    assert jwt_age is not None and jwt_age >= 0
