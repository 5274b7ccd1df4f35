"""An app's dashboard (``/panel/apps/{app_key}/dashboard``, every role): the last 24 hours by
status and gateway, a throughput chart (SVG drawn here, no script), the top failure reasons,
p50/p95 from accept to gateway acceptance (``domain.dispatches.dashboard``), the send queues'
depth per lane (Redis; the queues are shared by every app), flagged credentials and their
expiry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from domain.dispatches.dashboard import HourCount, dashboard
from producer.panel.guard import page
from producer.panel.templates import render
from producer.panel.viewer import AppPage
from producer.state import get_state
from shared import queues

CHART_W, CHART_H, HOURS = 720, 160, 24


@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    ok_y: float
    ok_h: float
    failed_y: float
    failed_h: float
    label: str  # the hour and its counts, for the title (a tooltip and a screen reader's text)


def stacked_bars(columns: list[tuple[int, int, str]]) -> tuple[list[Bar], int]:
    """One bar per (not failed, failed, label) column, failed on top, scaled to the peak."""
    peak = max([ok + failed for ok, failed, _ in columns] + [1])
    width = CHART_W / max(len(columns), 1)
    bars = []
    for i, (ok, failed, label) in enumerate(columns):
        ok_h, failed_h = CHART_H * ok / peak, CHART_H * failed / peak
        bars.append(Bar(i * width + 1, width - 2, CHART_H - ok_h, ok_h,
                        CHART_H - ok_h - failed_h, failed_h, label))
    return bars, peak


def chart(per_hour: list[HourCount], now: datetime) -> tuple[list[Bar], int]:
    """One stacked bar per hour of the last 24 (sent and the rest below, failed on top)."""
    counts = {h.hour.astimezone(UTC): h for h in per_hour}
    start = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(
        hours=HOURS - 1)
    columns = []
    for hour in (start + timedelta(hours=i) for i in range(HOURS)):
        c = counts.get(hour)
        ok, failed = (c.ok, c.failed) if c else (0, 0)
        columns.append((ok, failed, f"{hour:%H}:00 UTC: {ok} not failed, {failed} failed"))
    return stacked_bars(columns)


@page("support")
async def dashboard_page(request: Request, ctx: AppPage) -> Response:
    state = get_state(request)
    now = datetime.now(UTC)
    async with state.pool.connection() as conn:
        board = await dashboard(conn, ctx.app_id, now)
    depth = {name: await state.redis.llen(name) for name in queues.SEND_QUEUES}
    bars, peak = chart(board.per_hour, now)
    statuses = sorted(board.by_status)
    return render(request, "dashboard.html", ctx, {
        "b": board, "bars": bars, "peak": peak, "chart_w": CHART_W, "chart_h": CHART_H,
        "statuses": statuses, "depth": depth,
        "total": sum(sum(g.values()) for g in board.by_status.values())})


routes: list[BaseRoute] = [
    Route("/apps/{app_key}/dashboard", dashboard_page, methods=["GET"])]
