"""Every outcome class, end to end: jobs queued as the intake queues them, one real Celery send
worker (batched consumer), the sandbox gateways over HTTP/2+TLS, outcomes read from ``dlr``."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis

from sandbox.testing import SandboxProcess
from shared.jobs import SendJob
from shared.taskmessage import decode_message
from tests.workers.conftest import retry_reports, wait_results
from workers.delivery.committer import guard_key
from workers.delivery.reliable_queue import INFLIGHT
from workers.delivery.retry import parse_eta
from workers.delivery.testing import (
    WorkerProcess,
    apns_token,
    enqueue,
    fcm_token,
    make_job,
    wait_for,
)

pytestmark = pytest.mark.usefixtures("module_worker")


def prefixed_apns() -> tuple[str, Callable[[], str]]:
    """A random token prefix for fault rules, and a maker of tokens with it."""
    prefix = secrets.token_hex(6)
    return prefix, lambda: prefix + secrets.token_hex(32)[len(prefix):]


def prefixed_fcm() -> tuple[str, Callable[[], str]]:
    prefix = "t" + secrets.token_hex(5)
    return prefix, lambda: prefix + fcm_token()


def send(r: redis.Redis, jobs: list[SendJob], timeout: float = 30.0) -> dict[str, Any]:
    enqueue(r, jobs)
    return wait_results(r, {j["dispatchId"] for j in jobs}, timeout)


def test_accepted_on_both_gateways_with_apple_headers(
        delivery_redis: redis.Redis, new_app: Callable[..., int], sandbox: SandboxProcess) -> None:
    app_id = new_app()
    ttl = int(time.time()) + 3600
    ios = make_job(app_id, "ios", apns_token(), ttl=ttl, collapseKey="order-42", badge=3,
                   data={"orderId": "42"})
    silent = make_job(app_id, "ios", apns_token(), silent=True)
    android = make_job(app_id, "android", fcm_token(), priority="normal", ttl=ttl)
    results = send(delivery_redis, [ios, silent, android])
    for job in (ios, silent, android):
        assert results[job["dispatchId"]]["status"] == "sent"
        assert results[job["dispatchId"]]["attempts"] == 1
    assert results[ios["dispatchId"]]["gatewayId"].lower() == ios["dispatchId"]
    assert results[android["dispatchId"]]["gatewayId"].startswith("projects/")

    [req] = sandbox.requests("apns", token=ios["token"])
    h = req["headers"]
    assert (h["apns-push-type"], h["apns-priority"]) == ("alert", "10")
    assert h["apns-expiration"] == str(ttl) and h["apns-collapse-id"] == "order-42"
    assert h["apns-id"] == ios["dispatchId"] and h["apns-topic"] == sandbox.apns["topic"]
    assert req["payload"]["aps"]["badge"] == 3 and req["payload"]["orderId"] == "42"
    assert set(req["jwt"]["header"]) >= {"kid", "alg"}
    assert set(req["jwt"]["claims"]) >= {"iss", "iat"}
    [req] = sandbox.requests("apns", token=silent["token"])
    assert (req["headers"]["apns-push-type"], req["headers"]["apns-priority"]) == (
        "background", "5")
    assert req["payload"]["aps"] == {"content-available": 1}
    [req] = sandbox.requests("fcm", token=android["token"])
    assert req["payload"]["message"]["android"]["priority"].upper() == "NORMAL"


def test_certificate_auth(delivery_redis: redis.Redis, new_app: Callable[..., int]) -> None:
    app_id = new_app(apns="certificate")
    job = make_job(app_id, "ios", apns_token())
    assert send(delivery_redis, [job])[job["dispatchId"]]["status"] == "sent"


@pytest.mark.parametrize(("kind", "reason", "gateway_reason"), [
    ("bad_device_token", "invalid_token", "BadDeviceToken"),
    ("device_token_not_for_topic", "invalid_token", "DeviceTokenNotForTopic"),
    ("unregistered", "unregistered", "Unregistered"),
    ("payload_too_large", "bad_message", "PayloadTooLarge"),
    ("bad_collapse_id", "bad_message", "BadCollapseId"),
    ("bad_expiration_date", "bad_message", "BadExpirationDate"),
    ("invalid_provider_token", "auth_config", "InvalidProviderToken"),
    ("bad_certificate", "auth_config", "BadCertificate"),
])
def test_apns_final_failures(kind: str, reason: str, gateway_reason: str,
                             delivery_redis: redis.Redis, new_app: Callable[..., int],
                             sandbox: SandboxProcess) -> None:
    prefix, token = prefixed_apns()
    sandbox.add_fault(gateway="apns", kind=kind, match=prefix)
    job = make_job(new_app(), "ios", token())
    result = send(delivery_redis, [job])[job["dispatchId"]]
    assert (result["status"], result["reason"]) == ("failed", reason)
    assert result["gatewayResponse"]["reason"] == gateway_reason
    assert result["attempts"] == 1 and len(sandbox.requests("apns", token=job["token"])) == 1
    if reason == "unregistered":  # invalid as of Apple's timestamp (ms), not our clock
        assert result["invalidatedAt"] == result["gatewayResponse"]["timestamp"] / 1000
    elif reason == "invalid_token":
        assert result["invalidatedAt"] is not None
    else:
        assert result["invalidatedAt"] is None


@pytest.mark.parametrize(("kind", "reason"), [
    ("unregistered", "unregistered"),
    ("sender_id_mismatch", "invalid_token"),
    ("invalid_argument_token", "invalid_token"),
    ("invalid_argument_payload", "bad_message"),
    ("third_party_auth_error", "auth_config"),
])
def test_fcm_final_failures(kind: str, reason: str, delivery_redis: redis.Redis,
                            new_app: Callable[..., int], sandbox: SandboxProcess) -> None:
    prefix, token = prefixed_fcm()
    sandbox.add_fault(gateway="fcm", kind=kind, match=prefix)
    job = make_job(new_app(), "android", token())
    result = send(delivery_redis, [job])[job["dispatchId"]]
    assert (result["status"], result["reason"]) == ("failed", reason)
    assert result["gatewayResponse"]["status"] >= 400 and result["attempts"] == 1
    assert (result["invalidatedAt"] is not None) == (reason in ("invalid_token", "unregistered"))


def test_oversized_and_expired_are_never_sent(delivery_redis: redis.Redis,
                                              new_app: Callable[..., int],
                                              sandbox: SandboxProcess) -> None:
    app_id = new_app()
    big = make_job(app_id, "ios", apns_token(), data={"blob": "x" * 5000})
    expired = make_job(app_id, "android", fcm_token(), ttl=int(time.time()) - 1)
    results = send(delivery_redis, [big, expired])
    assert results[big["dispatchId"]]["reason"] == "bad_message"
    assert "4096" in results[big["dispatchId"]]["gatewayResponse"]["detail"]
    assert results[expired["dispatchId"]]["reason"] == "expired"
    assert not sandbox.requests("apns", token=big["token"])
    assert not sandbox.requests("fcm", token=expired["token"])


def test_app_without_credentials_fails_auth_config(delivery_redis: redis.Redis,
                                                   new_app: Callable[..., int]) -> None:
    job = make_job(new_app(apns="none"), "ios", apns_token())
    result = send(delivery_redis, [job])[job["dispatchId"]]
    assert (result["status"], result["reason"]) == ("failed", "auth_config")


@pytest.mark.parametrize(("gateway", "kind"), [
    ("apns", "internal"), ("apns", "unavailable"), ("apns", "drop"), ("apns", "goaway"),
    ("apns", "expired_provider_token"),
    ("fcm", "internal"), ("fcm", "unavailable"), ("fcm", "drop"), ("fcm", "goaway"),
])
def test_transient_failure_then_success(gateway: str, kind: str, delivery_redis: redis.Redis,
                                        new_app: Callable[..., int],
                                        sandbox: SandboxProcess) -> None:
    prefix, token = prefixed_apns() if gateway == "apns" else prefixed_fcm()
    sandbox.add_fault(gateway=gateway, kind=kind, match=prefix, times=1)
    job = make_job(new_app(), "ios" if gateway == "apns" else "android", token())
    result = send(delivery_redis, [job])[job["dispatchId"]]
    assert result["status"] == "sent"
    # ExpiredProviderToken: refreshed once and resent at once (same attempt), as is a stream
    # above a GOAWAY's last stream id (not processed); the others go through the queue.
    assert result["attempts"] == (1 if kind in ("expired_provider_token", "goaway") else 2)
    assert len(sandbox.requests(gateway, token=job["token"])) == 2
    if gateway == "apns":
        ids = {r["headers"]["apns-id"] for r in sandbox.requests("apns", token=job["token"])}
        assert ids == {job["dispatchId"]}  # the same apns-id on every retry


def test_retries_exhausted(delivery_redis: redis.Redis, new_app: Callable[..., int],
                           sandbox: SandboxProcess) -> None:
    prefix, token = prefixed_apns()
    sandbox.add_fault(gateway="apns", kind="unavailable", match=prefix)
    job = make_job(new_app(), "ios", token())
    result = send(delivery_redis, [job])[job["dispatchId"]]
    assert (result["status"], result["reason"]) == ("failed", "retries_exhausted")
    assert result["attempts"] == 3  # PUSHFLOW_MAX_ATTEMPTS of the test worker
    assert result["gatewayResponse"]["reason"] == "ServiceUnavailable"
    assert len(sandbox.requests("apns", token=job["token"])) == 3
    # Each attempt re-queued was reported to the DLR as it happened, with its facts.
    retried = retry_reports(delivery_redis, {job["dispatchId"]})
    assert [(r["attempts"], r["gatewayResponse"]["status"]) for r in retried] == [(1, 503),
                                                                                 (2, 503)]
    for report in [*retried, result]:
        assert report["worker"].startswith("apns-") and report["latencyMs"] > 0
        assert report["takenAt"] <= report["at"]
    assert all(r["at"] < r["retryAt"] <= result["at"] + 1 for r in retried)


def held_retry(r: redis.Redis, dispatch_id: str) -> tuple[dict[str, Any], float]:
    """The re-published message of a dispatch, held by a worker until its ETA: (job, eta)."""
    for key in r.scan_iter(INFLIGHT + "*"):
        for raw in r.hvals(key):
            _task, args, _kw, headers = decode_message(raw)
            if args[0]["dispatchId"] == dispatch_id and args[0]["attempt"] > 1:
                eta = parse_eta(headers["eta"])
                assert eta is not None
                return args[0], eta
    raise LookupError(dispatch_id)


def find_held(r: redis.Redis, dispatch_id: str) -> tuple[dict[str, Any], float]:
    def attempt() -> tuple[dict[str, Any], float] | None:
        try:
            return held_retry(r, dispatch_id)
        except LookupError:
            return None

    found = wait_for(attempt, 20, what="re-published retry")
    assert found is not None
    return found


def test_retry_after_is_honoured(delivery_redis: redis.Redis, new_app: Callable[..., int],
                                 sandbox: SandboxProcess) -> None:
    prefix, token = prefixed_apns()
    sandbox.add_fault(gateway="apns", kind="too_many_requests", match=prefix, retryAfter=30,
                      times=1)
    job = make_job(new_app(), "ios", token())
    before = time.time()
    enqueue(delivery_redis, [job])
    retry, eta = find_held(delivery_redis, job["dispatchId"])
    [req] = sandbox.requests("apns", token=job["token"])
    assert retry["attempt"] == 2 and eta >= req["time"] + 30 > before
    assert eta < req["time"] + 60  # honoured, not inflated by the quota floor


def test_fcm_quota_exceeded_waits_at_least_a_minute(delivery_redis: redis.Redis,
                                                     new_app: Callable[..., int],
                                                     sandbox: SandboxProcess) -> None:
    prefix, token = prefixed_fcm()
    sandbox.add_fault(gateway="fcm", kind="quota_exceeded", match=prefix, retryAfter=1, times=1)
    job = make_job(new_app(), "android", token())
    enqueue(delivery_redis, [job])
    retry, eta = find_held(delivery_redis, job["dispatchId"])
    [req] = sandbox.requests("fcm", token=job["token"])
    assert retry["attempt"] == 2 and eta >= req["time"] + 60


def test_redelivered_accepted_dispatch_is_reported_not_resent(
        delivery_redis: redis.Redis, new_app: Callable[..., int],
        sandbox: SandboxProcess) -> None:
    job = make_job(new_app(), "ios", apns_token())
    first = send(delivery_redis, [job])[job["dispatchId"]]
    assert delivery_redis.exists(guard_key(job["dispatchId"]))
    delivery_redis.delete("dlr")
    enqueue(delivery_redis, [job])  # as if redelivered after the outcome was committed
    again = wait_results(delivery_redis, {job["dispatchId"]})[job["dispatchId"]]
    assert again == first
    assert sandbox.stats()["apns"]["acceptedByToken"][job["token"]] == 1


def test_tx_lane_before_bulk(delivery_redis: redis.Redis, new_app: Callable[..., int],
                             module_worker: WorkerProcess) -> None:
    """With both lanes full, the transactional messages finish before the bulk backlog."""
    app_id = new_app()
    bulk = [make_job(app_id, "android", fcm_token(), lane="bulk") for _ in range(600)]
    tx = [make_job(app_id, "android", fcm_token()) for _ in range(20)]
    enqueue(delivery_redis, bulk + tx)
    results = wait_results(delivery_redis, {j["dispatchId"] for j in bulk + tx}, 60)
    last_tx = max(results[j["dispatchId"]]["at"] for j in tx)
    bulk_after = sum(1 for j in bulk if results[j["dispatchId"]]["at"] > last_tx)
    assert bulk_after >= len(bulk) // 2
