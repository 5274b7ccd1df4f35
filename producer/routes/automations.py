"""Automation rules (scope ``automations:write``): ``/v2.1/automations`` create, list, read,
replace, enable/disable, delete; the app's settings (the per-user daily cap); the dry run of a
draft rule. What a rule means: ``domain.automation.model``; the check at save (syntax,
placeholders, worst-case size): ``domain.automation.render.check_rule``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from psycopg import AsyncConnection
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from domain.automation import rules
from domain.automation.dryrun import MAX_DAYS, dry_run
from domain.automation.model import RuleBody
from domain.automation.render import check_rule
from producer import openapi as oa
from producer.auth import Caller, authenticate
from producer.body import read_model
from producer.envelope import ApiError, field_items, respond
from producer.history import QueryParams, iso, paging_params
from producer.state import get_state

SCOPE = "automations:write"


class DryRunBody(BaseModel):
    """A draft rule and how many days of stored events to replay against it."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    rule: RuleBody
    days: int = Field(7, ge=1, le=MAX_DAYS)


class SettingsBody(BaseModel):
    """The app's automation settings (the whole of them)."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    daily_cap_per_user: int | None = Field(None, alias="dailyCapPerUser", ge=1, le=1000,
                                           description="At most this many automated pushes "
                                                       "per user and UTC day, across rules.")


def _view(stored: rules.StoredRule, warnings: list[str] | None = None) -> dict[str, Any]:
    item = {"ruleId": stored.id, **stored.rule.model_dump(mode="json", by_alias=True,
                                                          exclude_none=True),
            "enabled": stored.enabled, "createdAt": iso(stored.created_at),
            "updatedAt": iso(stored.updated_at)}
    if warnings is not None:
        item["warnings"] = warnings
    return item


def _not_found(request: Request) -> ApiError:
    return ApiError(404, "NOT_FOUND", "No such automation rule for this app",
                    parameter="rule_id", value=request.path_params.get("rule_id"),
                    source="path")


def _check(rule: RuleBody, caller: Caller) -> list[str]:
    """The rule's warnings; a rule that could break the app's limits is refused (422)."""
    errors, warnings = check_rule(rule, caller.limits, time.time())
    if errors:
        raise ApiError.validation(field_items(errors))
    return warnings


Store = Callable[[AsyncConnection[Any], RuleBody], Awaitable[rules.StoredRule | None]]


async def _save(request: Request, caller: Caller, status: int, store: Store) -> Response:
    """Create and replace alike: read and check the body, store it, answer the stored rule
    with the check's warnings (404 when there is no rule to replace)."""
    rule = await read_model(request, RuleBody)
    warnings = _check(rule, caller)
    async with get_state(request).pool.connection() as conn:
        stored = await store(conn, rule)
    if stored is None:
        raise _not_found(request)
    return respond(request, status, [_view(stored, warnings)])


async def create_rule(request: Request) -> Response:
    caller = await authenticate(request, SCOPE)
    return await _save(request, caller, 201,
                       lambda conn, rule: rules.create(conn, caller.app_id, rule))


async def replace_rule(request: Request) -> Response:
    caller = await authenticate(request, SCOPE)
    rule_id = request.path_params["rule_id"]
    async with get_state(request).pool.connection() as conn:
        found = await rules.get(conn, caller.app_id, rule_id)
    if found is None:  # another app's rule is not found, whatever the body says
        raise _not_found(request)
    return await _save(request, caller, 200,
                       lambda conn, rule: rules.replace(conn, caller.app_id, rule_id, rule))


async def get_rule(request: Request) -> Response:
    caller = await authenticate(request, SCOPE)
    async with get_state(request).pool.connection() as conn:
        stored = await rules.get(conn, caller.app_id, request.path_params["rule_id"])
    if stored is None:
        raise _not_found(request)
    return respond(request, 200, [_view(stored)])


async def delete_rule(request: Request) -> Response:
    caller = await authenticate(request, SCOPE)
    async with get_state(request).pool.connection() as conn:
        stored = await rules.delete(conn, caller.app_id, request.path_params["rule_id"])
    if stored is None:
        raise _not_found(request)
    return respond(request, 200, [_view(stored)])


async def _enable(request: Request, enabled: bool) -> Response:
    caller = await authenticate(request, SCOPE)
    async with get_state(request).pool.connection() as conn:
        stored = await rules.set_enabled(conn, caller.app_id, request.path_params["rule_id"],
                                         enabled)
    if stored is None:
        raise _not_found(request)
    return respond(request, 200, [_view(stored)])


async def enable_rule(request: Request) -> Response:
    return await _enable(request, True)


async def disable_rule(request: Request) -> Response:
    return await _enable(request, False)


async def list_rules(request: Request) -> Response:
    caller = await authenticate(request, SCOPE)
    q = QueryParams(request.query_params)
    offset, limit = q.paging()
    if q.errors:
        raise ApiError.validation(q.errors)
    async with get_state(request).pool.connection() as conn:
        found = await rules.list_rules(conn, caller.app_id, offset=offset, limit=limit)
    return respond(request, 200, [_view(r) for r in found])


async def dry_run_rule(request: Request) -> Response:
    caller = await authenticate(request, SCOPE)
    body = await read_model(request, DryRunBody)
    warnings = _check(body.rule, caller)
    async with get_state(request).pool.connection() as conn:
        result = await dry_run(conn, caller.app_id, body.rule, body.days, time.time())
    return respond(request, 200, [{**result.view(), "warnings": warnings}])


async def get_settings(request: Request) -> Response:
    caller = await authenticate(request, SCOPE)
    async with get_state(request).pool.connection() as conn:
        cap = await rules.daily_cap(conn, caller.app_id)
    return respond(request, 200, [{"dailyCapPerUser": cap}])


async def put_settings(request: Request) -> Response:
    caller = await authenticate(request, SCOPE)
    body = await read_model(request, SettingsBody)
    async with get_state(request).pool.connection() as conn:
        await rules.set_daily_cap(conn, caller.app_id, body.daily_cap_per_user)
    return respond(request, 200, [{"dailyCapPerUser": body.daily_cap_per_user}])


routes: list[BaseRoute] = [
    Route("/v2.1/automations/settings", get_settings, methods=["GET"]),
    Route("/v2.1/automations/settings", put_settings, methods=["PUT"]),
    Route("/v2.1/automations/dry-run", dry_run_rule, methods=["POST"]),
    Route("/v2.1/automations", create_rule, methods=["POST"]),
    Route("/v2.1/automations", list_rules, methods=["GET"]),
    Route("/v2.1/automations/{rule_id}", get_rule, methods=["GET"]),
    Route("/v2.1/automations/{rule_id}", replace_rule, methods=["PUT"]),
    Route("/v2.1/automations/{rule_id}", delete_rule, methods=["DELETE"]),
    Route("/v2.1/automations/{rule_id}/enable", enable_rule, methods=["POST"]),
    Route("/v2.1/automations/{rule_id}/disable", disable_rule, methods=["POST"]),
]

_STR = {"type": "string"}
_RULE: dict[str, Any] = {"type": "object", "properties": {
    "ruleId": _STR, "name": _STR, "event": _STR, "enabled": {"type": "boolean"},
    "createdAt": _STR, "updatedAt": _STR,
    "warnings": {"type": "array", "items": _STR}}}
_DRY_RUN = {"type": "object", "properties": {
    name: {"type": "integer"} for name in (
        "days", "events", "matched", "fired", "pushes", "users", "cooldownHolds", "capHolds",
        "quietHourHolds", "noDevices", "templateErrors")}}
_SETTINGS = {"type": "object", "properties": {"dailyCapPerUser": {"type": ["integer", "null"]}}}
_ID = [oa.path_param("rule_id", "the `ruleId` the rule was created with")]
_SAVE = ("Checked before it is stored: template syntax, the placeholders the conditions "
         "guarantee (`warnings` lists the others: an event without one fails with "
         "`template_error`), and the worst-case rendered push against the app's limits "
         "(titles per platform, content, the payload size); a rule that could break one is "
         "refused (422).")
openapi: dict[str, Any] = {"paths": {
    "/v2.1/automations": {
        "post": oa.operation("Create an automation rule", scope=SCOPE, ok=201, ok_schema=_RULE,
                             errors=(400, 401, 403, 413, 422),
                             body=oa.body_schema(RuleBody), description=_SAVE),
        "get": oa.operation("List automation rules", scope=SCOPE, ok_schema=_RULE,
                            errors=(401, 403, 422), parameters=[
                                *paging_params("rules")],
                            description="Newest first."),
    },
    "/v2.1/automations/{rule_id}": {
        "get": oa.operation("One automation rule", scope=SCOPE, ok_schema=_RULE,
                            errors=(401, 403, 404), parameters=_ID),
        "put": oa.operation("Replace an automation rule", scope=SCOPE, ok_schema=_RULE,
                            errors=(400, 401, 403, 404, 413, 422), parameters=_ID,
                            body=oa.body_schema(RuleBody), description=_SAVE),
        "delete": oa.operation("Delete an automation rule", scope=SCOPE, ok_schema=_RULE,
                               errors=(401, 403, 404), parameters=_ID,
                               description="Its pending sends are still released."),
    },
    "/v2.1/automations/{rule_id}/enable": {"post": oa.operation(
        "Enable a rule", scope=SCOPE, ok_schema=_RULE, errors=(401, 403, 404),
        parameters=_ID)},
    "/v2.1/automations/{rule_id}/disable": {"post": oa.operation(
        "Disable a rule", scope=SCOPE, ok_schema=_RULE, errors=(401, 403, 404),
        parameters=_ID, description="Events no longer fire it; its pending sends are still "
                                    "released.")},
    "/v2.1/automations/dry-run": {"post": oa.operation(
        "Replay stored events against a draft rule", scope=SCOPE, ok_schema=_DRY_RUN,
        errors=(400, 401, 403, 413, 422), body=oa.body_schema(DryRunBody),
        description="Nothing is stored or sent: how many pushes the draft would have sent over "
                    "the last `days` days of stored events, to how many users, and how many "
                    "cooldown, cap and quiet-hour holds.")},
    "/v2.1/automations/settings": {
        "get": oa.operation("Automation settings", scope=SCOPE, ok_schema=_SETTINGS,
                            errors=(401, 403)),
        "put": oa.operation("Set the automation settings", scope=SCOPE, ok_schema=_SETTINGS,
                            errors=(400, 401, 403, 413, 422),
                            body=oa.body_schema(SettingsBody)),
    },
}}
