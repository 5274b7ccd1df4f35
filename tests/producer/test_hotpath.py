"""The hot route (``POST /v2.1/push``) is served outside the middleware stack
(``producer.hotpath``), yet answers, counts and logs like every other route."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from starlette.applications import Starlette

from domain.messages import rows as persist
from producer import hotpath
from producer.hotpath import PushflowApp
from tests.producer.conftest import assert_envelope, error_codes, ios_token


def _count(status: str) -> float:
    labels = {"route": "/v2.1/push", "method": "POST", "status": status}
    return REGISTRY.get_sample_value("pushflow_http_requests_total", labels) or 0.0


def test_only_the_hot_route_skips_the_stack(intake_app: Starlette) -> None:
    assert isinstance(intake_app, PushflowApp)
    assert set(intake_app.hot) == {("POST", "/v2.1/push")}


async def test_request_id_metrics_and_access_log_as_for_any_route(
    api: httpx.AsyncClient, make_app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caller = make_app()
    accepted, invalid = _count("202"), _count("422")
    ok = await api.post("/v2.1/push", json={"device_tokens": [ios_token()], "content": "c"},
                        headers={**caller.headers(), "X-Request-Id": "hot-trace-1"})
    assert ok.status_code == 202, ok.text
    assert assert_envelope(ok)["meta"]["uniqId"] == "hot-trace-1"
    with caplog.at_level(logging.INFO, logger="pushflow.access"):
        bad = await api.post("/v2.1/push", json={"device_tokens": [ios_token()]},
                             headers=caller.headers())
    assert bad.status_code == 422
    assert error_codes(assert_envelope(bad)) == [("REQUIRED", "content")]
    assert _count("202") == accepted + 1 and _count("422") == invalid + 1
    # Every error answer gets an access line with its request id (successes too by default).
    lines = [r.getMessage().split()[:3] for r in caplog.records if r.name == "pushflow.access"
             and getattr(r, "status", None) == 422]
    assert lines == [["POST", "/v2.1/push", "422"]]
    # The other routes still go through the middleware: same header, same counting.
    other = await api.get("/v2.1/push/not-a-uuid", headers={**caller.headers(),
                                                             "X-Request-Id": "hot-trace-2"})
    assert other.headers["x-request-id"] == "hot-trace-2"


@pytest.mark.parametrize("handler_fails", [False, True], ids=["bug", "bug-in-error-handler"])
async def test_an_internal_error_is_still_a_500_envelope(
    intake_app: Starlette, make_app: Any, monkeypatch: pytest.MonkeyPatch, handler_fails: bool
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("bug")

    monkeypatch.setattr(persist, "insert_batch", broken)
    if handler_fails:  # even then: the fixed last-resort envelope
        monkeypatch.setattr(hotpath, "error_response", broken)
    failed = _count("500")
    transport = httpx.ASGITransport(app=intake_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.post("/v2.1/push", headers=make_app().headers(),
                                     json={"device_tokens": [ios_token()], "content": "c"})
    assert response.status_code == 500
    assert error_codes(assert_envelope(response)) == [("INTERNAL_ERROR", None)]
    assert "bug" not in response.text  # no internals leak to the client
    assert _count("500") == failed + 1
