"""``/v2.1/campaigns`` (scope ``campaigns:write``): create, list and read campaigns, upload their
audience, see the launch plan, and start, pause, resume, cancel or retry the failed recipients.
What each means is in ``domain/campaigns/`` (states: ``domain.campaigns.store``); the pacer
(``pushflow pacer``) does the sending.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from domain.campaigns import audience, plan, progress, store
from producer import campaign_create
from producer import openapi as oa
from producer.auth import Caller, authenticate
from producer.body import read_model
from producer.campaign_create import FORMATS, MAX_UPLOAD_BYTES, media_type
from producer.campaign_schemas import CampaignBody
from producer.campaign_views import (
    CAMPAIGN_SCHEMA,
    PLAN_SCHEMA,
    UPLOAD_SCHEMA,
    campaign_view,
    plan_view,
    upload_view,
)
from producer.envelope import ApiError, field_items, header, respond
from producer.history import QueryParams as Query
from producer.history import paging_params
from producer.state import get_state
from shared.settings import Settings

SCOPE = "campaigns:write"
STATES = ("draft", "scheduled", "running", "paused", "halted", "canceled", "finished")


async def create_campaign(request: Request) -> Response:
    caller = await authenticate(request, SCOPE)
    body = await read_model(request, CampaignBody)
    async with get_state(request).pool.connection() as conn:
        try:
            campaign = await campaign_create.create_campaign(conn, caller.app_id,
                                                             caller.limits, body)
        except campaign_create.ContentRefused as exc:
            raise ApiError.validation(field_items(exc.errors)) from None
    return respond(request, 201, [campaign_view(campaign)])


async def _get(conn: Any, caller: Caller, campaign_id: str) -> store.Campaign:
    found = await store.get(conn, caller.app_id, campaign_id)
    if found is None:
        raise _not_found(campaign_id)
    return found


def _not_found(value: str) -> ApiError:
    return ApiError(404, "NOT_FOUND", "No such campaign for this app", parameter="campaign_id",
                    value=value, source="path")


def _campaign_id(request: Request) -> str:
    raw = request.path_params["campaign_id"]
    valid = store.valid_id(raw)
    if valid is None:
        raise _not_found(raw)
    return valid


async def list_campaigns(request: Request) -> Response:
    caller = await authenticate(request, SCOPE)
    q = Query(request.query_params)
    state = q.choice("state", STATES)
    offset, limit = q.paging()
    if q.errors:
        raise ApiError.validation(q.errors)
    async with get_state(request).pool.connection() as conn:
        found = await store.list_campaigns(conn, caller.app_id, state=state, offset=offset,
                                           limit=limit)
    return respond(request, 200, [campaign_view(c) for c in found])


async def get_campaign(request: Request) -> Response:
    caller = await authenticate(request, SCOPE)
    campaign_id = _campaign_id(request)
    async with get_state(request).pool.connection() as conn:
        campaign = await _get(conn, caller, campaign_id)
        counts = await progress.progress(conn, campaign_id, campaign.state)
    return respond(request, 200, [campaign_view(campaign, counts)])


async def upload_audience(request: Request) -> Response:
    caller = await authenticate(request, SCOPE)
    campaign_id = _campaign_id(request)
    kind = media_type(header(request, b"content-type"))
    fmt = FORMATS.get(kind)
    if fmt is None:
        raise ApiError(415, "UNSUPPORTED_MEDIA_TYPE",
                       "Send the token list as text/csv (token[,platform[,language]] per line) "
                       "or application/x-ndjson", parameter="Content-Type", value=kind,
                       source="header")
    async with get_state(request).pool.connection() as conn:
        try:
            report = await campaign_create.upload_audience(conn, caller.app_id, campaign_id,
                                                           request.stream(), fmt)
        except campaign_create.UploadTooLarge:
            raise ApiError(413, "PAYLOAD_TOO_LARGE", f"An upload is at most {MAX_UPLOAD_BYTES} "
                           "bytes; split the list", parameter="body",
                           value=MAX_UPLOAD_BYTES) from None
        except audience.NoSuchCampaign:
            raise _not_found(campaign_id) from None
        except store.NotAllowed as exc:
            raise _conflict(exc) from None
    return respond(request, 200, [upload_view(report)])


def _conflict(exc: store.NotAllowed) -> ApiError:
    return ApiError(409, "STATE_CONFLICT", str(exc), parameter="state", value=exc.state,
                    source="path")


async def launch_plan(request: Request) -> Response:
    caller = await authenticate(request, SCOPE)
    campaign_id = _campaign_id(request)
    async with get_state(request).pool.connection() as conn:
        campaign = await _get(conn, caller, campaign_id)
        launch = await plan.launch_plan(conn, campaign, get_state(request).settings)
    return respond(request, 200, [plan_view(launch)])


def _action(action: store.Action) -> Any:
    async def handler(request: Request) -> Response:
        caller = await authenticate(request, SCOPE)
        campaign_id = _campaign_id(request)
        state = get_state(request)
        async with state.pool.connection() as conn:
            if action == "start":
                campaign = await _get(conn, caller, campaign_id)
                if campaign.state == "draft":
                    await _check_launch(conn, campaign, state.settings)
            try:
                done = await store.act(conn, caller.app_id, campaign_id, action)
            except store.NotAllowed as exc:
                raise _conflict(exc) from None
        if done is None:
            raise _not_found(campaign_id)
        return respond(request, 200, [campaign_view(done)])

    handler.__name__ = f"{action.replace('-', '_')}_campaign"
    return handler


async def _check_launch(conn: Any, campaign: store.Campaign, settings: Settings) -> None:
    refused = plan.start_refusal(campaign, await plan.launch_plan(conn, campaign, settings))
    if refused is not None:
        value = (campaign.finish_by.isoformat() if refused.parameter == "finishBy"
                 and campaign.finish_by else None)
        raise ApiError(422, refused.code, refused.message, parameter=refused.parameter,
                       value=value, source="path")


ACTIONS: tuple[store.Action, ...] = ("start", "pause", "resume", "cancel", "retry-failed")
_ONE = "/v2.1/campaigns/{campaign_id}"
routes: list[BaseRoute] = [
    Route("/v2.1/campaigns", create_campaign, methods=["POST"]),
    Route("/v2.1/campaigns", list_campaigns, methods=["GET"]),
    Route(_ONE, get_campaign, methods=["GET"]),
    Route(_ONE + "/audience", upload_audience, methods=["POST"]),
    Route(_ONE + "/plan", launch_plan, methods=["GET"]),
    *(Route(f"{_ONE}/{a}", _action(a), methods=["POST"]) for a in ACTIONS),
]

_ID = [oa.path_param("campaign_id", "the campaign's id")]
_WHAT = {"start": "Start (or schedule) a draft campaign, after checking its launch plan",
         "pause": "Pause: no new sends within 2 s", "resume": "Resume a paused or halted "
         "campaign (for a halted one: go past its canary)",
         "cancel": "Cancel: the recipients not yet sent are never sent",
         "retry-failed": "Send again to the recipients that failed with a retryable reason"}
openapi: dict[str, Any] = {"paths": {
    "/v2.1/campaigns": {
        "post": oa.operation("Create a campaign (a draft)", scope=SCOPE, ok=201,
                             ok_schema=CAMPAIGN_SCHEMA, errors=(400, 401, 403, 413, 422),
                             body=oa.body_schema(CampaignBody)),
        "get": oa.operation("List campaigns, newest first", scope=SCOPE,
                            ok_schema=CAMPAIGN_SCHEMA, errors=(401, 403, 422), parameters=[
                                oa.query_param("state", {"enum": list(STATES)},
                                               "only campaigns in this state"),
                                *paging_params("campaigns")]),
    },
    _ONE: {"get": oa.operation("A campaign and its progress", scope=SCOPE,
                               ok_schema=CAMPAIGN_SCHEMA, errors=(401, 403, 404),
                               parameters=_ID)},
    _ONE + "/audience": {"post": {**oa.operation(
        "Upload recipients (a token list, streamed)", scope=SCOPE, ok_schema=UPLOAD_SCHEMA,
        errors=(401, 403, 404, 409, 413, 415), parameters=_ID,
        description="CSV (`token[,platform[,language]]` per line, optional header) or NDJSON "
                    "(`{\"token\": ..., \"platform\": ..., \"language\": ...}` per line). "
                    "Invalid lines, duplicates and tokens a gateway reported dead are counted "
                    "and never sent."),
        "requestBody": {"required": True, "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/x-ndjson": {"schema": {"type": "string"}}}}}},
    _ONE + "/plan": {"get": oa.operation(
        "The launch plan: audience after exclusions, rate, estimated finish", scope=SCOPE,
        ok_schema=PLAN_SCHEMA, errors=(401, 403, 404), parameters=_ID)},
    **{f"{_ONE}/{a}": {"post": oa.operation(
        _WHAT[a], scope=SCOPE, ok_schema=CAMPAIGN_SCHEMA,
        errors=(401, 403, 404, 409, 422) if a == "start" else (401, 403, 404, 409),
        parameters=_ID)} for a in ACTIONS},
}}
