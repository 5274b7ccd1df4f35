"""Checks of an FCM v1 ``messages:send`` body, as the FCM backend applies them.

Schema from https://firebase.google.com/docs/reference/fcm/rest/v1/projects.messages: proto3
JSON, so both ``snake_case`` and ``lowerCamelCase`` field names are accepted, unknown names are
refused, and exactly one target (token, topic, condition) is required. Each problem becomes an
INVALID_ARGUMENT with a ``google.rpc.BadRequest`` field violation naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

MAX_MESSAGE_BYTES = 4096
_TOKEN_RE = re.compile(r"[A-Za-z0-9_\-:.]{1,4096}")
_TOPIC_RE = re.compile(r"[a-zA-Z0-9\-_.~%]{1,900}")
_DURATION_RE = re.compile(r"\d{1,12}(\.\d{1,9})?s")
MAX_ANDROID_TTL_SECONDS = 2_419_200  # 28 days: FCM refuses a longer android.ttl
_RESERVED_DATA_KEYS = frozenset({"from", "notification", "message_type"})
INVALID_TOKEN = "The registration token is not a valid FCM registration token"

# field -> type: "str", "bool", "int", "strmap", "strlist", "struct", "duration",
# a frozenset (enum values) or a dict (nested message).
_FCM_OPTIONS = {"analytics_label": "str"}
_ANDROID_NOTIFICATION = {
    **dict.fromkeys(
        (
            "title",
            "body",
            "icon",
            "color",
            "sound",
            "tag",
            "click_action",
            "body_loc_key",
            "title_loc_key",
            "channel_id",
            "ticker",
            "event_time",
            "image",
            "vibrate_timings",
        ),
        "str",
    ),
    **dict.fromkeys(
        (
            "sticky",
            "local_only",
            "default_sound",
            "default_vibrate_timings",
            "default_light_settings",
        ),
        "bool",
    ),
    "body_loc_args": "strlist",
    "title_loc_args": "strlist",
    "notification_count": "int",
    "notification_priority": frozenset(
        {
            "PRIORITY_UNSPECIFIED",
            "PRIORITY_MIN",
            "PRIORITY_LOW",
            "PRIORITY_DEFAULT",
            "PRIORITY_HIGH",
            "PRIORITY_MAX",
        }
    ),
    "visibility": frozenset({"VISIBILITY_UNSPECIFIED", "PRIVATE", "PUBLIC", "SECRET"}),
    "light_settings": "struct",
    "bypass_proxy_notification": "bool",
    "proxy": frozenset({"PROXY_UNSPECIFIED", "ALLOW", "DENY", "IF_PRIORITY_LOWERED"}),
}
_ANDROID = {
    "collapse_key": "str",
    "priority": frozenset({"NORMAL", "HIGH"}),
    "ttl": "duration",
    "restricted_package_name": "str",
    "data": "strmap",
    "notification": _ANDROID_NOTIFICATION,
    "fcm_options": _FCM_OPTIONS,
    "direct_boot_ok": "bool",
    "bandwidth_constrained_ok": "bool",
    "restricted_satellite_ok": "bool",
}
_MESSAGE = {
    "name": "str",
    "data": "strmap",
    "notification": {"title": "str", "body": "str", "image": "str"},
    "android": _ANDROID,
    "webpush": {
        "headers": "strmap",
        "data": "strmap",
        "notification": "struct",
        "fcm_options": {"link": "str", "analytics_label": "str"},
    },
    "apns": {
        "headers": "strmap",
        "payload": "struct",
        "fcm_options": {"analytics_label": "str", "image": "str"},
        "live_activity_token": "str",
    },
    "fcm_options": _FCM_OPTIONS,
    "token": "str",
    "topic": "str",
    "condition": "str",
}
_BODY = {"message": _MESSAGE, "validate_only": "bool"}

_SCALAR_CHECKS: dict[str, Callable[[Any], bool]] = {
    "str": lambda v: isinstance(v, str),
    "bool": lambda v: isinstance(v, bool),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "strmap": lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in v.values()),
    "strlist": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
    "struct": lambda v: isinstance(v, dict),
    "duration": lambda v: isinstance(v, str) and _DURATION_RE.fullmatch(v) is not None,
}


class MessageError(ValueError):
    def __init__(self, field: str, description: str) -> None:
        super().__init__(description)
        self.field = field
        self.description = description


@dataclass(frozen=True, slots=True)
class SendRequest:
    message: dict[str, Any]
    target: str  # the token, "/topics/<t>" or "condition:<c>"
    is_token: bool
    validate_only: bool


def parse_send_body(body: bytes) -> SendRequest:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise MessageError("", "Invalid JSON payload received.") from None
    doc = _check(doc, _BODY, "")
    message = doc.get("message")
    if message is None:
        raise MessageError("message", "Request contains an invalid argument: message is required.")
    targets = [k for k in ("token", "topic", "condition") if message.get(k)]
    if len(targets) != 1:
        raise MessageError("message", "Exactly one of token, topic or condition must be set.")
    kind = targets[0]
    value = message[kind]
    if kind == "token" and not _TOKEN_RE.fullmatch(value):
        raise MessageError("message.token", INVALID_TOKEN)
    if kind == "topic" and not _TOPIC_RE.fullmatch(value):
        raise MessageError("message.topic", "Invalid topic name.")
    for key in message.get("data", {}):
        if key in _RESERVED_DATA_KEYS or key.startswith(("google", "gcm")):
            raise MessageError("message.data", f"Invalid data key (reserved word): {key}")
    ttl = message.get("android", {}).get("ttl")
    if ttl is not None and float(ttl[:-1]) > MAX_ANDROID_TTL_SECONDS:
        raise MessageError(
            "message.android.ttl",
            f"Invalid value at 'message.android.ttl': {ttl!r} is longer than the maximum "
            f"time to live of {MAX_ANDROID_TTL_SECONDS}s (28 days).",
        )
    sized = {k: message[k] for k in ("data", "notification", "android") if k in message}
    if len(orjson.dumps(sized)) > MAX_MESSAGE_BYTES:
        raise MessageError("message", "Message is too big")
    apns_payload = message.get("apns", {}).get("payload")
    if apns_payload is not None and len(orjson.dumps(apns_payload)) > MAX_MESSAGE_BYTES:
        raise MessageError("message.apns.payload", "APNs payload is too big")
    target = (
        value
        if kind == "token"
        else ("/topics/" + value if kind == "topic" else "condition:" + value)
    )
    return SendRequest(message, target, kind == "token", bool(doc.get("validate_only")))


def _check(value: Any, spec: Any, where: str) -> Any:
    """Check ``value`` against ``spec``; nested messages come back with snake_case keys."""
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            raise MessageError(where, f"Invalid value at '{where or 'body'}': expected an object.")
        out = {}
        for key, item in value.items():
            name = _snake(key)
            if name not in spec:
                raise MessageError(
                    where,
                    f'Invalid JSON payload received. Unknown name "{key}" '
                    f"at '{where or 'body'}': Cannot find field.",
                )
            path = f"{where}.{name}" if where else name
            out[name] = _check(item, spec[name], path) if item is not None else None
        return {k: v for k, v in out.items() if v is not None}
    if isinstance(spec, frozenset):
        # FCM accepts enum names in any case: firebase-admin sends android.priority "high".
        if not isinstance(value, str) or value.upper() not in spec:
            raise MessageError(where, f"Invalid value at '{where}': {value!r}")
        return value.upper()
    ok = _SCALAR_CHECKS[spec](value)
    if not ok:
        raise MessageError(where, f"Invalid value at '{where}' ({spec}): {str(value)[:80]!r}")
    return value


def _snake(name: str) -> str:
    return (
        re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower() if any(c.isupper() for c in name) else name
    )
