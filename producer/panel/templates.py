"""Jinja2 templates of the panel, autoescaped (every value is HTML-escaped unless a template
marks it safe, which none does), and the one ``render`` every page answers with."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from producer.panel.nav import NAV
from producer.panel.viewer import Viewer

if TYPE_CHECKING:
    from jinja2 import Environment


def when(at: datetime | None) -> str:
    """A time as the panel shows it: UTC, to the second."""
    return at.strftime("%Y-%m-%d %H:%M:%S UTC") if at is not None else "—"


@functools.lru_cache(maxsize=1)
def environment() -> Environment:
    # Imported on the first page, not at start-up: every API process imports this module, and
    # most of them (the intake's) never render a page.
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(loader=PackageLoader("producer.panel", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["when"] = when
    return env


def render(request: Request, template: str, viewer: Viewer | None,
           values: Mapping[str, Any] | None = None, *, status: int = 200) -> HTMLResponse:
    """The page ``template`` for ``viewer`` (None on the sign-in and error pages). ``viewer``
    may be an ``AppPage``: the layout then shows that app's navigation."""
    csrf = viewer.csrf_token if viewer is not None else ""

    def csrf_field() -> Markup:
        return Markup('<input type="hidden" name="csrf_token" value="{}">').format(escape(csrf))

    context = {"request": request, "viewer": viewer, "page": viewer if _is_app_page(viewer)
               else None, "csrf_field": csrf_field, "nav": NAV, **(values or {})}
    html = environment().get_template(template).render(context)
    return HTMLResponse(html, status_code=status)


def _is_app_page(viewer: Viewer | None) -> bool:
    return viewer is not None and hasattr(viewer, "app_key")
