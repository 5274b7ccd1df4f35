"""Pure functions of the send path: payloads, retry delays, Apple's and Google's error tables."""

from __future__ import annotations

import random

import orjson
import pytest

from shared.gateway_payloads import apns_payload, fcm_message, payload_size, payload_size_error
from shared.settings import Settings
from workers import app
from workers.apns.errors import classify as apns_classify
from workers.celery_app import VISIBILITY_TIMEOUT_SECONDS
from workers.delivery.classes import Kind
from workers.delivery.retry import VISIBILITY_MARGIN, eta_iso, parse_eta, retry_delay
from workers.delivery.testing import fcm_token, make_job
from workers.dlr.tasks import db_retry_countdown
from workers.fcm.errors import classify as fcm_classify
from workers.fcm.request import request_body


def test_apns_payload_alert_image_badge_and_data() -> None:
    p = apns_payload({"title": "T", "content": "B", "image": "https://x/a.png", "badge": 2,
                      "sound": "default", "data": {"k": "v", "aps": "ignored"}})
    assert p["aps"] == {"alert": {"title": "T", "body": "B"}, "sound": "default",
                        "mutable-content": 1, "badge": 2}
    assert p["image"] == "https://x/a.png" and p["k"] == "v"


def test_apns_silent_is_content_available_only() -> None:
    assert apns_payload({"silent": True, "title": "x", "content": "y"}) == {
        "aps": {"content-available": 1}}


def test_fcm_message_fields() -> None:
    m = fcm_message({"title": "T", "content": "B", "image": "https://x/a.png",
                     "priority": "normal", "collapseKey": "c", "data": {"a": "1"}},
                    token="tok", ttl=1060, now=1000)
    assert m["notification"] == {"title": "T", "body": "B", "image": "https://x/a.png"}
    assert m["android"] == {"priority": "normal", "ttl": "60s", "collapse_key": "c"}
    assert m["data"] == {"a": "1"} and m["token"] == "tok"
    assert "notification" not in fcm_message({"silent": True, "data": {"a": "1"}})


def test_fcm_ttl_is_clamped_to_googles_maximum() -> None:
    # Google refuses android.ttl over 28 days (INVALID_ARGUMENT): a later deadline is sent with
    # the maximum; an earlier one as it is, a passed one as 0.
    now = 1_000_000
    ttl = {days: fcm_message({"title": "T"}, ttl=now + days * 86400, now=now)["android"]["ttl"]
           for days in (1, 28, 29, 400)}
    assert ttl == {1: "86400s", 28: "2419200s", 29: "2419200s", 400: "2419200s"}
    assert fcm_message({"title": "T"}, ttl=now - 5, now=now)["android"]["ttl"] == "0s"


def test_the_fcm_size_rule_measures_the_body_the_worker_sends() -> None:
    job = make_job(1, "android", fcm_token(), ttl=None, data={"k": "x" * 100})
    sent = orjson.loads(request_body(job))["message"]
    del sent["token"]  # addressing, not payload
    assert payload_size(job["message"], "android") == len(orjson.dumps(sent))


@pytest.mark.parametrize("platform", ["ios", "android"])
def test_payload_size_limit(platform: str) -> None:
    assert payload_size_error({"title": "t", "data": {"k": "x" * 3000}}, platform) is None
    error = payload_size_error({"title": "t", "data": {"k": "x" * 4100}}, platform)
    assert error is not None and "4096" in error


def test_retry_delay_backoff_jitter_floor_and_cap() -> None:
    rng = random.Random(1)
    delays = [retry_delay(a, base=2, cap=600, visibility_timeout=3600, rng=rng)
              for a in range(1, 12)]
    assert all(d > 0 for d in delays)
    assert 1 <= delays[0] <= 2 and 300 <= delays[-1] <= 600
    assert retry_delay(1, base=2, cap=600, visibility_timeout=3600, retry_after=30) >= 30
    assert retry_delay(1, base=2, cap=600, visibility_timeout=3600, floor=60) >= 60
    # Never at or past the broker's visibility timeout, whatever the gateway asks.
    assert retry_delay(1, base=2, cap=600, visibility_timeout=100, retry_after=5000) < 100
    zero = retry_delay(1, base=1e-9, cap=1e-9, visibility_timeout=3600,
                       rng=random.Random(0))
    assert zero > 0


def test_every_countdown_of_the_defaults_fits_the_visibility_timeout() -> None:
    # A countdown past it would be redelivered while still waiting, and run twice.
    settings = Settings()
    timeout = app.conf.broker_transport_options["visibility_timeout"]
    assert timeout == VISIBILITY_TIMEOUT_SECONDS <= 900  # a killed DLR recorder's wait
    assert settings.retry_max_seconds <= timeout * VISIBILITY_MARGIN  # never clipped
    assert db_retry_countdown(100) < timeout


def test_eta_roundtrip() -> None:
    assert abs(parse_eta(eta_iso(1_800_000_000.25)) - 1_800_000_000.25) < 1e-6  # type: ignore[operator]


@pytest.mark.parametrize(("status", "reason", "kind"), [
    (400, "BadDeviceToken", Kind.INVALID_TOKEN),
    (400, "DeviceTokenNotForTopic", Kind.INVALID_TOKEN),
    (410, "Unregistered", Kind.UNREGISTERED),
    (410, "ExpiredToken", Kind.UNREGISTERED),
    (413, "PayloadTooLarge", Kind.BAD_MESSAGE),
    (403, "ExpiredProviderToken", Kind.REFRESH_AUTH),
    (403, "InvalidProviderToken", Kind.AUTH_CONFIG),
    (429, "TooManyRequests", Kind.RETRY),
    (503, "SomethingNew", Kind.RETRY),
    (400, "SomethingNew", Kind.BAD_MESSAGE),
])
def test_apns_table(status: int, reason: str, kind: Kind) -> None:
    assert apns_classify(status, reason) is kind


@pytest.mark.parametrize(("code", "status", "message", "fields", "kind"), [
    ("UNREGISTERED", 404, "", [], Kind.UNREGISTERED),
    ("SENDER_ID_MISMATCH", 403, "", [], Kind.INVALID_TOKEN),
    ("INVALID_ARGUMENT", 400, "The registration token is not a valid FCM registration token",
     [], Kind.INVALID_TOKEN),
    ("INVALID_ARGUMENT", 400, "bad", ["message.token"], Kind.INVALID_TOKEN),
    ("INVALID_ARGUMENT", 400, "Message is too big", ["message"], Kind.BAD_MESSAGE),
    ("QUOTA_EXCEEDED", 429, "", [], Kind.RETRY),
    ("THIRD_PARTY_AUTH_ERROR", 401, "", [], Kind.AUTH_CONFIG),
    ("", 502, "", [], Kind.RETRY),
])
def test_fcm_table(code: str, status: int, message: str, fields: list[str], kind: Kind) -> None:
    assert fcm_classify(code, status, message, fields) is kind
