"""Who is looking: the signed-in panel user of a request (from the session cookie), the apps
they belong to, and, on an app's pages, their membership of that app (``AppPage``)."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from domain.users import sessions
from domain.users import store as users
from producer.state import get_state

SESSION_COOKIE = "pf_session"
_SCOPE_KEY = "pushflow.panel.viewer"
_ABSENT = object()


@dataclass(frozen=True)
class Viewer:
    user_id: int
    email: str
    csrf_token: str  # the session's synchronizer token, in every form
    memberships: tuple[users.Membership, ...]  # the app switcher


@dataclass(frozen=True)
class AppPage(Viewer):
    """A viewer on one app's pages: the membership the scoping check found."""

    membership: users.Membership

    @property
    def app_id(self) -> int:
        return self.membership.app_id

    @property
    def app_key(self) -> str:
        return self.membership.app_key

    @property
    def app_name(self) -> str:
        return self.membership.app_name

    @property
    def role(self) -> users.Role:
        return self.membership.role

    def can(self, needed: users.Role) -> bool:
        """Whether the viewer's role allows what needs ``needed`` (templates show a button
        only when it does; the action checks again)."""
        return users.allows(self.role, needed)

    def url(self, suffix: str = "") -> str:
        return f"/panel/apps/{self.app_key}/{suffix}"


async def current_viewer(request: Request) -> Viewer | None:
    """The request's signed-in viewer, or None; looked up once per request."""
    cached = request.scope.get(_SCOPE_KEY, _ABSENT)
    if cached is not _ABSENT:
        return cached  # type: ignore[no-any-return]
    viewer: Viewer | None = None
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id and len(session_id) <= 128:
        async with get_state(request).pool.connection() as conn:
            session = await sessions.find(conn, session_id)
            if session is not None:
                apps = await users.memberships(conn, session.user_id)
                viewer = Viewer(session.user_id, session.email, session.csrf_token,
                                tuple(apps))
    request.scope[_SCOPE_KEY] = viewer
    return viewer


def on_app(viewer: Viewer, membership: users.Membership) -> AppPage:
    return AppPage(viewer.user_id, viewer.email, viewer.csrf_token, viewer.memberships,
                   membership)
