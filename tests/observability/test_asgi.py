"""The request middleware: metrics by route template, the request id shared with the envelope
and the logs, an access-log line per error answer (per request at DEBUG)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client import REGISTRY
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from shared.observability.asgi import SCOPE_KEY, RequestObservabilityMiddleware
from shared.observability.context import current_request_id
from shared.observability.logs import PushflowJsonFormatter


async def item(request: Request) -> Response:
    logging.getLogger("pushflow.test").info("handling %s", request.path_params["item_id"])
    return JSONResponse({"scope": request.scope[SCOPE_KEY], "context": current_request_id()})


async def boom(request: Request) -> Response:
    raise RuntimeError("handler bug")


def app(log_successes: bool = True) -> Starlette:
    return Starlette(routes=[Route("/items/{item_id}", item), Route("/boom", boom)],
                     middleware=[Middleware(RequestObservabilityMiddleware,
                                            log_successes=log_successes)])


def requests_count(route: str, method: str, status: str) -> float:
    value = REGISTRY.get_sample_value("pushflow_http_requests_total",
                                      {"route": route, "method": method, "status": status})
    return value or 0.0


@pytest.fixture()
def log_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(PushflowJsonFormatter("api"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


async def test_counts_by_route_template_and_shares_the_request_id(
    log_lines: io.StringIO,
) -> None:
    before = requests_count("/items/{item_id}", "GET", "200")
    transport = httpx.ASGITransport(app=app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        first = await client.get("/items/1")
        second = await client.get("/items/2", headers={"X-Request-Id": "client-id-7"})
    assert requests_count("/items/{item_id}", "GET", "200") == before + 2
    generated = first.headers["x-request-id"]
    assert first.json() == {"scope": generated, "context": generated}
    assert second.json() == {"scope": "client-id-7", "context": "client-id-7"}
    records = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    handled = [r for r in records if r["logger"] == "pushflow.test"]
    assert [r["uniqId"] for r in handled] == [generated, "client-id-7"]
    access = [r for r in records if r["logger"] == "pushflow.access"]
    assert [(r["status"], r["level"], r["uniqId"]) for r in access] == [
        (200, "INFO", generated), (200, "INFO", "client-id-7")]


async def test_error_answers_are_logged_with_their_request_id(log_lines: io.StringIO) -> None:
    transport = httpx.ASGITransport(app=app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        missing = await client.get("/nowhere", headers={"X-Request-Id": "client-id-404"})
        broken = await client.get("/boom")
    assert missing.status_code == 404 and broken.status_code == 500
    records = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    access = [r for r in records if r["logger"] == "pushflow.access"]
    assert [(r["route"], r["status"], r["level"]) for r in access] == [
        ("<unmatched>", 404, "INFO"), ("/boom", 500, "WARNING")]
    # (this bare app's 500 comes from Starlette's outermost ServerErrorMiddleware, without the
    # header; the API's own 500 envelope carries it)
    assert access[0]["uniqId"] == "client-id-404" and len(access[1]["uniqId"]) == 10


async def test_successes_can_be_moved_to_debug(log_lines: io.StringIO) -> None:
    quiet = app(log_successes=False)
    transport = httpx.ASGITransport(app=quiet)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        await client.get("/items/4")
    records = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    assert [r for r in records if r["logger"] == "pushflow.access"] == []
    logging.getLogger().setLevel(logging.DEBUG)
    transport = httpx.ASGITransport(app=quiet)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/items/3")
    records = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    access = [r for r in records if r["logger"] == "pushflow.access"]
    assert [(r["route"], r["status"], r["level"], r["uniqId"]) for r in access] == [
        ("/items/{item_id}", 200, "DEBUG", response.headers["x-request-id"])]


async def test_unmatched_paths_and_odd_methods_keep_labels_bounded() -> None:
    before = requests_count("<unmatched>", "OTHER", "404")
    transport = httpx.ASGITransport(app=app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for n in range(3):
            response = await client.request("BREW", f"/random/{n}")
            assert response.status_code == 404
    assert requests_count("<unmatched>", "OTHER", "404") == before + 3


async def test_an_insane_incoming_request_id_is_replaced() -> None:
    transport = httpx.ASGITransport(app=app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/items/1", headers={"X-Request-Id": "x" * 65})
    assert response.headers["x-request-id"] != "x" * 65
    assert len(response.headers["x-request-id"]) == 10


async def test_a_handler_exception_is_counted_as_500() -> None:
    before = requests_count("/boom", "GET", "500")
    transport = httpx.ASGITransport(app=app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/boom")
    assert response.status_code == 500
    assert requests_count("/boom", "GET", "500") == before + 1
