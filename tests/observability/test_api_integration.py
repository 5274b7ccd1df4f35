"""The middleware as mounted in the real intake app: the envelope's uniqId, the X-Request-Id
header and the metrics' route label agree."""

from __future__ import annotations

from typing import Any

from prometheus_client import REGISTRY
from starlette.testclient import TestClient

from producer.app import create_app


def test_envelope_uniq_id_is_the_middlewares_request_id(make_app: Any) -> None:
    caller = make_app("ops-integration")
    labels = {"route": "/v2.1/push/{message_id}", "method": "GET", "status": "404"}
    before = REGISTRY.get_sample_value("pushflow_http_requests_total", labels) or 0.0
    with TestClient(create_app()) as client:
        response = client.get("/v2.1/push/0190f0f0-0000-7000-8000-000000000000",
                              headers={**caller.headers(), "X-Request-Id": "trace-me-1"})
    assert response.status_code == 404, response.text
    assert response.json()["meta"]["uniqId"] == "trace-me-1"
    assert response.headers["x-request-id"] == "trace-me-1"
    assert REGISTRY.get_sample_value("pushflow_http_requests_total", labels) == before + 1
