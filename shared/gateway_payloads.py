"""One API message → the payload each gateway receives, and the 4096-byte size rule.

Shared by the intake (to refuse an oversized message with a 422 before anything is queued, via
``payload_size_error``) and the send workers (which build the real request bodies from the same
functions, so both sides measure the same bytes).

- APNs: the JSON body of ``POST /3/device/<token>``; Apple limits it to 4096 bytes for regular
  remote notifications ("Payload size limits", https://developer.apple.com/documentation/
  usernotifications/generating-a-remote-notification). ``aps`` carries alert/badge/sound,
  ``mutable-content`` (so a notification service extension can fetch ``image``) and
  ``content-available`` for silent pushes; custom data sits at the top level beside ``aps``.
- FCM: the HTTP v1 ``Message`` resource (https://firebase.google.com/docs/reference/fcm/rest/v1/
  projects.messages); FCM limits a message to 4096 bytes ("Message types": "the maximum payload
  is 4096 bytes"). ``fcm_message`` is the one FCM encoder: the worker sends its output
  (``workers.fcm.request``) and the size rule measures it, without the token and the ttl, which
  are addressing, not payload. It writes what firebase-admin's encoder would
  (tests/workers/fcm/test_firebase_guard.py compares them), without calling its private API.

Both encoders are canonical: keys in a fixed order, ``data`` sorted by key. So the bytes depend
only on the message's content, not on the order its keys came in (the request's order on the hot
path, PostgreSQL's jsonb order when the outbox sweeper rebuilds a job), and the dispatch story
(domain/dispatches/story.py) rebuilds the very bytes a worker sent.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from shared.jobs import MessageContent

MAX_PAYLOAD_BYTES = 4096
# Google's maximum ``android.ttl`` (28 days, "Setting the lifespan of a message":
# https://firebase.google.com/docs/cloud-messaging/concept-options#ttl); a longer one is refused
# with INVALID_ARGUMENT, so a push whose ttl is further ahead is sent with the maximum.
FCM_MAX_TTL_SECONDS = 2_419_200


def apns_payload(message: MessageContent) -> dict[str, Any]:
    """The APNs JSON payload (as a dict) for one API message."""
    aps: dict[str, Any] = {}
    if message.get("silent"):
        # Background update: no alert, no sound (Apple drops alert keys for background pushes).
        aps["content-available"] = 1
    else:
        alert: dict[str, str] = {}
        if message.get("title"):
            alert["title"] = message["title"]
        if message.get("content"):
            alert["body"] = message["content"]
        if alert:
            aps["alert"] = alert
        if message.get("sound"):
            aps["sound"] = message["sound"]
        if message.get("image"):
            aps["mutable-content"] = 1
    if "badge" in message:
        aps["badge"] = message["badge"]
    payload: dict[str, Any] = {}
    # Custom data first so it can never overwrite ``aps`` or ``image``.
    for key, value in sorted((message.get("data") or {}).items()):
        if key != "aps":
            payload[key] = value
    if message.get("image") and not message.get("silent"):
        payload["image"] = message["image"]
    payload["aps"] = aps
    return payload


def apns_body(message: MessageContent) -> bytes:
    return orjson.dumps(apns_payload(message))


def fcm_message(
    message: MessageContent,
    token: str | None = None,
    ttl: int | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """The FCM v1 ``Message`` resource (as a dict) for one API message.

    ``ttl`` is the API's absolute unix deadline; FCM wants a relative duration ("3600s"), at most
    ``FCM_MAX_TTL_SECONDS``.
    """
    out: dict[str, Any] = {}
    if token is not None:
        out["token"] = token
    # Lower case, as firebase-admin sends it (FCM reads enum names in any case).
    android: dict[str, Any] = {
        "priority": "high" if message.get("priority", "high") == "high" else "normal"
    }
    if not message.get("silent"):
        notification: dict[str, str] = {}
        if "title" in message:
            notification["title"] = message["title"]
        if "content" in message:
            notification["body"] = message["content"]
        if message.get("image"):
            notification["image"] = message["image"]
        out["notification"] = notification
        extra: dict[str, Any] = {}
        if message.get("sound"):
            extra["sound"] = message["sound"]
        if "badge" in message:
            extra["notification_count"] = message["badge"]
        if extra:
            android["notification"] = extra
    if ttl is not None:
        remaining = int(ttl - (now if now is not None else time.time()))
        android["ttl"] = f"{min(max(0, remaining), FCM_MAX_TTL_SECONDS)}s"
    if message.get("collapseKey"):
        android["collapse_key"] = message["collapseKey"]
    out["android"] = android
    if message.get("data"):
        out["data"] = dict(sorted(message["data"].items()))
    return out


def fcm_body(message: MessageContent, token: str, ttl: int | None = None,
             now: float | None = None) -> bytes:
    """The HTTP body of FCM v1 ``messages:send``: the ``Message`` resource under ``message``.
    A pure function of its arguments (``now`` only turns the absolute ttl into a duration)."""
    return orjson.dumps({"message": fcm_message(message, token=token, ttl=ttl, now=now)})


def payload_size(message: MessageContent, platform: str) -> int:
    """Bytes of the gateway payload this message becomes on ``platform`` ("ios"/"android")."""
    if platform == "ios":
        return len(apns_body(message))
    return len(orjson.dumps(fcm_message(message)))


def payload_size_error(
    message: MessageContent, platform: str, max_bytes: int = MAX_PAYLOAD_BYTES
) -> str | None:
    """None when the message fits, else a sentence saying by how much it does not (for a 422 or
    a failed ``bad_message`` outcome)."""
    size = payload_size(message, platform)
    if size <= max_bytes:
        return None
    gateway = "APNs" if platform == "ios" else "FCM"
    return (
        f"the {gateway} payload would be {size} bytes, over the {max_bytes}-byte limit;"
        " shorten data, title or content"
    )
