"""Routes of the transactional push API: send, read one message, search."""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute, Route

from domain.dispatches.search import SOURCES, STATUSES
from producer import openapi as oa
from producer.cancel import cancel_message
from producer.history import (
    ATTEMPT_SCHEMA,
    DELIVERY_SCHEMA,
    get_message,
    paging_params,
    search,
)
from producer.intake import accept_push
from shared.payload import PushBody

routes: list[BaseRoute] = [
    Route("/v2.1/push", accept_push, methods=["POST"]),
    Route("/v2.1/push", search, methods=["GET"]),
    Route("/v2.1/push/{message_id}", get_message, methods=["GET"]),
    Route("/v2.1/push/{message_id}", cancel_message, methods=["DELETE"]),
]

_STR = {"type": "string"}
_TIME = oa.TIME
_PLATFORM = {"type": "string", "enum": ["ios", "android"]}
_STATUS = {"type": "string", "enum": list(STATUSES)}

_DISPATCH: dict[str, Any] = {"type": "object", "properties": {
    "dispatchId": _STR, "deviceToken": _STR, "platform": _PLATFORM, "status": _STATUS}}
_ACCEPTED = {"type": "object", "properties": {
    "messageId": _STR, "externalId": {"type": ["string", "null"]},
    "dispatches": {"type": "array", "items": _DISPATCH}}}
_DISPATCH_STATE: dict[str, Any] = {"type": "object", "properties": {
    **_DISPATCH["properties"], "messageId": _STR, "externalId": _STR,
    "lane": {"type": "string", "enum": ["tx", "bulk"]},
    "source": {"type": "string", "enum": list(SOURCES)}, "sourceRef": {"type": ["string", "null"]},
    "reason": _STR, "attempts": {"type": "integer"}, "gatewayId": _STR,
    "gatewayResponse": {"type": ["object", "null"]}, "createdAt": _STR, "updatedAt": _STR,
    "history": {"type": "array", "items": {"type": "object", "properties": {
        "status": _STATUS, "reason": _STR, "detail": {}, "at": _STR}}}}}
_DISPATCH_STORY = {"type": "object", "properties": {
    **_DISPATCH_STATE["properties"],
    "attemptLog": {"type": "array", "items": ATTEMPT_SCHEMA,
                   "description": "every request to APNs or FCM, recorded as it happened"},
    "webhooks": {"type": "array", "items": DELIVERY_SCHEMA,
                 "description": "the webhook events of this dispatch, each with its attempts"}}}
_MESSAGE = {"type": "object", "properties": {
    "messageId": _STR, "externalId": _STR, "content": {"type": "object"}, "webhookUrl": _STR,
    "scheduleTime": _STR, "ttl": {"type": ["integer", "null"]}, "createdAt": _STR,
    "source": {"type": "string", "enum": list(SOURCES)},
    "sourceRef": {"type": ["string", "null"],
                  "description": "the automation rule or campaign that made it"},
    "dispatches": {"type": "array", "items": _DISPATCH_STORY}}}

_CANCELED = {"type": "object", "properties": {
    "messageId": _STR, "externalId": {"type": ["string", "null"]},
    "canceled": {"type": "integer", "description": "dispatches this call canceled"},
    "dispatches": {"type": "array", "items": _DISPATCH}}}

_MESSAGE_ID = "the `messageId` that `POST /v2.1/push` answered"
openapi: dict[str, Any] = {"paths": {
    "/v2.1/push": {
        "post": oa.operation(
            "Send a transactional push", scope="push:send", ok=202, ok_schema=_ACCEPTED,
            ok_headers=oa.IDEMPOTENT_REPLAYED,
            errors=(400, 401, 403, 409, 413, 422), body=oa.body_schema(PushBody),
            parameters=[{"name": "Idempotency-Key", "in": "header", "required": False,
                         "schema": {"type": "string", "maxLength": 255},
                         "description": "Your key for this request (1-255 characters, kept "
                                        "24 h): a repeat with the same body gets the first "
                                        "answer again, with `Idempotent-Replayed: true`, and "
                                        "sends nothing; another body is 409."}],
            description="Stored, then one task per token is queued. Bad tokens are listed in "
                        "errors (INVALID_DEVICE_TOKEN, TOKEN_INVALIDATED) next to the accepted "
                        "ones (202); all bad is 422."),
        "get": oa.operation(
            "Search dispatches", scope="push:read", ok_schema=_DISPATCH_STATE,
            errors=(401, 403, 422),
            parameters=[oa.query_param("dateFrom", _TIME, "created at or after this time"),
                        oa.query_param("dateTo", _TIME, "created at or before this time"),
                        oa.query_param("status", _STATUS, "the dispatch's current status"),
                        oa.query_param("deviceToken", _STR, "one device token, exactly"),
                        oa.query_param("externalId", _STR, "your id of the message, exactly"),
                        oa.query_param("platform", _PLATFORM, "the token's platform"),
                        oa.query_param("source", {"type": "string", "enum": list(SOURCES)},
                                       "what made the message: the API, an automation rule or a "
                                       "campaign"),
                        oa.query_param("sourceRef", _STR, "the automation rule or campaign"),
                        oa.query_param("q", _STR, "words of the title, content or externalId "
                                                  "(whole words, all of them)"),
                        *paging_params("dispatches")],
            description="Newest first."),
    },
    "/v2.1/push/{message_id}": {
        "get": oa.operation(
            "One message with its dispatches and their status history", scope="push:read",
            ok_schema=_MESSAGE, errors=(401, 403, 404),
            parameters=[oa.path_param("message_id", _MESSAGE_ID)],
            description="Each dispatch lists its gateway attempts (`attemptLog`) as they "
                        "happen: a retried attempt appears, with its reason and `retryAt`, "
                        "while the dispatch is still `queued`; and its webhook events "
                        "(`webhooks`), each with every HTTP attempt."),
        "delete": oa.operation(
            "Cancel a scheduled message", scope="push:send", ok_schema=_CANCELED,
            errors=(401, 403, 404), parameters=[oa.path_param("message_id", _MESSAGE_ID)],
            description="Dispatches still `scheduled` become `canceled` and are never sent; "
                        "those already `queued` or further are left as they are. Lists every "
                        "dispatch with its status after the call; repeating it changes "
                        "nothing."),
    },
}}
