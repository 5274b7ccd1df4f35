"""``/v2.1/users``: the app's panel users and their roles, for scripts (scope ``admin``). The
panel's Users page does the same (``producer/panel/users.py``); docs/panel.md has the roles.

- ``GET``: the app's users (email, role, when added).
- ``POST`` ``{"email", "role", "password"?}``: give the email the role in this app, creating the
  account when new (with ``password``, else a generated one, in this answer only). An existing
  account keeps its password.
- ``PUT /v2.1/users/{email}`` ``{"role"}``: change a user's role; ``DELETE``: take them out of the
  app. 404 when the email is not a user of this app; 422 when the app would be left without an
  admin.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from domain.users import members, passwords
from domain.users import store as users
from producer import openapi as oa
from producer.auth import authenticate
from producer.body import read_model
from producer.envelope import ApiError, respond
from producer.history import iso
from producer.state import get_state
from shared.validation import refuse

SCOPE = "admin"
_STRICT = ConfigDict(strict=True, extra="forbid", frozen=True)


def _email(value: str) -> str:
    try:
        return users.normalize_email(value)
    except users.InvalidEmail as exc:
        refuse("INVALID_FORMAT", f"'email' is {exc}")


def _password(value: str) -> str:
    try:
        passwords.check_strength(value)
    except passwords.WeakPassword as exc:
        refuse("INVALID_FORMAT", str(exc))
    return value


class UserBody(BaseModel):
    """``POST /v2.1/users``."""

    model_config = _STRICT

    email: Annotated[str, AfterValidator(_email)] = Field(max_length=users.MAX_EMAIL)
    role: users.Role
    password: Annotated[str, AfterValidator(_password)] | None = Field(
        None, max_length=passwords.MAX_LENGTH,
        description=f"A new account's password (at least {passwords.MIN_LENGTH} characters); "
                    "when omitted one is generated and returned once. Ignored for an existing "
                    "account.")


class RoleBody(BaseModel):
    """``PUT /v2.1/users/{email}``."""

    model_config = _STRICT

    role: users.Role


def member_view(m: users.Member) -> dict[str, Any]:
    return {"email": m.email, "role": m.role, "addedAt": iso(m.added_at)}


def _last_admin(exc: users.LastAdmin) -> ApiError:
    return ApiError(422, "INVALID_FORMAT", str(exc), parameter="role")


async def list_users(request: Request) -> Response:
    caller = await authenticate(request, SCOPE)
    async with get_state(request).pool.connection() as conn:
        found = await users.members(conn, caller.app_id)
    return respond(request, 200, [member_view(m) for m in found])


async def add_user(request: Request) -> Response:
    caller = await authenticate(request, SCOPE)
    body = await read_model(request, UserBody)
    try:
        async with get_state(request).pool.connection() as conn:
            added = await members.add_member(conn, caller.app_id, body.email, body.role,
                                             body.password)
    except users.LastAdmin as exc:
        raise _last_admin(exc) from None
    return respond(request, 201 if added.new_membership else 200, [{
        **member_view(added.member), "created": added.created, "password": added.password}])


async def _member(request: Request, app_id: int) -> users.Member:
    email = str(request.path_params["email"])
    async with get_state(request).pool.connection() as conn:
        found = await users.member(conn, app_id, email)
    if found is None:
        raise ApiError(404, "NOT_FOUND", "No user of this app with this email",
                       parameter="email", value=email, source="path")
    return found


async def set_role(request: Request) -> Response:
    caller = await authenticate(request, SCOPE)
    found = await _member(request, caller.app_id)
    body = await read_model(request, RoleBody)
    try:
        async with get_state(request).pool.connection() as conn:
            await users.set_role(conn, caller.app_id, found.user_id, body.role)
            changed = await users.member(conn, caller.app_id, found.email)
    except users.LastAdmin as exc:
        raise _last_admin(exc) from None
    assert changed is not None
    return respond(request, 200, [member_view(changed)])


async def remove_user(request: Request) -> Response:
    caller = await authenticate(request, SCOPE)
    found = await _member(request, caller.app_id)
    try:
        async with get_state(request).pool.connection() as conn:
            removed = await users.remove(conn, caller.app_id, found.user_id)
    except users.LastAdmin as exc:
        raise _last_admin(exc) from None
    return respond(request, 200, [{"removed": removed}])


routes: list[BaseRoute] = [
    Route("/v2.1/users", list_users, methods=["GET"]),
    Route("/v2.1/users", add_user, methods=["POST"]),
    Route("/v2.1/users/{email}", set_role, methods=["PUT"]),
    Route("/v2.1/users/{email}", remove_user, methods=["DELETE"]),
]

_ROLE = {"type": "string", "enum": list(users.ROLES)}
_MEMBER: dict[str, Any] = {"type": "object", "properties": {
    "email": {"type": "string"}, "role": _ROLE,
    "addedAt": {"type": ["string", "null"], "format": "date-time"}}}
_ADDED: dict[str, Any] = {"type": "object", "properties": {
    **_MEMBER["properties"], "created": {"type": "boolean", "description": "a new account"},
    "password": {"type": ["string", "null"],
                 "description": "the generated password of a new account: shown this once"}}}
_EMAIL = [oa.path_param("email", "The user's email")]
openapi: dict[str, Any] = {"paths": {
    "/v2.1/users": {
        "get": oa.operation("The app's panel users", scope=SCOPE, ok_schema=_MEMBER),
        "post": oa.operation("Give a panel user a role in the app", scope=SCOPE, ok=(201, 200),
                             ok_schema=_ADDED, errors=(400, 401, 403, 422),
                             body=oa.body_schema(UserBody),
                             description="201 when the user is new to the app, 200 when their "
                                         "role changed."),
    },
    "/v2.1/users/{email}": {
        "put": oa.operation("Change a user's role", scope=SCOPE, ok_schema=_MEMBER,
                            errors=(400, 401, 403, 404, 422), body=oa.body_schema(RoleBody),
                            parameters=_EMAIL),
        "delete": oa.operation("Take a user out of the app", scope=SCOPE,
                               errors=(401, 403, 404, 422), parameters=_EMAIL,
                               ok_schema={"type": "object", "properties": {
                                   "removed": {"type": "boolean"}}}),
    },
}}
