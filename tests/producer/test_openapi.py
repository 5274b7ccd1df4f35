"""/openapi.json describes every /v2.1 endpoint the app serves (whichever module registers it),
the envelope and the contract's error codes."""

from __future__ import annotations

from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.routing import Route

CONTRACT_CODES = {
    "UNAUTHORIZED", "FORBIDDEN", "NOT_FOUND", "VALIDATION_ERROR", "REQUIRED", "TOO_LONG",
    "TOO_MANY", "INVALID_FORMAT", "INVALID_IMAGE", "PAYLOAD_TOO_LARGE", "TTL_IN_PAST",
    "INVALID_DEVICE_TOKEN", "TOKEN_INVALIDATED", "IDEMPOTENCY_CONFLICT", "RATE_LIMITED",
    "UNAVAILABLE", "INVALID_JSON",
}


async def test_openapi_lists_every_api_route(api: httpx.AsyncClient,
                                             intake_app: Starlette) -> None:
    response = await api.get("/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    assert doc["openapi"].startswith("3.")
    served = {(route.path, method.lower()) for route in intake_app.routes
              if isinstance(route, Route) and route.path.startswith("/v2.1")
              for method in (route.methods or ()) if method != "HEAD"}
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert {("/v2.1/push", "post"), ("/v2.1/push", "get"),
            ("/v2.1/push/{message_id}", "get")} <= served
    assert served <= documented, served - documented
    schemas = doc["components"]["schemas"]
    assert set(schemas["ErrorCode"]["enum"]) >= CONTRACT_CODES
    assert set(schemas["Envelope"]["required"]) == {"meta", "data", "errors"}
    post = doc["paths"]["/v2.1/push"]["post"]
    assert {"202", "400", "401", "403", "409", "413", "422", "503"} <= set(post["responses"])


async def test_request_bodies_are_the_validating_models(api: httpx.AsyncClient) -> None:
    from producer.openapi import body_schema
    from producer.schemas import DeviceBody, Receipts, RotateBody, WebhooksBody
    from shared.payload import PushBody

    paths = (await api.get("/openapi.json")).json()["paths"]

    def body(path: str, method: str) -> Any:
        return paths[path][method]["requestBody"]["content"]["application/json"]["schema"]

    for (path, method), model in {
        ("/v2.1/push", "post"): PushBody, ("/v2.1/devices", "post"): DeviceBody,
        ("/v2.1/push/receipts", "post"): Receipts, ("/v2.1/webhooks", "put"): WebhooksBody,
        ("/v2.1/webhooks", "post"): WebhooksBody,
        ("/v2.1/webhooks/secret/rotate", "post"): RotateBody,
    }.items():
        assert body(path, method) == body_schema(model), (path, method)
    push = body("/v2.1/push", "post")
    assert push["additionalProperties"] is False  # unknown fields are refused
    assert "scheduleTime" in push["properties"] and "schedule_time" not in push["properties"]


def _bounds(schema: Any) -> list[str]:
    found: list[str] = []
    if isinstance(schema, dict):
        found += [k for k in ("maxLength", "maxItems") if k in schema]
        for value in schema.values():
            found += _bounds(value)
    return found


async def test_per_app_limits_are_named_not_hard_coded(api: httpx.AsyncClient) -> None:
    props = (await api.get("/openapi.json")).json()["paths"]["/v2.1/push"]["post"][
        "requestBody"]["content"]["application/json"]["schema"]["properties"]
    per_app = {"device_tokens": "max_tokens_per_request", "content": "max_content",
               "image": "max_image_url", "sound": "max_sound", "externalId": "max_external_id",
               "collapseKey": "max_collapse_key_bytes"}
    for name, limit in per_app.items():
        assert props[name]["x-pushflow-limit"] == limit, name
        assert _bounds(props[name]) == [], f"{name} states a number that is per app"
        assert "per app" in props[name]["description"] or limit in props[name]["description"]
    assert "max_title_ios" in props["title"]["description"] and _bounds(props["title"]) == []


async def test_both_success_statuses_are_documented(api: httpx.AsyncClient) -> None:
    paths = (await api.get("/openapi.json")).json()["paths"]
    # A first registration or configuration answers 201, a repeated one 200.
    for path, method in (("/v2.1/devices", "post"), ("/v2.1/webhooks", "put"),
                         ("/v2.1/webhooks", "post")):
        assert {"200", "201"} <= set(paths[path][method]["responses"]), (path, method)
