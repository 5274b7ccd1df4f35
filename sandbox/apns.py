"""The APNs gateway: ``POST /3/device/<token>`` checked the way Apple checks it.

Statuses and reasons follow Apple's "Handling notification responses from APNs"
(https://developer.apple.com/documentation/usernotifications/handling-notification-responses-from-apns)
and the header rules of "Sending notification requests to APNs"
(https://developer.apple.com/documentation/usernotifications/sending-notification-requests-to-apns).
Faults and token-prefix conventions apply only to requests that pass every check, so a client
bug is never hidden behind an injected error.
"""

from __future__ import annotations

import re
import uuid

import orjson

from sandbox.apns_auth import ApnsAuthenticator
from sandbox.credentials import SandboxCredentials
from sandbox.messages import Answer, Request, WireAction
from sandbox.state import Record, SandboxState, now_ms

PATH_PREFIX = "/3/device/"
PUSH_TYPES = frozenset(
    {
        "alert",
        "background",
        "location",
        "voip",
        "complication",
        "fileprovider",
        "mdm",
        "liveactivity",
        "pushtotalk",
        "widgets",
        "controls",
    }
)
# Topic suffixes Apple defines for push types that need them (voip, complication, ...).
TOPIC_SUFFIXES = (
    "",
    ".voip",
    ".complication",
    ".pushkit.fileprovider",
    ".location-query",
    ".push-type.liveactivity",
    ".voip-ptt",
)
PRIORITIES = frozenset({"1", "5", "10"})
MAX_PAYLOAD = 4096
MAX_VOIP_PAYLOAD = 5120
MAX_COLLAPSE_ID_BYTES = 64
_TOKEN_RE = re.compile(r"[0-9a-fA-F]{64,200}")
_UUID_RE = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)

# Fault kinds the control API accepts -> (status, reason); drop/goaway act on the connection.
FAULTS: dict[str, tuple[int, str]] = {
    "bad_device_token": (400, "BadDeviceToken"),
    "device_token_not_for_topic": (400, "DeviceTokenNotForTopic"),
    "unregistered": (410, "Unregistered"),
    "payload_too_large": (413, "PayloadTooLarge"),
    "bad_collapse_id": (400, "BadCollapseId"),
    "bad_expiration_date": (400, "BadExpirationDate"),
    "too_many_requests": (429, "TooManyRequests"),
    "internal": (500, "InternalServerError"),
    "unavailable": (503, "ServiceUnavailable"),
    "expired_provider_token": (403, "ExpiredProviderToken"),
    "invalid_provider_token": (403, "InvalidProviderToken"),
    "bad_certificate": (403, "BadCertificate"),
}
WIRE_FAULTS = {"drop": WireAction.DROP, "goaway": WireAction.GOAWAY}
FAULT_KINDS = frozenset(FAULTS) | frozenset(WIRE_FAULTS)

# Token-prefix conventions for users without the control API. Eight hex digits, so a random
# 64-hex token hits one by chance with probability 2^-32 (benchmarks stay clean).
PREFIX_FAULTS: tuple[tuple[str, str], ...] = (
    ("0bad0bad", "bad_device_token"),
    ("04100410", "unregistered"),
    ("04290429", "too_many_requests"),
    ("05000500", "internal"),
    ("05030503", "unavailable"),
)


class ApnsGateway:
    def __init__(self, creds: SandboxCredentials, state: SandboxState) -> None:
        self._state = state
        self._auth = ApnsAuthenticator(creds)
        self._topics = frozenset(creds.apns_topic + s for s in TOPIC_SUFFIXES)

    def __call__(self, req: Request) -> Answer:
        apns_id = req.headers.get("apns-id")
        reply_id = apns_id if apns_id and _UUID_RE.fullmatch(apns_id) else str(uuid.uuid4()).upper()
        token = req.path[len(PATH_PREFIX) :] if req.path.startswith(PATH_PREFIX) else ""
        status, reason, extra = self._check(req, token, apns_id)
        action = WireAction.ANSWER
        retry_after = None
        if status == 200:
            fault = self._state.pick_fault("apns", token)
            kind = fault.kind if fault else _prefix_fault(token)
            if kind in WIRE_FAULTS:
                action = WIRE_FAULTS[kind]
                status, reason = 0, kind
            elif kind is not None:
                status, reason = FAULTS[kind]
                retry_after = fault.retry_after if fault else None
        answer = self._answer(status, reason, reply_id, retry_after)
        answer.action = action
        self._state.track(Record.of(req, "apns", token, status, reason, extra), answer)
        answer.delay = self._state.latency
        return answer

    def _check(
        self, req: Request, token: str, apns_id: str | None
    ) -> tuple[int, str | None, dict[str, object] | None]:
        """Apple's checks in order: (status, reason, recorded auth facts)."""
        if req.method != "POST":
            return 405, "MethodNotAllowed", None
        if not req.path.startswith(PATH_PREFIX):
            return 404, "BadPath", None
        if not token:
            return 400, "MissingDeviceToken", None
        if req.duplicate_headers:
            return 400, "DuplicateHeaders", None
        h = req.headers
        auth = self._auth.authenticate(h.get("authorization"), req.conn.peer_cert)
        extra: dict[str, object] = {}
        if auth.jwt is not None:
            extra["jwt"] = {"header": auth.jwt.header, "claims": auth.jwt.claims}
            self._state.stats["apns"].jwts[auth.jwt_string or ""] = auth.jwt.iat
        if auth.cert_topic is not None:
            extra["certTopic"] = auth.cert_topic
        if auth.reason is not None:
            return 403, auth.reason, extra
        topic = h.get("apns-topic") or auth.cert_topic
        if not topic:
            return 400, "MissingTopic", extra
        allowed = (
            self._topics
            if auth.cert_topic is None
            else {auth.cert_topic + s for s in TOPIC_SUFFIXES}
        )
        if topic not in allowed:
            return 400, "TopicDisallowed", extra
        if not _TOKEN_RE.fullmatch(token) or len(token) % 2:
            return 400, "BadDeviceToken", extra
        push_type = h.get("apns-push-type", "alert")
        if push_type not in PUSH_TYPES:
            return 400, "InvalidPushType", extra
        priority = h.get("apns-priority", "10")
        if priority not in PRIORITIES or (priority == "10" and push_type == "background"):
            return 400, "BadPriority", extra
        expiration = h.get("apns-expiration")
        if expiration is not None and not expiration.isdigit():
            return 400, "BadExpirationDate", extra
        collapse_id = h.get("apns-collapse-id")
        if collapse_id is not None and len(collapse_id.encode()) > MAX_COLLAPSE_ID_BYTES:
            return 400, "BadCollapseId", extra
        if apns_id is not None and not _UUID_RE.fullmatch(apns_id):
            return 400, "BadMessageId", extra
        return (*_check_payload(req.body, push_type), extra)

    def _answer(
        self, status: int, reason: str | None, apns_id: str, retry_after: int | None
    ) -> Answer:
        headers = [("apns-id", apns_id)]
        if status == 200:
            headers.append(("apns-unique-id", str(uuid.uuid4())))
            return Answer(200, headers)
        if status == 0:  # drop / goaway: nothing is sent for this stream
            return Answer(0, headers)
        body: dict[str, object] = {"reason": reason}
        if status == 410:
            body["timestamp"] = now_ms()
        if retry_after is not None:
            headers.append(("retry-after", str(retry_after)))
        headers.append(("content-type", "application/json"))
        return Answer(status, headers, orjson.dumps(body))


def _check_payload(body: bytes, push_type: str) -> tuple[int, str | None]:
    if not body:
        return 400, "PayloadEmpty"
    if len(body) > (MAX_VOIP_PAYLOAD if push_type == "voip" else MAX_PAYLOAD):
        return 413, "PayloadTooLarge"
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return 400, "BadPayload"  # sandbox-specific: Apple documents no reason for broken JSON
    if not isinstance(payload, dict) or not isinstance(payload.get("aps"), dict):
        return 400, "BadPayload"
    return 200, None


def _prefix_fault(token: str) -> str | None:
    for prefix, kind in PREFIX_FAULTS:
        if token.startswith(prefix):
            return kind
    return None
