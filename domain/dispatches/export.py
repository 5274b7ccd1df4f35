"""A search's whole result as CSV, produced a page at a time (keyset, one short connection
checkout per page) so that an export of millions of rows streams in constant memory and never
holds a connection while the client reads slowly."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from psycopg import AsyncConnection

from domain.dispatches.search import Cursor, DispatchFilter, DispatchRow, search_page

PAGE_ROWS = 1000
HEADER = ("dispatch_id", "message_id", "external_id", "device_token", "platform", "lane",
          "source", "source_ref", "status", "reason", "attempts", "gateway_id", "created_at",
          "updated_at")
# A spreadsheet runs a cell starting with one of these as a formula; the tokens and external
# ids are the customer's text, so such a cell is quoted with a leading apostrophe (OWASP's
# advice on CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def csv_line(values: tuple[Any, ...]) -> str:
    out = io.StringIO()
    csv.writer(out).writerow([_cell(v) for v in values])
    return out.getvalue()


def row_values(r: DispatchRow) -> tuple[Any, ...]:
    return (r.id, r.message_id, r.external_id, r.device_token, r.platform, r.lane, r.source,
            r.source_ref, r.status, r.reason, r.attempts, r.gateway_id,
            r.created_at.isoformat(), r.updated_at.isoformat())


async def export_csv(connect: Callable[[], AbstractAsyncContextManager[AsyncConnection[Any]]],
                     app_id: int, f: DispatchFilter) -> AsyncIterator[str]:
    """The header, then one chunk of lines per page of the search, newest first."""
    yield csv_line(HEADER)
    after: Cursor | None = None
    while True:
        async with connect() as conn:
            page = await search_page(conn, app_id, f, size=PAGE_ROWS, after=after)
        yield "".join(csv_line(row_values(r)) for r in page.rows)
        if page.next is None:
            return
        after = page.next
