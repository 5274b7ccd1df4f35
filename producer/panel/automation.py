"""The automation rules pages (``/panel/apps/{app_key}/automations``): the list (name, event,
enabled, conditions, last fired), the form to create or edit a rule, and a rule's page with its
dry run over the stored events and, after it, the button that enables the rule. All through
``domain.automation`` (the same store, check at save and dry run as ``/v2.1/automations``).
Developers and admins change; support reads. A rule made in the panel starts disabled, so its
dry run is seen before it fires."""

from __future__ import annotations

import time

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from domain.automation import rules
from domain.automation.dryrun import MAX_DAYS, dry_run
from domain.automation.render import check_rule
from domain.keys.sender import app_sender
from producer.panel.automation_form import (
    CONDITION_ROWS,
    LANGUAGE_ROWS,
    OPS,
    RuleForm,
    conditions_summary,
    form_holds,
    parse_rule,
    rule_values,
)
from producer.panel.guard import PanelError, action, page, see_other
from producer.panel.templates import render
from producer.panel.viewer import AppPage
from producer.state import get_state

LIST_ROWS = 200
DEFAULT_DAYS = 7
NOT_FOUND = "There is no such automation rule in this app."


async def _editable(request: Request, ctx: AppPage) -> rules.StoredRule:
    stored = await _rule(request, ctx)
    if not form_holds(stored.rule):
        raise PanelError(409, "This rule has more than the form holds (nested condition groups, "
                              f"more than {CONDITION_ROWS} conditions or {LANGUAGE_ROWS} "
                              "languages, a sound): change it through /v2.1/automations.")
    return stored


async def _rule(request: Request, ctx: AppPage) -> rules.StoredRule:
    async with get_state(request).pool.connection() as conn:
        stored = await rules.get(conn, ctx.app_id, str(request.path_params["rule_id"]))
    if stored is None:
        raise PanelError(404, NOT_FOUND)
    return stored


@page("support")
async def rules_page(request: Request, ctx: AppPage) -> Response:
    async with get_state(request).pool.connection() as conn:
        found = await rules.list_rules(conn, ctx.app_id, offset=0, limit=LIST_ROWS)
        fired = await rules.last_fired(conn, ctx.app_id, [r.id for r in found])
    return render(request, "automations.html", ctx, {
        "rules": [(r, conditions_summary(r.rule), fired.get(r.id)) for r in found],
        "notice": request.query_params.get("notice", "")[:200], "error": ""})


def _form(request: Request, ctx: AppPage, form: RuleForm, *, rule_id: str | None,
          warnings: list[str] | None = None, status: int = 200) -> Response:
    return render(request, "automation_form.html", ctx, {
        "values": form.values, "errors": form.errors, "warnings": warnings or [],
        "rule_id": rule_id, "ops": OPS, "condition_rows": range(CONDITION_ROWS),
        "language_rows": range(LANGUAGE_ROWS)}, status=status)


@page("developer")
async def new_rule(request: Request, ctx: AppPage) -> Response:
    return _form(request, ctx, RuleForm(rule_values(None)), rule_id=None)


@page("developer")
async def edit_rule(request: Request, ctx: AppPage) -> Response:
    stored = await _editable(request, ctx)
    return _form(request, ctx, RuleForm(rule_values(stored.rule)), rule_id=stored.id)


async def _checked(request: Request, ctx: AppPage, form: FormData, *, enabled: bool,
                   rule_id: str | None) -> tuple[RuleForm, list[str], Response | None]:
    """The form as a rule passed by the check at save, or the form page again with why not."""
    parsed = parse_rule(form, enabled=enabled)
    if parsed.rule is None or parsed.errors:
        return parsed, [], _form(request, ctx, parsed, rule_id=rule_id, status=422)
    state = get_state(request)
    async with state.pool.connection() as conn:
        sender = await app_sender(conn, ctx.app_id, state.settings)
    errors, warnings = check_rule(parsed.rule, sender.limits, time.time())
    if errors:
        parsed.errors = [e.message for e in errors]
        return parsed, warnings, _form(request, ctx, parsed, rule_id=rule_id, status=422)
    return parsed, warnings, None


def _saved(ctx: AppPage, rule_id: str) -> Response:
    # The rule's page shows the check's warnings again (it runs the check on every view).
    return see_other(ctx.url(f"automations/{rule_id}?saved=1"))


@action("developer")
async def create_rule(request: Request, ctx: AppPage, form: FormData) -> Response:
    parsed, _warnings, refused = await _checked(request, ctx, form, enabled=False, rule_id=None)
    if refused is not None or parsed.rule is None:
        return refused or _form(request, ctx, parsed, rule_id=None, status=422)
    async with get_state(request).pool.connection() as conn:
        stored = await rules.create(conn, ctx.app_id, parsed.rule)
    return _saved(ctx, stored.id)


@action("developer")
async def save_rule(request: Request, ctx: AppPage, form: FormData) -> Response:
    current = await _editable(request, ctx)
    parsed, _warnings, refused = await _checked(request, ctx, form, enabled=current.enabled,
                                               rule_id=current.id)
    if refused is not None or parsed.rule is None:
        return refused or _form(request, ctx, parsed, rule_id=current.id, status=422)
    async with get_state(request).pool.connection() as conn:
        stored = await rules.replace(conn, ctx.app_id, current.id, parsed.rule)
    if stored is None:
        raise PanelError(404, NOT_FOUND)
    return _saved(ctx, stored.id)


def _days(request: Request) -> int:
    raw = request.query_params.get("days", "")
    if not raw:
        return DEFAULT_DAYS
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_DAYS:
        raise PanelError(422, f"'days' must be a whole number from 1 to {MAX_DAYS}.")
    return int(raw)


@page("support")
async def rule_page(request: Request, ctx: AppPage) -> Response:
    stored = await _rule(request, ctx)
    days = _days(request)
    state = get_state(request)
    async with state.pool.connection() as conn:
        result = await dry_run(conn, ctx.app_id, stored.rule, days, time.time())
        sender = await app_sender(conn, ctx.app_id, state.settings)
        fired = await rules.last_fired(conn, ctx.app_id, [stored.id])
    _errors, warnings = check_rule(stored.rule, sender.limits, time.time())
    return render(request, "automation_rule.html", ctx, {
        "stored": stored, "rule": stored.rule, "summary": conditions_summary(stored.rule),
        "dry": result, "days": days, "max_days": MAX_DAYS, "warnings": warnings,
        "last_fired": fired.get(stored.id),
        "notice": "Rule saved." if request.query_params.get("saved") else "", "error": ""})


async def _enable(request: Request, ctx: AppPage, enabled: bool) -> Response:
    async with get_state(request).pool.connection() as conn:
        stored = await rules.set_enabled(conn, ctx.app_id, str(request.path_params["rule_id"]),
                                         enabled)
    if stored is None:
        raise PanelError(404, NOT_FOUND)
    return see_other(ctx.url(f"automations/{stored.id}"))


@action("developer")
async def enable_rule(request: Request, ctx: AppPage, form: FormData) -> Response:
    return await _enable(request, ctx, True)


@action("developer")
async def disable_rule(request: Request, ctx: AppPage, form: FormData) -> Response:
    return await _enable(request, ctx, False)


@action("developer")
async def delete_rule(request: Request, ctx: AppPage, form: FormData) -> Response:
    async with get_state(request).pool.connection() as conn:
        stored = await rules.delete(conn, ctx.app_id, str(request.path_params["rule_id"]))
    if stored is None:
        raise PanelError(404, NOT_FOUND)
    return see_other(ctx.url("automations?notice=Rule+deleted."))


routes: list[BaseRoute] = [
    Route("/apps/{app_key}/automations", rules_page, methods=["GET"]),
    Route("/apps/{app_key}/automations/new", new_rule, methods=["GET"]),
    Route("/apps/{app_key}/automations/new", create_rule, methods=["POST"]),
    Route("/apps/{app_key}/automations/{rule_id}", rule_page, methods=["GET"]),
    Route("/apps/{app_key}/automations/{rule_id}/edit", edit_rule, methods=["GET"]),
    Route("/apps/{app_key}/automations/{rule_id}/edit", save_rule, methods=["POST"]),
    Route("/apps/{app_key}/automations/{rule_id}/enable", enable_rule, methods=["POST"]),
    Route("/apps/{app_key}/automations/{rule_id}/disable", disable_rule, methods=["POST"]),
    Route("/apps/{app_key}/automations/{rule_id}/delete", delete_rule, methods=["POST"]),
]
