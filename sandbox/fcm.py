"""The FCM HTTP v1 gateway: ``POST /v1/projects/{project}/messages:send``.

Errors are google.rpc.Status JSON carrying a ``google.firebase.fcm.v1.FcmError`` detail, as in
https://firebase.google.com/docs/reference/fcm/rest/v1/ErrorCode; firebase-admin maps the
detail's ``errorCode`` to its exception classes, so the bodies must match exactly.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass

from sandbox.fcm_message import INVALID_TOKEN, MessageError, parse_send_body
from sandbox.messages import Answer, Request, WireAction, json_answer
from sandbox.oauth import AccessTokens
from sandbox.state import Record, SandboxState

_PATH_RE = re.compile(r"/v1/projects/([^/]+)/messages:send")
FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"


@dataclass(frozen=True, slots=True)
class FcmFault:
    http: int
    status: str  # google.rpc.Code name
    error_code: str | None  # FcmError.errorCode
    message: str
    field: str | None = None  # BadRequest field violation, for INVALID_ARGUMENT


FAULTS: dict[str, FcmFault] = {
    "unregistered": FcmFault(404, "NOT_FOUND", "UNREGISTERED", "Requested entity was not found."),
    "sender_id_mismatch": FcmFault(
        403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH", "SenderId mismatch"
    ),
    "invalid_argument_token": FcmFault(
        400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", INVALID_TOKEN, "message.token"
    ),
    "invalid_argument_payload": FcmFault(
        400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "Message is too big", "message"
    ),
    "quota_exceeded": FcmFault(
        429,
        "RESOURCE_EXHAUSTED",
        "QUOTA_EXCEEDED",
        "Quota exceeded for quota metric 'Send requests'.",
    ),
    "internal": FcmFault(500, "INTERNAL", "INTERNAL", "Internal error encountered."),
    "unavailable": FcmFault(
        503, "UNAVAILABLE", "UNAVAILABLE", "The service is currently unavailable."
    ),
    "third_party_auth_error": FcmFault(
        401, "UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR", "Auth error from APNS or Web Push Service"
    ),
}
WIRE_FAULTS = {"drop": WireAction.DROP, "goaway": WireAction.GOAWAY}
FAULT_KINDS = frozenset(FAULTS) | frozenset(WIRE_FAULTS)
UNAUTHENTICATED = FcmFault(
    401,
    "UNAUTHENTICATED",
    None,
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie "
    "or other valid authentication credential.",
)

# Token-prefix conventions for users without the control API (FCM tokens are free text).
PREFIX_FAULTS: tuple[tuple[str, str], ...] = (
    ("unregistered", "unregistered"),
    ("sender-id-mismatch", "sender_id_mismatch"),
    ("invalid-token", "invalid_argument_token"),
    ("quota-exceeded", "quota_exceeded"),
    ("internal-error", "internal"),
    ("unavailable", "unavailable"),
)


class FcmGateway:
    def __init__(self, state: SandboxState, tokens: AccessTokens) -> None:
        self._state = state
        self._tokens = tokens

    def __call__(self, req: Request) -> Answer:
        target, delivered, project = "", True, ""
        m = _PATH_RE.fullmatch(req.path)
        if m is None:
            fault: FcmFault | None = FcmFault(404, "NOT_FOUND", None, f"No route {req.path[:100]}")
        elif req.method != "POST":
            fault = FcmFault(405, "INVALID_ARGUMENT", None, "Method not allowed; use POST.")
        else:
            project = m.group(1)
            fault, target, delivered = self._check(req, project)
        answer, reason, fault = self._outcome(fault, target, project, delivered)
        extra = {"message": fault.message} if fault is not None else None
        rec = Record.of(req, "fcm", target, answer.status, reason, extra, delivered)
        self._state.track(rec, answer)
        answer.delay = self._state.latency
        return answer

    def _outcome(
        self, fault: FcmFault | None, target: str, project: str, delivered: bool
    ) -> tuple[Answer, str | None, FcmFault | None]:
        """Apply injected faults to a request that passed every check, then build the answer."""
        retry_after = None
        if fault is None:
            rule = self._state.pick_fault("fcm", target)
            kind = rule.kind if rule else _prefix_fault(target)
            if kind in WIRE_FAULTS:
                return Answer(0, action=WIRE_FAULTS[kind]), kind, None
            if kind is not None:
                fault = FAULTS[kind]
                retry_after = rule.retry_after if rule else None
        if fault is not None:
            return error_answer(fault, retry_after), fault.error_code or fault.status, fault
        # Real ids look like "0:1500415314455276%31bd1c9631bd1c96"; validate_only gets a fake.
        msg_id = f"0:{time.time_ns() // 1000}%{secrets.token_hex(8)}"
        if not delivered:
            msg_id = "fake_message_id"
        return json_answer(200, {"name": f"projects/{project}/messages/{msg_id}"}), None, None

    def _check(self, req: Request, project: str) -> tuple[FcmFault | None, str, bool]:
        scheme, _, bearer = req.headers.get("authorization", "").partition(" ")
        token_project = self._tokens.project_of(bearer) if scheme.lower() == "bearer" else None
        if token_project is None:
            return UNAUTHENTICATED, "", True
        self._state.stats["fcm"].access_tokens.add(bearer)
        if token_project != project:
            msg = (
                "Permission 'cloudmessaging.messages.create' denied on resource "
                f"'//cloudresourcemanager.googleapis.com/projects/{project}'"
            )
            return FcmFault(403, "PERMISSION_DENIED", None, msg), "", True
        try:
            send = parse_send_body(req.body)
        except MessageError as exc:
            token_field = exc.field == "message.token"
            fault = FcmFault(
                400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", exc.description, exc.field
            )
            return fault, "" if not token_field else str(_loose_token(req.body)), True
        return None, send.target, not send.validate_only


def error_answer(fault: FcmFault, retry_after: int | None = None) -> Answer:
    details: list[dict[str, object]] = []
    if fault.error_code is not None:
        details.append({"@type": FCM_ERROR_TYPE, "errorCode": fault.error_code})
    if fault.field is not None:
        details.append(
            {
                "@type": BAD_REQUEST_TYPE,
                "fieldViolations": [{"field": fault.field, "description": fault.message}],
            }
        )
    error: dict[str, object] = {
        "code": fault.http,
        "message": fault.message,
        "status": fault.status,
    }
    if details:
        error["details"] = details
    headers = [("retry-after", str(retry_after))] if retry_after is not None else None
    return json_answer(fault.http, {"error": error}, headers)


def _prefix_fault(target: str) -> str | None:
    for prefix, kind in PREFIX_FAULTS:
        if target.startswith(prefix):
            return kind
    return None


def _loose_token(body: bytes) -> str:
    """The token of a message that failed validation, for recording only."""
    m = re.search(rb'"token"\s*:\s*"([^"]{0,200})', body)
    return m.group(1).decode("utf-8", "replace") if m else ""
