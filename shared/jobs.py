"""The payloads carried by task messages: what the intake hands to a send worker, and what a send
worker hands to the DLR worker. Plain JSON-able dicts, typed here so both sides agree.

The send path must not read or write PostgreSQL per token, so a ``SendJob`` carries everything a
worker needs to build the gateway request; credentials come from the worker's per-app cache.
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict


class MessageContent(TypedDict, total=False):
    title: str
    content: str
    image: str
    data: dict[str, str]
    sound: str
    silent: bool
    badge: int
    priority: Literal["high", "normal"]
    collapseKey: str


class SendJob(TypedDict):
    dispatchId: str  # also the APNs apns-id: the same on every retry
    messageId: str
    appId: int
    token: str
    platform: Literal["ios", "android"]
    lane: Literal["tx", "bulk"]
    message: MessageContent
    ttl: int | None  # unix seconds; past it the push is dropped, never sent late
    attempt: int  # 1 for the first try
    requestId: str  # the API request's uniqId, for logs
    enqueuedAt: float  # unix seconds, for queue-latency metrics


class GatewayResponse(TypedDict, total=False):
    status: int  # HTTP status from the gateway (0 when no answer)
    reason: str  # APNs reason / FCM error status
    detail: str
    retryAfter: float
    timestamp: int  # APNs 410 timestamp (ms)


Outcome = Literal["sent", "failed"]
FailureReason = Literal[
    "invalid_token",
    "unregistered",
    "bad_message",
    "expired",
    "auth_config",
    "retries_exhausted",
    "template_error",  # automation only: recorded at submission, never by a send worker
]


class SendResult(TypedDict):
    """What a send worker reports to the results (DLR) queue: once per final outcome
    (``sent``/``failed``), and once per gateway attempt that will be retried (``queued``, with
    ``retryAt``), so the attempt is recorded as it happens rather than when the dispatch ends.
    The attempt fields are absent from reports of workers older than migration 0005."""

    dispatchId: str
    messageId: str
    appId: int
    token: str
    platform: Literal["ios", "android"]
    status: Outcome | Literal["queued"]
    reason: NotRequired[FailureReason | None]
    gatewayId: NotRequired[str | None]  # apns-id or FCM message name
    gatewayResponse: NotRequired[GatewayResponse | None]
    attempts: int
    at: float  # unix seconds of the outcome
    invalidatedAt: NotRequired[float | None]  # gateway's timestamp for a dead token
    requestId: str
    worker: NotRequired[str]  # the send worker that made the attempt (gateway-host-pid)
    takenAt: NotRequired[float]  # unix seconds the worker took it up (a held retry: once due)
    latencyMs: NotRequired[float | None]  # the gateway request; None: no request was made
    retryAt: NotRequired[float]  # status queued: unix seconds the next attempt is due
