"""Campaigns (``/panel/apps/{app_key}/campaigns``, every role): the app's campaigns with their
state and progress, and one campaign's page with the ledger's figures
(``domain.campaigns.progress``, the same as ``GET /v2.1/campaigns/{id}``), its halt reason, the
launch plan while recipients are pending, a link to its dispatches in the logs, and the actions
its state allows (developer and admin; ``domain.campaigns.store.act``, as the API). A draft
campaign of an uploaded audience takes token files there (CSV or NDJSON, streamed through
``producer.campaign_create.upload_audience``, as ``POST /v2.1/campaigns/{id}/audience``), and the
page then shows what the file held: accepted, invalid, duplicate and dead lines. New campaigns
are made by ``producer.panel.campaign_form``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from domain.campaigns import audience, plan, progress, store
from domain.campaigns.lines import Format
from domain.campaigns.timeline import Timeline, timeline
from producer.campaign_create import (
    FORMATS,
    MAX_UPLOAD_BYTES,
    UploadTooLarge,
    media_type,
    upload_audience,
)
from producer.panel.dashboard import CHART_H, CHART_W, Bar, stacked_bars
from producer.panel.guard import PanelError, action, page, see_other
from producer.panel.templates import render
from producer.panel.viewer import AppPage
from producer.state import get_state

ROWS = 100
SLICES = 30  # bars in a campaign's chart
CHUNK = 1024 * 1024  # read from the uploaded file at a time
_NDJSON_ENDINGS = (".ndjson", ".jsonl")


def chart(sends: Timeline) -> list[Bar]:
    """The campaign's sends over its time so far, one bar per slice."""
    if sends.first is None or sends.last is None:
        return []
    step = max((sends.last - sends.first).total_seconds(), 1.0) / len(sends.slices)
    return stacked_bars([(s.ok, s.failed, f"+{i * step:.0f} s: {s.ok} submitted, {s.failed} "
                          "failed") for i, s in enumerate(sends.slices)])[0]


@page("support")
async def campaigns_page(request: Request, ctx: AppPage) -> Response:
    async with get_state(request).pool.connection() as conn:
        campaigns = await store.list_campaigns(conn, ctx.app_id, state=None, offset=0,
                                               limit=ROWS)
        rows = [(c, await progress.progress(conn, c.id, c.state)) for c in campaigns]
    return render(request, "campaigns.html", ctx, {"rows": rows})


async def _campaign(conn: Any, ctx: AppPage, raw_id: str) -> store.Campaign:
    campaign_id = store.valid_id(raw_id)
    # Another app's campaign (or no campaign) is a 404, as any page out of scope.
    campaign = None if campaign_id is None else await store.get(conn, ctx.app_id, campaign_id)
    if campaign is None:
        raise PanelError(404, "This app has no such campaign.")
    return campaign


async def _show(request: Request, ctx: AppPage, campaign_id: str, *, status: int = 200,
                error: str = "", notice: str = "",
                uploaded: audience.UploadReport | None = None) -> Response:
    state = get_state(request)
    async with state.pool.connection() as conn:
        campaign = await _campaign(conn, ctx, campaign_id)
        counts = await progress.progress(conn, campaign.id, campaign.state)
        sends = await timeline(conn, campaign.id, SLICES)
        launch = refusal = None
        if counts.pending and campaign.state not in ("canceled", "finished"):
            launch = await plan.launch_plan(conn, campaign, state.settings)
            refusal = plan.start_refusal(campaign, launch) if campaign.state == "draft" else None
    actions = store.actions_for(campaign.state) if ctx.can("developer") else []
    return render(request, "campaign.html", ctx, {
        "c": campaign, "p": counts, "plan": launch, "refusal": refusal, "actions": actions,
        "sends": sends, "bars": chart(sends), "chart_w": CHART_W, "chart_h": CHART_H,
        "uploadable": ctx.can("developer") and campaign.state == "draft"
        and campaign.audience.get("kind") == "upload", "uploaded": uploaded,
        "notice": notice, "error": error}, status=status)


@page("support")
async def campaign_page(request: Request, ctx: AppPage) -> Response:
    created = "Campaign created as a draft." if request.query_params.get("created") else ""
    return await _show(request, ctx, request.path_params["campaign_id"], notice=created)


def _format(upload: UploadFile) -> Format:
    """NDJSON by the file's name or type; else CSV (browsers often send no type for either)."""
    if (upload.filename or "").lower().endswith(_NDJSON_ENDINGS):
        return "ndjson"
    return FORMATS.get(media_type(upload.content_type), "csv")


async def _chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(CHUNK):
        yield chunk


@action("developer", max_bytes=MAX_UPLOAD_BYTES)
async def upload_page(request: Request, ctx: AppPage, form: FormData) -> Response:
    raw_id = request.path_params["campaign_id"]
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return await _show(request, ctx, raw_id, status=422,
                           error="Choose a CSV or NDJSON file of tokens to upload.")
    async with get_state(request).pool.connection() as conn:
        campaign = await _campaign(conn, ctx, raw_id)
        try:
            report = await upload_audience(conn, ctx.app_id, campaign.id, _chunks(upload),
                                           _format(upload))
        except UploadTooLarge:
            return await _show(request, ctx, campaign.id, status=413, error=(
                f"A file is at most {MAX_UPLOAD_BYTES} bytes: split the list."))
        except audience.NoSuchCampaign:
            raise PanelError(404, "This app has no such campaign.") from None
        except store.NotAllowed as exc:
            return await _show(request, ctx, campaign.id, status=409, error=f"{exc}.")
    return await _show(request, ctx, campaign.id, uploaded=report,
                       notice=f"{upload.filename}: {report.accepted} recipients added.")


@action("developer")
async def campaign_action(request: Request, ctx: AppPage, form: FormData) -> Response:
    name = request.path_params["action"]
    if name not in ACTIONS:
        raise PanelError(404, "There is no such campaign action.")
    state = get_state(request)
    async with state.pool.connection() as conn:
        campaign = await _campaign(conn, ctx, request.path_params["campaign_id"])
        if name == "start" and campaign.state == "draft":
            refused = plan.start_refusal(campaign, await plan.launch_plan(
                conn, campaign, state.settings))
            if refused is not None:
                return await _show(request, ctx, campaign.id, status=422,
                                   error=f"Not started: {refused.message}.")
        try:
            await store.act(conn, ctx.app_id, campaign.id, ACTIONS[name])
        except store.NotAllowed as exc:
            return await _show(request, ctx, campaign.id, status=409, error=f"{exc}.")
    return see_other(ctx.url(f"campaigns/{campaign.id}"))


ACTIONS: dict[str, store.Action] = {a: a for a in ("start", "pause", "resume", "cancel",
                                                   "retry-failed")}
routes: list[BaseRoute] = [
    Route("/apps/{app_key}/campaigns", campaigns_page, methods=["GET"]),
    Route("/apps/{app_key}/campaigns/{campaign_id}", campaign_page, methods=["GET"]),
    Route("/apps/{app_key}/campaigns/{campaign_id}/audience", upload_page, methods=["POST"]),
    Route("/apps/{app_key}/campaigns/{campaign_id}/{action}", campaign_action,
          methods=["POST"]),
]
