"""``/v2.1/limits``: the app's own limits and its send rate per gateway and lane, for scripts
(scope ``admin``). The panel's Limits page does the same (``producer/panel/limits.py``).

- ``GET``: the app's overrides (``limits``) and the deployment's defaults; its send rates
  (``sendRates``: ``null`` where the lane's default applies) and the rates in force
  (``effectiveSendRates``), per gateway (apns, fcm) and lane (tx, bulk), sends per second, 0
  meaning unlimited.
- ``PUT`` ``{"limits"?: {...}, "sendRates"?: {"apns"?: {"tx"?, "bulk"?}, "fcm"?: {...}}}``: a
  section given replaces the app's (a name or lane left out, or ``null``, goes back to its
  default); a section left out is kept. Each value is checked by the rule of its setting
  (``domain.keys.limits``, ``domain.keys.send_rates``); the answer is the ``GET``'s.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from domain.keys import limits, send_rates
from producer import openapi as oa
from producer.auth import authenticate
from producer.body import read_model
from producer.envelope import ApiError, respond
from producer.state import get_state
from shared.settings import Settings

SCOPE = "admin"
_STRICT = ConfigDict(strict=True, extra="forbid", frozen=True)


class LaneRates(BaseModel):
    model_config = _STRICT

    tx: float | None = Field(None, description="sends/s of transactional pushes; null: default")
    bulk: float | None = Field(None, description="sends/s of campaigns; null: default")


class GatewayRates(BaseModel):
    model_config = _STRICT

    apns: LaneRates = LaneRates()
    fcm: LaneRates = LaneRates()


class LimitsBody(BaseModel):
    """``PUT /v2.1/limits``."""

    model_config = _STRICT

    limits: dict[str, float | None] | None = Field(
        None, description="Overrides by setting name (`max_content`, ...); null: the default.")
    sendRates: GatewayRates | None = None


def _refused(exc: limits.BadLimit, where: str) -> ApiError:
    return ApiError(422, "INVALID_FORMAT", str(exc), parameter=f"{where}.{exc.name}")


def _checked_limits(given: dict[str, float | None]) -> dict[str, int | float]:
    try:
        unknown = sorted(set(given) - set(limits.OVERRIDABLE))
        if unknown:
            raise limits.BadLimit(unknown[0], "not a limit an app may override (known: "
                                  + ", ".join(limits.OVERRIDABLE) + ")")
        return {name: limits.check(name, v) for name, v in given.items() if v is not None}
    except limits.BadLimit as exc:
        raise _refused(exc, "limits") from None


def _checked_rates(given: GatewayRates) -> dict[str, float]:
    own: dict[str, float] = {}
    try:
        for gateway in send_rates.GATEWAYS:
            lanes: LaneRates = getattr(given, gateway)
            for lane in send_rates.LANES:
                value = getattr(lanes, lane)
                if value is not None:
                    own[send_rates.key(gateway, lane)] = send_rates.check_rate(
                        gateway, lane, value)
    except limits.BadLimit as exc:
        raise _refused(exc, "sendRates") from None
    return own


def _by_gateway(rate: Any) -> dict[str, dict[str, float | None]]:
    return {g: {lane: rate(g, lane) for lane in send_rates.LANES} for g in send_rates.GATEWAYS}


async def _view(conn: Any, app_id: int, settings: Settings) -> dict[str, Any]:
    own = await limits.get_limits(conn, app_id)
    rates = await send_rates.get_send_rates(conn, app_id, settings)
    return {"limits": own.overrides,
            "defaults": {name: limits.default(name) for name in limits.OVERRIDABLE},
            "sendRates": _by_gateway(lambda g, lane: rates.own.get(send_rates.key(g, lane))),
            "effectiveSendRates": _by_gateway(rates.of)}


async def get_app_limits(request: Request) -> Response:
    caller = await authenticate(request, SCOPE)
    state = get_state(request)
    async with state.pool.connection() as conn:
        view = await _view(conn, caller.app_id, state.settings)
    return respond(request, 200, [view])


async def put_app_limits(request: Request) -> Response:
    caller = await authenticate(request, SCOPE)
    body = await read_model(request, LimitsBody)
    overrides = None if body.limits is None else _checked_limits(body.limits)
    own = None if body.sendRates is None else _checked_rates(body.sendRates)
    state = get_state(request)
    async with state.pool.connection() as conn:
        async with conn.transaction():
            if overrides is not None:
                await limits.set_limits(conn, caller.app_id, overrides)
            if own is not None:
                await send_rates.set_send_rates(conn, caller.app_id, own)
        view = await _view(conn, caller.app_id, state.settings)
    return respond(request, 200, [view])


routes: list[BaseRoute] = [
    Route("/v2.1/limits", get_app_limits, methods=["GET"]),
    Route("/v2.1/limits", put_app_limits, methods=["PUT"]),
]

_RATES: dict[str, Any] = {"type": "object", "properties": {
    g: {"type": "object", "properties": {lane: {"type": ["number", "null"]}
                                         for lane in send_rates.LANES}}
    for g in send_rates.GATEWAYS}}
_VIEW: dict[str, Any] = {"type": "object", "properties": {
    "limits": {"type": "object", "description": "the app's overrides by setting name"},
    "defaults": {"type": "object", "description": "the deployment's defaults"},
    "sendRates": {**_RATES, "description": "the app's own rates (sends/s; null: default)"},
    "effectiveSendRates": {**_RATES, "description": "the rates in force (0: unlimited)"}}}
openapi: dict[str, Any] = {"paths": {"/v2.1/limits": {
    "get": oa.operation("The app's limits and send rates", scope=SCOPE, ok_schema=_VIEW,
                        description="Send rates per gateway and lane (tx, bulk), sends per "
                                    "second; a campaign never goes faster than the bulk rate."),
    "put": oa.operation("Change the app's limits and send rates", scope=SCOPE, ok_schema=_VIEW,
                        errors=(400, 401, 403, 422), body=oa.body_schema(LimitsBody),
                        description="A section given replaces the app's (left out or null: "
                                    "the default); a section left out is kept."),
}}}
