"""The ``/openapi.json`` document: a hand-maintained base (security, envelope, error codes) merged
with the ``openapi`` dict of every route module (``{"paths": ..., "components": ...}``).

Route modules describe their paths with the helpers here so every operation documents the same
envelope and error answers; request bodies are generated from the pydantic models that validate
them (``body_schema``), so the document and the validation cannot disagree::

    from producer import openapi as oa
    openapi = {"paths": {"/v2.1/things": {"post": oa.operation(
        "Add a thing", scope="push:send", ok=200, errors=(401, 403, 422),
        body=oa.body_schema(ThingBody),
        parameters=[oa.query_param("limit", {"type": "integer"})])}}}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson
from pydantic import TypeAdapter

from producer.envelope import TITLES

ERROR_STATUS = {
    400: "Malformed JSON (`INVALID_JSON`)",
    401: "Missing or wrong keys (`UNAUTHORIZED`)",
    403: "The key lacks the scope (`FORBIDDEN`)",
    404: "No such object for this app (`NOT_FOUND`)",
    409: "Idempotency-Key reused with another body (`IDEMPOTENCY_CONFLICT`), or an action a "
         "campaign's state does not allow (`STATE_CONFLICT`)",
    413: "Request body too large (`PAYLOAD_TOO_LARGE`)",
    415: "Not a content type the operation reads (`UNSUPPORTED_MEDIA_TYPE`)",
    422: "Invalid request (`VALIDATION_ERROR` with one entry per offending field or "
         "parameter)",
    429: "Rate limited (`RATE_LIMITED`, with `Retry-After`)",
    503: "A backing service is down, with `Retry-After`: `UNAVAILABLE`, nothing was accepted; "
         "`OUTCOME_UNKNOWN` (intake only), it may have been (retry with the same "
         "Idempotency-Key)",
}

_BASE: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Pushflow PUSH API",
        "version": "2.1",
        "description": "Transactional push notifications (MessageFlow v2.1 compatible). Every "
                       "JSON answer, errors included, is the Envelope; its meta.uniqId is also "
                       "the X-Request-Id header.",
    },
    "security": [{"apiKey": [], "applicationKey": []}],
    "paths": {},
    "components": {
        "securitySchemes": {
            "apiKey": {"type": "apiKey", "in": "header", "name": "Authorization",
                       "description": "The API key secret, raw (no 'Bearer')."},
            "applicationKey": {"type": "apiKey", "in": "header", "name": "Application-Key"},
        },
        "schemas": {
            "ErrorCode": {"type": "string", "enum": sorted(TITLES)},
            "Error": {
                "type": "object", "required": ["title", "message", "code", "meta"],
                "properties": {
                    "title": {"type": "string"}, "message": {"type": "string"},
                    "code": {"$ref": "#/components/schemas/ErrorCode"},
                    "meta": {"type": "object", "properties": {
                        "parameter": {"type": ["string", "null"]},
                        "value": {},
                        "source": {"type": "string",
                                   "enum": ["body", "query", "header", "path", "server"]},
                    }},
                },
            },
            "Envelope": {
                "type": "object", "required": ["meta", "data", "errors"],
                "properties": {
                    "meta": {"type": "object",
                             "required": ["numberOfErrors", "numberOfData", "status", "uniqId"],
                             "properties": {"numberOfErrors": {"type": "integer"},
                                            "numberOfData": {"type": "integer"},
                                            "status": {"type": "integer"},
                                            "uniqId": {"type": "string"}}},
                    "data": {"type": "array", "items": {}},
                    "errors": {"type": "array",
                               "items": {"$ref": "#/components/schemas/Error"}},
                },
            },
        },
    },
}


# A time in a query parameter, as ``producer.history.Query.time`` reads it.
TIME: dict[str, Any] = {"type": "string",
                        "description": "RFC 3339, or 'YYYY-MM-DD hh:mm:ss' in UTC"}

# Headers of every answer, and of the answers that say when to come back.
REQUEST_ID = {"X-Request-Id": {
    "description": "The request id, also `meta.uniqId` (yours when you sent a sane one).",
    "schema": {"type": "string"}}}
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying.",
                               "schema": {"type": "integer"}}}
# The answer to a repeated ``Idempotency-Key`` (``producer.intake``).
IDEMPOTENT_REPLAYED = {"Idempotent-Replayed": {
    "description": "`true` when this is the stored answer to an earlier request with the same "
                   "Idempotency-Key and body (nothing was sent again; the body, `meta.uniqId` "
                   "included, is the first answer's, `X-Request-Id` this request's).",
    "schema": {"type": "string", "enum": ["true"]}}}


def _inline(schema: Any, defs: Mapping[str, Any]) -> Any:
    """``schema`` with its ``$defs`` references replaced by their definitions (the bodies are
    small and not recursive), so every operation's body stands alone in the document."""
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline(defs[ref.rsplit("/", 1)[-1]], defs)
        return {k: _inline(v, defs) for k, v in schema.items() if k != "$defs"}
    if isinstance(schema, list):
        return [_inline(v, defs) for v in schema]
    return schema


def body_schema(declared: Any) -> dict[str, Any]:
    """The JSON schema of a request body from its model (or any type pydantic validates), by
    the field names of the contract (aliases)."""
    schema = TypeAdapter(declared).json_schema(by_alias=True, mode="validation")
    return dict(_inline(schema, schema.get("$defs", {})))


def envelope_of(item_schema: Mapping[str, Any] | None) -> dict[str, Any]:
    """The Envelope schema whose ``data`` items are ``item_schema``."""
    if item_schema is None:
        return {"$ref": "#/components/schemas/Envelope"}
    return {"allOf": [{"$ref": "#/components/schemas/Envelope"},
                      {"type": "object", "properties": {"data": {"type": "array",
                                                                 "items": item_schema}}}]}


def _answer(description: str, schema: Mapping[str, Any],
            headers: Mapping[str, Any] = REQUEST_ID) -> dict[str, Any]:
    return {"description": description, "headers": dict(headers),
            "content": {"application/json": {"schema": schema}}}


def operation(summary: str, *, scope: str | None, ok: int | tuple[int, ...] = 200,
              ok_schema: Mapping[str, Any] | None = None, errors: Iterable[int] = (401, 403),
              parameters: Sequence[Mapping[str, Any]] = (),
              body: Mapping[str, Any] | None = None, description: str = "",
              ok_headers: Mapping[str, Any] | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "description": description + (
        f"\n\nRequired scope: `{scope}`." if scope else ""),
        "parameters": list(parameters),
        "responses": {str(status): _answer("Success", envelope_of(ok_schema),
                                           {**REQUEST_ID, **(ok_headers or {})})
                      for status in (ok if isinstance(ok, tuple) else (ok,))}}
    # Every authenticated operation may answer 429 (repeated wrong secrets: producer.ratelimit).
    for status in sorted({*errors, 503} | ({429} if scope else set())):
        op["responses"][str(status)] = _answer(
            ERROR_STATUS.get(status, "Error"), envelope_of(None),
            {**REQUEST_ID, **RETRY_AFTER} if status in (429, 503) else REQUEST_ID)
    if body is not None:
        op["requestBody"] = {"required": True,
                             "content": {"application/json": {"schema": dict(body)}}}
    if scope is None:
        op["security"] = []
    else:
        op["x-scope"] = scope  # machine-readable: tests check every route's scope from it
    return op


def query_param(name: str, schema: Mapping[str, Any], description: str = "") -> dict[str, Any]:
    """A query parameter; its description, then its schema's (a time's format), say what it
    selects."""
    said = ". ".join(d for d in (description, schema.get("description", "")) if d)
    return {"name": name, "in": "query", "required": False, "schema": dict(schema),
            "description": said}


def path_param(name: str, description: str = "") -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"},
            "description": description}


def build(parts: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The base document with every module's paths and component entries merged in."""
    doc = orjson.loads(orjson.dumps(_BASE))  # deep copy: the base is never mutated
    for part in parts:
        for path, ops in part.get("paths", {}).items():
            doc["paths"].setdefault(path, {}).update(ops)
        for section, entries in part.get("components", {}).items():
            doc["components"].setdefault(section, {}).update(entries)
    return dict(doc)


def render(doc: Mapping[str, Any]) -> bytes:
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2)
