"""The checks every panel handler runs before its own code, as decorators, so no page can forget
one (docs/panel.md, Security):

- ``page(role)`` (GET of an app's page): a signed-in viewer (else to the sign-in page), a member
  of the app named in the URL (else 404, whether or not the app exists: another app's URL tells
  nothing), with at least ``role`` (else 403). ``app_scope`` is that check alone.
- ``action(role)`` (POST): the same, after the form's CSRF token was checked against the
  session's (synchronizer token; missing or wrong is 403), so a page of another site cannot post
  for a signed-in viewer. ``viewer_action`` is the same for a POST of no app (sign-out).
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Awaitable, Callable

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from domain.users.store import Role, allows
from producer.panel.viewer import AppPage, Viewer, current_viewer, on_app
from producer.state import get_state

MAX_FORM_FILES = 4
MAX_FORM_FIELDS = 64

PageHandler = Callable[[Request, AppPage], Awaitable[Response]]
ActionHandler = Callable[[Request, AppPage, FormData], Awaitable[Response]]
ViewerAction = Callable[[Request, Viewer, FormData], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


class PanelError(Exception):
    """Answered as the panel's error page with this status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class SignInRequired(Exception):
    """Answered by a redirect to the sign-in page, back to ``next`` afterwards."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def see_other(url: str) -> Response:
    return RedirectResponse(url, status_code=303)


async def require_viewer(request: Request) -> Viewer:
    viewer = await current_viewer(request)
    if viewer is None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(path)
    return viewer


def scoped(viewer: Viewer, app_key: str, role: Role) -> AppPage:
    """The viewer on this app: 404 unless a member, 403 when their role is below ``role``."""
    membership = next((m for m in viewer.memberships if m.app_key == app_key), None)
    if membership is None:
        raise PanelError(404, "There is no such app, or you are not one of its users.")
    if not allows(membership.role, role):
        raise PanelError(403, f"Your role in this app ({membership.role}) does not allow this.")
    return on_app(viewer, membership)


async def app_scope(request: Request, role: Role) -> AppPage:
    """The scoping check of a page: the request's viewer on the app of the URL's
    ``{app_key}``, with at least ``role``."""
    return scoped(await require_viewer(request), str(request.path_params["app_key"]), role)


async def checked_form(request: Request, viewer: Viewer, max_bytes: int | None = None
                       ) -> FormData:
    """The POSTed form, once its CSRF token matched the session's. ``max_bytes`` raises the
    bound of the whole form (the body size of the API by default) for a form that carries a
    large file; its text fields stay bound by the API's body size."""
    field_limit = get_state(request).settings.max_body_bytes
    limit = max_bytes or field_limit
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PanelError(413, f"The form is larger than {limit} bytes.")
    form = await request.form(max_files=MAX_FORM_FILES, max_fields=MAX_FORM_FIELDS,
                              max_part_size=field_limit)
    token = form.get("csrf_token")
    if not isinstance(token, str) or not hmac.compare_digest(token.encode(),
                                                             viewer.csrf_token.encode()):
        raise PanelError(403, "The form's security token is missing or out of date: reload "
                              "the page and try again.")
    return form


def page(role: Role) -> Callable[[PageHandler], Endpoint]:
    def wrap(handler: PageHandler) -> Endpoint:
        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            return await handler(request, await app_scope(request, role))
        return endpoint
    return wrap


async def _poster(request: Request) -> Viewer:
    viewer = await current_viewer(request)
    if viewer is None:
        raise PanelError(403, "You are signed out: sign in again, then repeat the action.")
    return viewer


def action(role: Role, *, max_bytes: int | None = None
           ) -> Callable[[ActionHandler], Endpoint]:
    def wrap(handler: ActionHandler) -> Endpoint:
        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            viewer = await _poster(request)
            form = await checked_form(request, viewer, max_bytes)
            ctx = scoped(viewer, str(request.path_params["app_key"]), role)
            return await handler(request, ctx, form)
        return endpoint
    return wrap


def viewer_action(handler: ViewerAction) -> Endpoint:
    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        viewer = await _poster(request)
        return await handler(request, viewer, await checked_form(request, viewer))
    return endpoint
