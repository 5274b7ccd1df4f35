"""/openapi.json describes every /v2.1 endpoint the app serves (whichever module registers it),
the envelope and the contract's error codes."""

from __future__ import annotations

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
