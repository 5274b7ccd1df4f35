"""The new-campaign form of the panel (``/panel/apps/{app_key}/campaigns/new``, developer and
admin): its fields as the page shows and posts them, turned into the ``CampaignBody`` that
``POST /v2.1/campaigns`` validates, then created by the same ``producer.campaign_create`` as the
API. Each error is shown next to the field it is about (the body's names mapped back to the
form's), and the values typed are shown again. Lists (tags, users, languages, fallback) are
typed comma-separated; the per-language contents are one JSON object, as in the API."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from domain.keys.sender import app_sender
from producer.campaign_create import ContentRefused, create_campaign
from producer.campaign_schemas import CampaignBody
from producer.panel.guard import action, page, see_other
from producer.panel.templates import render
from producer.panel.viewer import AppPage
from producer.state import get_state
from shared.payload import FieldError
from shared.validation import validate

FIELDS = ("name", "title", "content", "languages", "fallback", "audience", "tags", "user_ids",
          "platform", "audience_languages", "per_minute", "schedule_time", "finish_by",
          "canary_percent", "canary_max_failure")
MAX_VALUE = 20_000  # the languages' JSON may hold many contents
_DECIMAL = re.compile(r"^\d+(\.\d+)?$")
# The body's parameter (or its start) -> the form's field; the longest match wins.
_FIELD_OF = {"name": "name", "content": "content", "content.title": "title",
             "languages": "languages", "fallback": "fallback", "audience": "audience",
             "audience.tags": "tags", "audience.userIds": "user_ids",
             "audience.platform": "platform", "audience.languages": "audience_languages",
             "perMinute": "per_minute", "scheduleTime": "schedule_time",
             "finishBy": "finish_by", "canary": "canary_percent",
             "canary.percent": "canary_percent", "canary.maxFailureRate": "canary_max_failure"}


@dataclass
class CampaignForm:
    values: dict[str, str]  # as typed, shown again on an error
    errors: dict[str, list[str]] = field(default_factory=dict)  # by field; "" for the form
    body: CampaignBody | None = None

    def add(self, errors: Iterable[FieldError]) -> None:
        for e in errors:
            self.errors.setdefault(field_of(e.parameter), []).append(e.message)


def field_of(parameter: str) -> str:
    """The form's field a body error is about (``audience.tags[2]`` -> ``tags``), or ''."""
    # pydantic names the chosen member of the audience union: ``audience.devices.tags``.
    parameter = re.sub(r"^audience\.(devices|upload)\b", "audience", parameter)
    best = ""
    for name in _FIELD_OF:
        if (parameter == name or parameter.startswith((f"{name}.", f"{name}["))) and \
                len(name) > len(best):
            best = name
    return _FIELD_OF.get(best, "")


def _list(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(",") if part.strip()]


def _number(form: CampaignForm, name: str, label: str, *, whole: bool) -> float | int | None:
    raw = form.values[name]
    if not raw:
        return None
    if (whole and not raw.isdigit()) or not _DECIMAL.match(raw):
        kind = "a whole number" if whole else "a number (like 0.05)"
        form.errors.setdefault(name, []).append(f"{label} must be {kind}")
        return None
    return int(raw) if whole else float(raw)


def _languages(form: CampaignForm) -> Any:
    raw = form.values["languages"]
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        form.errors.setdefault("languages", []).append(
            'Languages must be a JSON object, like {"fr": {"title": "Soldes", "content": '
            '"50 % de remise"}}')
        return None


def _audience(values: dict[str, str]) -> dict[str, Any]:
    if values["audience"] != "devices":
        return {"kind": values["audience"]}
    chosen: dict[str, Any] = {"kind": "devices", "tags": _list(values["tags"]),
                              "userIds": _list(values["user_ids"]),
                              "languages": _list(values["audience_languages"])}
    if values["platform"]:
        chosen["platform"] = values["platform"]
    return chosen


def parse_campaign(posted: Mapping[str, Any]) -> CampaignForm:
    """The posted form as a ``CampaignBody``, or the reasons, by field, it is not one."""
    form = CampaignForm({n: str(posted.get(n, "")).strip()[:MAX_VALUE] for n in FIELDS})
    values = form.values
    content = {"content": values["content"]}
    if values["title"]:
        content["title"] = values["title"]
    body: dict[str, Any] = {"name": values["name"], "content": content,
                            "fallback": _list(values["fallback"]),
                            "audience": _audience(values)}
    optional = {"languages": _languages(form),
                "perMinute": _number(form, "per_minute", "Sends per minute", whole=True),
                "scheduleTime": values["schedule_time"] or None,
                "finishBy": values["finish_by"] or None}
    percent = _number(form, "canary_percent", "The canary's percent", whole=False)
    failure = _number(form, "canary_max_failure", "The canary's failure rate", whole=False)
    if values["canary_percent"] or values["canary_max_failure"]:
        optional["canary"] = {k: v for k, v in (("percent", percent),
                                                ("maxFailureRate", failure)) if v is not None}
    body.update({k: v for k, v in optional.items() if v is not None})
    if form.errors:
        return form
    form.body, problems = validate(CampaignBody, body)
    form.add(problems)
    return form


def _form(request: Request, ctx: AppPage, form: CampaignForm, *, status: int = 200
          ) -> Response:
    return render(request, "campaign_form.html", ctx, {
        "values": form.values, "errors": form.errors,
        "all_errors": [m for messages in form.errors.values() for m in messages]},
        status=status)


@page("developer")
async def new_campaign(request: Request, ctx: AppPage) -> Response:
    values = dict.fromkeys(FIELDS, "")
    values.update({"audience": "upload", "per_minute": "1000"})
    return _form(request, ctx, CampaignForm(values))


@action("developer")
async def create_campaign_form(request: Request, ctx: AppPage, form: FormData) -> Response:
    parsed = parse_campaign(form)
    if parsed.body is None or parsed.errors:
        return _form(request, ctx, parsed, status=422)
    state = get_state(request)
    async with state.pool.connection() as conn:
        sender = await app_sender(conn, ctx.app_id, state.settings)
        try:
            campaign = await create_campaign(conn, ctx.app_id, sender.limits, parsed.body)
        except ContentRefused as exc:
            parsed.add(exc.errors)
            return _form(request, ctx, parsed, status=422)
    return see_other(ctx.url(f"campaigns/{campaign.id}?created=1"))


routes: list[BaseRoute] = [
    Route("/apps/{app_key}/campaigns/new", new_campaign, methods=["GET"]),
    Route("/apps/{app_key}/campaigns/new", create_campaign_form, methods=["POST"]),
]
