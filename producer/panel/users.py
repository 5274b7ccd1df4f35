"""The Users page (``/panel/apps/{app_key}/settings/users``): who may open this app and with
which role. Everyone sees the list; only an admin adds users (a new account's generated
password is shown once), changes roles and removes users. The app keeps at least one admin."""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from domain.users import members
from domain.users import store as users
from producer.panel.guard import action, page
from producer.panel.templates import render
from producer.panel.viewer import AppPage
from producer.state import get_state

TEMPLATE = "users.html"


async def _show(request: Request, ctx: AppPage, *, status: int = 200,
                added: members.Added | None = None, notice: str = "", error: str = ""
                ) -> Response:
    async with get_state(request).pool.connection() as conn:
        found = await users.members(conn, ctx.app_id)
    return render(request, TEMPLATE, ctx, {
        "members": found, "roles": users.ROLES, "added": added, "notice": notice,
        "error": error}, status=status)


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


@page("support")
async def users_page(request: Request, ctx: AppPage) -> Response:
    return await _show(request, ctx)


@action("admin")
async def add_user(request: Request, ctx: AppPage, form: FormData) -> Response:
    try:
        role = users.check_role(_field(form, "role"))
        async with get_state(request).pool.connection() as conn:
            added = await members.add_member(conn, ctx.app_id, _field(form, "email"), role)
    except (users.InvalidEmail, users.UnknownRole, users.LastAdmin) as exc:
        return await _show(request, ctx, status=422, error=f"Not added: {exc}.")
    return await _show(request, ctx, status=201 if added.new_membership else 200, added=added)


async def _target(request: Request, ctx: AppPage, form: FormData) -> users.Member | None:
    async with get_state(request).pool.connection() as conn:
        return await users.member(conn, ctx.app_id, _field(form, "email"))


@action("admin")
async def set_role(request: Request, ctx: AppPage, form: FormData) -> Response:
    target = await _target(request, ctx, form)
    if target is None:
        return await _show(request, ctx, status=404, error="No such user in this app.")
    try:
        role = users.check_role(_field(form, "role"))
        async with get_state(request).pool.connection() as conn:
            await users.set_role(conn, ctx.app_id, target.user_id, role)
    except (users.UnknownRole, users.LastAdmin) as exc:
        return await _show(request, ctx, status=422, error=f"Role not changed: {exc}.")
    return await _show(request, ctx, notice=f"{target.email} is now {role}.")


@action("admin")
async def remove_user(request: Request, ctx: AppPage, form: FormData) -> Response:
    target = await _target(request, ctx, form)
    if target is None:
        return await _show(request, ctx, status=404, error="No such user in this app.")
    try:
        async with get_state(request).pool.connection() as conn:
            await users.remove(conn, ctx.app_id, target.user_id)
    except users.LastAdmin as exc:
        return await _show(request, ctx, status=422, error=f"Not removed: {exc}.")
    return await _show(request, ctx, notice=f"{target.email} no longer has access to this app.")


routes: list[BaseRoute] = [
    Route("/apps/{app_key}/settings/users", users_page, methods=["GET"]),
    Route("/apps/{app_key}/settings/users/add", add_user, methods=["POST"]),
    Route("/apps/{app_key}/settings/users/role", set_role, methods=["POST"]),
    Route("/apps/{app_key}/settings/users/remove", remove_user, methods=["POST"]),
]
