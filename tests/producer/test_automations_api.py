"""The automation API against the real app (PostgreSQL, Redis): rules saved and checked, events
answered, idempotent by ``eventId`` (also concurrently), a missing property failing the dispatch
with ``template_error`` where search shows it."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import httpx
import psycopg

from tests.producer.conftest import assert_envelope, error_codes, ios_token

RULE: dict[str, Any] = {
    "name": "shipped", "event": "order.shipped",
    "conditions": {"all": [{"property": "orderId", "op": "exists", "value": True}]},
    "templates": {"en": {"title": "Order {{ properties.orderId }}",
                         "content": "Shipped by {{ properties.carrier }}"},
                  "pt": {"title": "Pedido {{ properties.orderId }}", "content": "Enviado"}},
    "defaultLanguage": "en", "collapseKey": "order-{{ properties.orderId }}",
    "placeholderMaxChars": {"properties.orderId": 10, "properties.carrier": 20},
}


async def _device(api: httpx.AsyncClient, h: dict[str, str], user: str, language: str | None
                  ) -> str:
    token = ios_token()
    r = await api.post("/v2.1/devices", headers=h, json={
        "token": token, "platform": "ios", "userId": user, "language": language})
    assert r.status_code == 201, r.text
    return token


async def test_a_rule_fires_in_each_devices_language(api: httpx.AsyncClient, make_app: Any,
                                                     db: psycopg.Connection[Any]) -> None:
    app = make_app("auto")
    h = app.headers()
    created = await api.post("/v2.1/automations", headers=h, json=RULE)
    assert created.status_code == 201, created.text
    rule = assert_envelope(created)["data"][0]
    # carrier is not guaranteed by the conditions: saved, with a warning.
    assert any("properties.carrier" in w for w in rule["warnings"])
    user = "u-" + secrets.token_hex(4)
    pt = await _device(api, h, user, "pt-BR")
    en = await _device(api, h, user, "de")  # no German template: the default
    event = {"eventId": secrets.token_hex(8), "name": "order.shipped", "userId": user,
             "properties": {"orderId": "A1", "carrier": "DHL"}}
    answer = assert_envelope(await api.post("/v2.1/events", headers=h, json=event))["data"][0]
    (fired,) = answer["rules"]
    assert fired["fired"] is True and fired["ruleId"] == rule["ruleId"]
    assert sorted(m["language"] for m in fired["messages"]) == ["en", "pt"]
    rows = db.execute(
        "SELECT d.device_token, m.content, m.source, m.source_ref, m.external_id, d.lane"
        " FROM dispatches d JOIN messages m ON m.id = d.message_id WHERE d.app_id = %s",
        (app.app_id,)).fetchall()
    by_token = {r[0]: r for r in rows}
    assert by_token[pt][1]["title"] == "Pedido A1"
    assert by_token[en][1] == {"title": "Order A1", "content": "Shipped by DHL",
                               "collapseKey": "order-A1"}
    assert {(r[2], r[3], r[4], r[5]) for r in rows} == {
        ("automation", rule["ruleId"], event["eventId"], "tx")}


async def test_bad_templates_are_refused_at_save(api: httpx.AsyncClient, make_app: Any) -> None:
    h = make_app("auto").headers()
    broken = {**RULE, "templates": {"en": {"content": "Hi {{ properties.name "}}}
    r = await api.post("/v2.1/automations", headers=h, json=broken)
    assert r.status_code == 422, r.text
    assert error_codes(assert_envelope(r)) == [("INVALID_TEMPLATE", "templates.en.content")]
    unknown = {**RULE, "templates": {"en": {"content": "Hi {{ user.name }}"}}}
    r = await api.post("/v2.1/automations", headers=h, json=unknown)
    assert error_codes(assert_envelope(r)) == [("INVALID_TEMPLATE", "templates.en.content")]
    # A 30-character title is fine with a pinned value, too long for iOS in the worst case.
    long_title = {**RULE, "templates": {"en": {"title": "Your order {{ properties.orderId }}",
                                               "content": "x"}},
                  "placeholderMaxChars": {}}
    r = await api.post("/v2.1/automations", headers=h, json=long_title)
    assert r.status_code == 422 and ("TOO_LONG", "templates.en.title") in error_codes(r.json())
    pinned = {**long_title, "conditions": {"property": "orderId", "op": "in",
                                           "value": ["A1", "B22"]}}
    r = await api.post("/v2.1/automations", headers=h, json=pinned)
    assert r.status_code == 201, r.text
    huge = {**RULE, "data": {"blob": "{{ properties.orderId }}"},
            "placeholderMaxChars": {"properties.orderId": 1200}}
    r = await api.post("/v2.1/automations", headers=h, json=huge)
    assert ("PAYLOAD_TOO_LARGE", "data") in error_codes(assert_envelope(r)), r.text


async def test_a_missing_property_fails_with_template_error(
        api: httpx.AsyncClient, make_app: Any) -> None:
    app = make_app("auto")
    h = app.headers()
    rule = assert_envelope(await api.post("/v2.1/automations", headers=h, json=RULE))["data"][0]
    user = "u-" + secrets.token_hex(4)
    token = await _device(api, h, user, "en")
    event = {"eventId": secrets.token_hex(8), "name": "order.shipped", "userId": user,
             "properties": {"orderId": "A1"}}  # no carrier
    (fired,) = assert_envelope(await api.post("/v2.1/events", headers=h, json=event)
                               )["data"][0]["rules"]
    assert fired["fired"] is False and fired["reason"] == "template_error"
    assert "carrier" in fired["messages"][0]["detail"]
    found = assert_envelope(await api.get("/v2.1/push", headers=h, params={
        "source": "automation", "sourceRef": rule["ruleId"]}))["data"]
    assert [(d["deviceToken"], d["status"], d["reason"]) for d in found] == [
        (token, "failed", "template_error")]


async def test_an_event_id_answers_once_also_concurrently(
        api: httpx.AsyncClient, make_app: Any, db: psycopg.Connection[Any]) -> None:
    app = make_app("auto")
    h = app.headers()
    assert (await api.post("/v2.1/automations", headers=h, json=RULE)).status_code == 201
    user = "u-" + secrets.token_hex(4)
    await _device(api, h, user, "en")
    event = {"eventId": secrets.token_hex(8), "name": "order.shipped", "userId": user,
             "properties": {"orderId": "A1", "carrier": "UPS"}}
    first, second = await asyncio.gather(*(api.post("/v2.1/events", headers=h, json=event)
                                           for _ in range(2)))
    third = await api.post("/v2.1/events", headers=h, json=[event, event])
    answers = [assert_envelope(r)["data"] for r in (first, second, third)]
    assert answers[0] == answers[1] and answers[2] == answers[0] * 2
    count = db.execute("SELECT count(*) FROM messages WHERE app_id = %s", (app.app_id,)
                       ).fetchone()
    assert count == (1,)


async def test_bad_events_are_refused_whole(api: httpx.AsyncClient, make_app: Any) -> None:
    h = make_app("auto").headers()
    r = await api.post("/v2.1/events", headers=h, json=[
        {"eventId": "a", "name": "x"}, {"eventId": "", "name": "bad name!"}])
    assert r.status_code == 422
    assert {p for _, p in error_codes(assert_envelope(r))} == {"[1].eventId", "[1].name"}
    r = await api.post("/v2.1/events", headers=h, json=[])
    assert error_codes(assert_envelope(r)) == [("REQUIRED", "body")]


async def test_event_tokens_with_a_dead_device_send_to_the_others(
        api: httpx.AsyncClient, make_app: Any, db: psycopg.Connection[Any]) -> None:
    app = make_app("auto")
    h = app.headers()
    plain = {**RULE, "templates": {"en": {"content": "hello"}}}
    assert (await api.post("/v2.1/automations", headers=h, json=plain)).status_code == 201
    dead, alive = await _device(api, h, "u", "en"), ios_token()
    db.execute("UPDATE devices SET invalidated_at = now() + interval '1 s', invalid_reason ="
               " 'unregistered' WHERE app_id = %s AND token = %s", (app.app_id, dead))
    event = {"eventId": secrets.token_hex(8), "name": "order.shipped",
             "deviceTokens": [dead, alive], "properties": {"orderId": "A1"}}
    (fired,) = assert_envelope(await api.post("/v2.1/events", headers=h, json=event)
                               )["data"][0]["rules"]
    assert [(m["status"], m["dispatches"]) for m in fired["messages"]] == [("queued", 1)]
    tokens = db.execute("SELECT device_token FROM dispatches WHERE app_id = %s",
                        (app.app_id,)).fetchall()
    assert tokens == [(alive,)]
