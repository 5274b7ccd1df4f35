"""The FCM error table's parts the sandbox tests do not reach one by one: body parsing and the
status fallbacks."""

from __future__ import annotations

import orjson
import pytest

from workers.delivery.classes import Kind
from workers.fcm.errors import classify, error_details


def body(status: str, message: str, details: list[dict[str, object]]) -> bytes:
    return orjson.dumps({"error": {"code": 400, "message": message, "status": status,
                                   "details": details}})


def test_fcm_error_code_wins_over_the_canonical_status() -> None:
    raw = body("UNAUTHENTICATED", "Auth error from APNS or Web Push Service", [
        {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
         "errorCode": "THIRD_PARTY_AUTH_ERROR"}])
    assert error_details(raw) == ("THIRD_PARTY_AUTH_ERROR",
                                  "Auth error from APNS or Web Push Service", [])


def test_field_violations_are_collected() -> None:
    raw = body("INVALID_ARGUMENT", "bad", [
        {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
         "errorCode": "INVALID_ARGUMENT"},
        {"@type": "type.googleapis.com/google.rpc.BadRequest",
         "fieldViolations": [{"field": "message.token", "description": "bad"}]}])
    code, message, fields = error_details(raw)
    assert classify(code, 400, message, fields) is Kind.INVALID_TOKEN


@pytest.mark.parametrize("raw", [b"", b"<html>502</html>", b"[1]", b'{"error": "x"}'])
def test_unparseable_bodies_give_no_code(raw: bytes) -> None:
    assert error_details(raw)[0] == ""


@pytest.mark.parametrize(("code", "status", "kind"), [
    ("UNAUTHENTICATED", 401, Kind.REFRESH_AUTH),  # our OAuth token: refresh once, resend
    ("", 401, Kind.REFRESH_AUTH),
    ("PERMISSION_DENIED", 403, Kind.AUTH_CONFIG),
    ("", 403, Kind.AUTH_CONFIG),
    ("RESOURCE_EXHAUSTED", 429, Kind.RETRY),
    ("", 0, Kind.RETRY),
    ("", 404, Kind.BAD_MESSAGE),
])
def test_status_fallbacks(code: str, status: int, kind: Kind) -> None:
    assert classify(code, status, "", []) is kind
