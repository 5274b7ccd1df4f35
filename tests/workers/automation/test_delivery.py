"""Automation end to end: an event fires a rule, the push is rendered in each device's language
(with the fallback chain) and delivered by a real send worker through the sandbox gateways; a
delayed send is released by the release job (``workers.automation.release``)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

import psycopg

from domain.automation import rules
from domain.automation.cache import RuleCache
from domain.automation.events import EventBody
from domain.automation.fire import fire
from domain.automation.model import RuleBody
from domain.automation.sending import App
from domain.devices import registry
from domain.messages.standalone import standalone_outlet
from sandbox.testing import SandboxProcess
from shared.payload import Limits
from shared.settings import get_settings
from workers.automation.release import release
from workers.delivery.testing import WorkerProcess, apns_token, fcm_token, wait_for

RULE = {
    "name": "shipped", "event": "order.shipped", "defaultLanguage": "en",
    "templates": {"en": {"title": "Order {{ properties.orderId }}", "content": "On its way"},
                  "pt": {"title": "Pedido {{ properties.orderId }}", "content": "A caminho"},
                  "pt-BR": {"title": "Pedido {{ properties.orderId }}",
                            "content": "Saiu para entrega"}},
    "collapseKey": "order-{{ properties.orderId }}",
    "placeholderMaxChars": {"properties.orderId": 10},
}


async def _setup(app_id: int, rule: dict[str, Any], devices: list[tuple[str, str, str | None]]
                 ) -> Any:
    async with standalone_outlet(get_settings()) as outlet, outlet.pool.connection() as conn:
        await rules.create(conn, app_id, RuleBody.model_validate(rule))
        for token, platform, language in devices:
            await registry.register(conn, app_id, registry.Registration(
                token, platform, "buyer", language))  # type: ignore[arg-type]


async def _event(app_id: int, event: dict[str, Any]) -> dict[str, Any]:
    async with standalone_outlet(get_settings()) as outlet:
        (answer,) = await fire(outlet, App(app_id, Limits()), [EventBody.model_validate(event)],
                               cache=RuleCache(), request_id="test", now=time.time())
    return answer


async def test_an_event_is_delivered_in_each_devices_language(
        new_app: Callable[..., int], sandbox: SandboxProcess,
        module_worker: WorkerProcess) -> None:
    app_id = new_app()
    br, pt_pt, de, android_pt = apns_token(), apns_token(), apns_token(), fcm_token()
    await _setup(app_id, RULE, [(br, "ios", "pt-BR"), (pt_pt, "ios", "pt-PT"), (de, "ios", "de"),
                                (android_pt, "android", "pt")])
    answer = await _event(app_id, {"eventId": secrets.token_hex(8), "name": "order.shipped",
                                   "userId": "buyer", "properties": {"orderId": "A17"}})
    assert answer["rules"][0]["fired"] is True

    def alert(token: str) -> Any:
        found = sandbox.requests("apns", token=token)
        return found[0]["payload"]["aps"]["alert"] if found else None

    wait_for(lambda: all(alert(t) for t in (br, pt_pt, de)) and
             sandbox.requests("fcm", token=android_pt), 30, what="the four pushes")
    assert alert(br) == {"title": "Pedido A17", "body": "Saiu para entrega"}
    assert alert(pt_pt) == {"title": "Pedido A17", "body": "A caminho"}  # pt-PT -> pt
    assert alert(de) == {"title": "Order A17", "body": "On its way"}  # de -> default
    (fcm,) = sandbox.requests("fcm", token=android_pt)
    notification = fcm["payload"]["message"]["notification"]
    assert (notification["title"], notification["body"]) == ("Pedido A17", "A caminho")
    assert sandbox.requests("apns", token=br)[0]["headers"]["apns-collapse-id"] == "order-A17"


async def test_a_delayed_send_is_released_by_the_job_and_delivered(
        new_app: Callable[..., int], sandbox: SandboxProcess, delivery_db: psycopg.Connection[Any],
        module_worker: WorkerProcess) -> None:
    app_id = new_app()
    token = apns_token()
    await _setup(app_id, {**RULE, "delaySeconds": 1}, [(token, "ios", "en")])
    answer = await _event(app_id, {"eventId": secrets.token_hex(8), "name": "order.shipped",
                                   "userId": "buyer", "properties": {"orderId": "B2"}})
    assert answer["rules"][0]["scheduled"][0]["why"] == "delay"
    assert await release(get_settings()) == 0 or not sandbox.requests("apns", token=token)
    wait_for(lambda: delivery_db.execute(
        "SELECT 1 FROM automation_pending WHERE app_id = %s AND due_at <= now()", (app_id,)
    ).fetchone(), 5, what="the send to be due")
    assert await release(get_settings()) >= 1
    wait_for(lambda: sandbox.requests("apns", token=token), 30, what="the delayed push")
    assert sandbox.requests("apns", token=token)[0]["payload"]["aps"]["alert"]["title"] == \
        "Order B2"
