"""Tenant isolation and scopes for every operation of the API, generated from the route table
and ``/openapi.json``: a new route is covered without anyone writing a test for it.

App A owns one of everything (a message with its dispatch, a device, a webhook configuration,
a webhook event). For each operation, app B's key (every scope) is sent with A's ids wherever a
path parameter, a query parameter or a body field names one:

- an operation with a path parameter answers 404;
- no answer's ``data`` shows any of A's ids, tokens or URLs (except what B's own body wrote);
- A's objects are exactly as they were (nothing canceled, deleted, replayed or recorded).

And a key of A with every scope but the operation's ``x-scope`` (and not ``admin``) gets 403.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import psycopg
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from domain.keys import store as apps
from producer import openapi as oa
from producer.app import ROUTE_MODULES
from tests.producer.conftest import assert_envelope, ios_token

DOCUMENT = oa.build([getattr(m, "openapi", {}) for m in ROUTE_MODULES])
OPERATIONS = sorted((method.upper(), path) for path, ops in DOCUMENT["paths"].items()
                    for method, op in ops.items() if op.get("x-scope"))


@dataclass
class TenantA:
    headers: dict[str, str]
    ids: dict[str, Any]  # parameter or field name -> A's value for it
    markers: list[str]  # strings only A's objects contain

    async def snapshot(self, api: httpx.AsyncClient, db: psycopg.Connection[Any]) -> Any:
        views = [await api.get(path, headers=self.headers) for path in (
            f"/v2.1/push/{self.ids['message_id']}", "/v2.1/devices", "/v2.1/webhooks",
            "/v2.1/webhooks/deliveries", "/v2.1/keys", "/v2.1/users", "/v2.1/automations",
            "/v2.1/automations/settings", "/v2.1/events", "/v2.1/limits",
            f"/v2.1/campaigns/{self.ids['campaign_id']}")]
        events = db.execute("SELECT id, state FROM webhook_events WHERE id = %s",
                            (self.ids["event_id"],)).fetchall()
        return [(r.status_code, r.json()["data"]) for r in views], events


@pytest.fixture()
async def tenant_a(api: httpx.AsyncClient, make_app: Any, db: psycopg.Connection[Any]
                   ) -> TenantA:
    app = make_app("a")
    h = app.headers()
    token, external_id, user_id = ios_token(), "ext-" + secrets.token_hex(6), secrets.token_hex(6)
    hook = f"https://8.8.8.8/hook-{secrets.token_hex(6)}"
    sent = await api.post("/v2.1/push", headers=h, json={
        "device_tokens": [token], "content": "c", "externalId": external_id})
    assert sent.status_code == 202, sent.text
    message = sent.json()["data"][0]
    dispatch_id = message["dispatches"][0]["dispatchId"]
    assert (await api.post("/v2.1/devices", headers=h, json={
        "token": token, "platform": "ios", "userId": user_id})).status_code == 201
    assert (await api.put("/v2.1/webhooks", headers=h, json={"primaryUrl": hook})
            ).status_code in (200, 201)
    member = f"member-{secrets.token_hex(6)}@example.com"
    assert (await api.post("/v2.1/users", headers=h, json={"email": member, "role": "admin"})
            ).status_code == 201
    rule = await api.post("/v2.1/automations", headers=h, json={
        "name": "r", "event": "order.shipped", "defaultLanguage": "en",
        "templates": {"en": {"content": "shipped"}}})
    assert rule.status_code == 201, rule.text
    rule_id = rule.json()["data"][0]["ruleId"]
    assert (await api.put("/v2.1/automations/settings", headers=h, json={
        "dailyCapPerUser": 5})).status_code == 200
    automation_event = "evt-" + secrets.token_hex(6)
    fired = await api.post("/v2.1/events", headers=h, json={
        "eventId": automation_event, "name": "order.shipped", "userId": user_id})
    assert fired.status_code == 200, fired.text
    row = db.execute(
        "INSERT INTO webhook_events (id, app_id, type, dispatch_id, message_id, payload, state,"
        " dead_at) VALUES (gen_random_uuid(), %s, 'push.sent', %s, %s, '{}', 'dead', now())"
        " RETURNING id::text", (app.app_id, dispatch_id, message["messageId"])).fetchone()
    assert row is not None
    event_id = row[0]
    campaign = await api.post("/v2.1/campaigns", headers=h, json={
        "name": "a", "content": {"content": "c"}, "audience": {"kind": "upload"},
        "perMinute": 60})
    assert campaign.status_code == 201, campaign.text
    campaign_id = campaign.json()["data"][0]["id"]
    assert (await api.post(f"/v2.1/campaigns/{campaign_id}/audience", content=token.encode(),
                           headers={**h, "Content-Type": "text/csv"})).status_code == 200
    ids = {"message_id": message["messageId"], "messageId": message["messageId"],
           "dispatchId": dispatch_id, "event_id": event_id, "token": token,
           "deviceToken": token, "externalId": external_id, "userId": user_id,
           "prefix": app.secret[:apps.PREFIX_CHARS], "email": member,
           "rule_id": rule_id, "eventId": automation_event,
           "campaign_id": campaign_id}
    return TenantA(h, ids, [message["messageId"], dispatch_id, event_id, token, external_id,
                            user_id, hook, app.secret[:apps.PREFIX_CHARS], member, rule_id,
                            campaign_id])


def _value(name: str, schema: dict[str, Any], ids: dict[str, Any]) -> Any:
    """A's value for a field named ``name``, else the simplest value ``schema`` allows."""
    if name in ids:
        return ids[name]
    schema = schema.get("anyOf", [schema])[0]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        return {k: _value(k, s, ids) for k, s in schema.get("properties", {}).items()
                if k in schema.get("required", ()) or k in ids}
    return {"integer": 1, "number": 1, "boolean": False, "array": []}.get(str(kind), "x")


def _request(method: str, path: str, ids: dict[str, Any]) -> dict[str, Any]:
    op = DOCUMENT["paths"][path][method.lower()]
    url = path
    params = {}
    for p in op.get("parameters", ()):
        if p["in"] == "path":
            assert p["name"] in ids, (f"{method} {path}: no object of app A for "
                                      f"{{{p['name']}}}; add one to the tenant_a fixture")
            url = url.replace("{" + p["name"] + "}", str(ids[p["name"]]))
        elif p["in"] == "query" and p["name"] in ids:
            params[p["name"]] = ids[p["name"]]
    request: dict[str, Any] = {"method": method, "url": url, "params": params}
    body = op.get("requestBody")
    if body is not None and "application/json" in body["content"]:
        request["json"] = _value("", body["content"]["application/json"]["schema"], ids)
    elif body is not None:  # a token list: A's token, as text of the first type documented
        request["content"] = str(ids["token"]).encode()
        request["headers"] = {"Content-Type": next(iter(body["content"]))}
    return request


def test_every_api_route_is_documented_with_its_scope(intake_app: Starlette) -> None:
    routed = {(method, route.path) for route in intake_app.routes if isinstance(route, Route)
              and route.path.startswith("/v2.1/") for method in route.methods or ()
              if method != "HEAD"}
    assert routed == set(OPERATIONS)
    assert {DOCUMENT["paths"][p][m.lower()]["x-scope"] for m, p in OPERATIONS} <= set(
        apps.SCOPES)


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
async def test_another_apps_objects_are_invisible_and_untouched(
    api: httpx.AsyncClient, make_app: Any, db: psycopg.Connection[Any], tenant_a: TenantA,
    method: str, path: str
) -> None:
    other = make_app("b")
    before = await tenant_a.snapshot(api, db)
    request = _request(method, path, tenant_a.ids)
    response = await api.request(**{**request, "headers": {
        **request.get("headers", {}), **other.headers()}})
    body = assert_envelope(response)
    assert response.status_code < 500, response.text
    if "{" in path:
        assert response.status_code == 404, response.text
    # What B wrote itself may come back (B's own device with that token); nothing else of A's.
    written = orjson.dumps(request.get("json")).decode()
    shown = orjson.dumps(body["data"]).decode()
    assert not [m for m in tenant_a.markers if m in shown and m not in written], shown
    assert await tenant_a.snapshot(api, db) == before


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
async def test_a_key_without_the_operations_scope_is_403(
    api: httpx.AsyncClient, make_app: Any, tenant_a: TenantA, method: str, path: str
) -> None:
    scope = DOCUMENT["paths"][path][method.lower()]["x-scope"]
    lacking = make_app("c", scopes=tuple(s for s in apps.SCOPES if s not in (scope, "admin")))
    request = _request(method, path, tenant_a.ids)
    response = await api.request(**{**request, "headers": {
        **request.get("headers", {}), **lacking.headers()}})
    assert response.status_code == 403, response.text
    assert [e["code"] for e in assert_envelope(response)["errors"]] == ["FORBIDDEN"]
