"""FCM HTTP v1 errors as data.

Source: FCM ``ErrorCode`` reference (https://firebase.google.com/docs/reference/fcm/rest/v1/
ErrorCode) and "Best practices when sending FCM messages at scale"/"Handle errors"
(https://firebase.google.com/docs/cloud-messaging/manage-tokens). The FCM-specific code travels in
``error.details[]`` as a ``google.firebase.fcm.v1.FcmError`` ``errorCode``; when absent, the
canonical ``error.status`` (google.rpc.Code) is used.
"""

from __future__ import annotations

from typing import Any

import orjson

from workers.delivery.classes import Kind

# QUOTA_EXCEEDED: Google asks for at least one minute before retrying (quota is per minute).
QUOTA_FLOOR_CODES = frozenset({"QUOTA_EXCEEDED", "RESOURCE_EXHAUSTED"})

ERROR_CODES: dict[str, Kind] = {
    "UNREGISTERED": Kind.UNREGISTERED,  # 404: token no longer valid (app uninstalled, expired)
    "SENDER_ID_MISMATCH": Kind.INVALID_TOKEN,  # 403: token belongs to another sender
    "INVALID_ARGUMENT": Kind.BAD_MESSAGE,  # 400: unless about the token (see classify)
    "QUOTA_EXCEEDED": Kind.RETRY,  # 429: message-rate or per-device quota
    "RESOURCE_EXHAUSTED": Kind.RETRY,
    "UNAVAILABLE": Kind.RETRY,  # 503: overloaded
    "INTERNAL": Kind.RETRY,  # 500
    "UNSPECIFIED_ERROR": Kind.RETRY,
    "THIRD_PARTY_AUTH_ERROR": Kind.AUTH_CONFIG,  # 401: APNs/web-push credential in Firebase
    "APNS_AUTH_ERROR": Kind.AUTH_CONFIG,
    # 401 without an FcmError detail: our OAuth access token was refused (expired, revoked).
    # Refresh it once and resend; refused again → auth_config.
    "UNAUTHENTICATED": Kind.REFRESH_AUTH,
    "PERMISSION_DENIED": Kind.AUTH_CONFIG,  # service account lacks FCM rights
    "NOT_FOUND": Kind.AUTH_CONFIG,  # without UNREGISTERED detail: the project does not exist
}

# Phrases of INVALID_ARGUMENT that blame the registration token, not the payload.
TOKEN_PHRASES = ("registration token", "message.token")


def classify(code: str, status: int, message: str, fields: list[str]) -> Kind:
    kind = ERROR_CODES.get(code)
    if kind is Kind.BAD_MESSAGE and (
        any(f.endswith("token") for f in fields)
        or any(p in message.lower() for p in TOKEN_PHRASES)
    ):
        return Kind.INVALID_TOKEN
    if kind is not None:
        return kind
    if status >= 500 or status in (0, 429):
        return Kind.RETRY
    if status == 401:
        return Kind.REFRESH_AUTH
    if status == 403:
        return Kind.AUTH_CONFIG
    return Kind.BAD_MESSAGE


def error_details(body: bytes) -> tuple[str, str, list[str]]:
    """(FCM error code, message, names of the fields blamed) from a v1 error body
    (a ``google.rpc.Status`` under ``error``)."""
    try:
        parsed: Any = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError:
        return "", body[:200].decode("utf-8", "replace"), []
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if not isinstance(error, dict):
        return "", "", []
    code = str(error.get("status", ""))
    fields: list[str] = []
    for detail in error.get("details") or []:
        if not isinstance(detail, dict):
            continue
        if detail.get("errorCode"):
            code = str(detail["errorCode"])
        for violation in detail.get("fieldViolations") or []:
            if isinstance(violation, dict):
                fields.append(str(violation.get("field", "")))
    return code, str(error.get("message", "")), fields
