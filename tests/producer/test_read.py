"""GET /v2.1/push/{messageId} and the search GET /v2.1/push: filters, paging, newest first."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest

from tests import conftest as root
from tests.producer.conftest import (
    android_token,
    assert_envelope,
    error_codes,
    ios_token,
)


async def _send(api: httpx.AsyncClient, app: root.TestApp, tokens: list[str], **fields: Any
                ) -> dict[str, Any]:
    response = await api.post("/v2.1/push", json={"device_tokens": tokens, "content": "hello",
                                                  **fields}, headers=app.headers())
    assert response.status_code == 202, response.text
    data: dict[str, Any] = response.json()["data"][0]
    return data


async def test_message_with_dispatches_and_history(
    api: httpx.AsyncClient, make_app: Any, db: psycopg.Connection[Any]
) -> None:
    app = make_app()
    sent = await _send(api, app, [ios_token(), android_token()], title="T", externalId="x-1")
    first = sent["dispatches"][0]["dispatchId"]
    # What the delivery side records later shows up here.
    db.execute("UPDATE dispatches SET status = 'sent', attempts = 1, gateway_id = 'apns-1',"
               " gateway_response = '{\"status\": 200}' WHERE id = %s", (first,))
    db.execute("INSERT INTO dispatch_events (dispatch_id, status) VALUES (%s, 'sent')", (first,))
    response = await api.get(f"/v2.1/push/{sent['messageId']}", headers=app.headers())
    assert response.status_code == 200
    (message,) = assert_envelope(response)["data"]
    assert message["messageId"] == sent["messageId"] and message["externalId"] == "x-1"
    assert message["content"] == {"title": "T", "content": "hello"}
    dispatches = {d["dispatchId"]: d for d in message["dispatches"]}
    assert set(dispatches) == {d["dispatchId"] for d in sent["dispatches"]}
    done = dispatches[first]
    assert (done["status"], done["attempts"], done["gatewayId"]) == ("sent", 1, "apns-1")
    assert done["gatewayResponse"] == {"status": 200}
    assert [h["status"] for h in done["history"]] == ["queued", "sent"]


@pytest.mark.parametrize("message_id", ["not-a-uuid", "01a21bca-14b1-723f-b684-36b791a482aa"])
async def test_unknown_message_is_404(api: httpx.AsyncClient, make_app: Any,
                                      message_id: str) -> None:
    response = await api.get(f"/v2.1/push/{message_id}", headers=make_app().headers())
    assert response.status_code == 404
    assert error_codes(assert_envelope(response)) == [("NOT_FOUND", "messageId")]


async def test_search_filters_and_paging(api: httpx.AsyncClient, make_app: Any,
                                         db: psycopg.Connection[Any]) -> None:
    app = make_app()
    ios, android = ios_token(), android_token()
    sent = [await _send(api, app, [ios], externalId=f"order-{i}", title=f"Parcel {i}")
            for i in range(5)]
    other = await _send(api, app, [android], title="Weekly digest")
    failed_id = sent[1]["dispatches"][0]["dispatchId"]
    db.execute("UPDATE dispatches SET status = 'failed', reason = 'unregistered' WHERE id = %s",
               (failed_id,))
    # Spread creation times so date filters have something to cut.
    for i, item in enumerate([*sent, other]):
        db.execute("UPDATE dispatches SET created_at = '2026-01-01T00:00:00Z'::timestamptz"
                   " + make_interval(hours => %s) WHERE message_id = %s",
                   (i, item["messageId"]))

    async def search(**params: Any) -> list[dict[str, Any]]:
        response = await api.get("/v2.1/push", params=params, headers=app.headers())
        assert response.status_code == 200, response.text
        data: list[dict[str, Any]] = assert_envelope(response)["data"]
        return data

    everything = await search()
    assert [d["messageId"] for d in everything] == [
        m["messageId"] for m in reversed([*sent, other])]  # newest first
    assert [d["messageId"] for d in await search(offset=1, limit=2)] == [
        sent[4]["messageId"], sent[3]["messageId"]]
    assert [d["dispatchId"] for d in await search(status="failed")] == [failed_id]
    assert {d["deviceToken"] for d in await search(deviceToken=android)} == {android}
    assert [d["platform"] for d in await search(platform="android")] == ["android"]
    assert [d["externalId"] for d in await search(externalId="order-3")] == ["order-3"]
    assert [d["messageId"] for d in await search(q="digest")] == [other["messageId"]]
    assert len(await search(q="ORDER-")) == 5  # externalId substring, case-insensitive
    window = await search(dateFrom="2026-01-01 01:00:00", dateTo="2026-01-01T03:00:00Z")
    assert [d["externalId"] for d in window] == ["order-3", "order-2", "order-1"]
    assert len(await search(q="100%_")) == 0  # LIKE wildcards are literal


async def test_lane_and_source_are_shown_and_searchable(
    api: httpx.AsyncClient, make_app: Any, db: psycopg.Connection[Any]
) -> None:
    app = make_app()
    from_api = await _send(api, app, [ios_token()])
    from_campaign = await _send(api, app, [ios_token()])
    # What a campaign's submit writes (tests/domain/messages): source and its id on both rows.
    for table, column in (("messages", "id"), ("dispatches", "message_id")):
        db.execute(f"UPDATE {table} SET source = 'campaign', source_ref = 'cmp-9', lane = 'bulk'"
                   f" WHERE {column} = %s", (from_campaign["messageId"],))

    async def search(**params: Any) -> list[str]:
        response = await api.get("/v2.1/push", params=params, headers=app.headers())
        assert response.status_code == 200, response.text
        return [d["messageId"] for d in assert_envelope(response)["data"]]

    assert await search(source="campaign") == [from_campaign["messageId"]]
    assert await search(sourceRef="cmp-9") == [from_campaign["messageId"]]
    assert await search(source="api") == [from_api["messageId"]]
    story = (await api.get(f"/v2.1/push/{from_campaign['messageId']}", headers=app.headers())
             ).json()["data"][0]
    assert (story["source"], story["sourceRef"]) == ("campaign", "cmp-9")
    assert story["dispatches"][0]["lane"] == "bulk"
    plain = (await api.get(f"/v2.1/push/{from_api['messageId']}", headers=app.headers())
             ).json()["data"][0]
    assert (plain["source"], plain["sourceRef"], plain["dispatches"][0]["lane"]) == (
        "api", None, "tx")


@pytest.mark.parametrize(("params", "parameter", "code"), [
    ({"limit": "1001"}, "limit", "INVALID_FORMAT"),
    ({"source": "fax"}, "source", "INVALID_FORMAT"),
    ({"limit": "0"}, "limit", "INVALID_FORMAT"),
    ({"offset": "-1"}, "offset", "INVALID_FORMAT"),
    ({"dateFrom": "yesterday"}, "dateFrom", "INVALID_FORMAT"),
    ({"status": "lost"}, "status", "INVALID_FORMAT"),
    ({"platform": "web"}, "platform", "INVALID_FORMAT"),
    ({"q": "q" * 201}, "q", "TOO_LONG"),
])
async def test_search_rejects_bad_parameters(api: httpx.AsyncClient, make_app: Any,
                                             params: dict[str, str], parameter: str,
                                             code: str) -> None:
    response = await api.get("/v2.1/push", params=params, headers=make_app().headers())
    assert response.status_code == 422
    assert error_codes(assert_envelope(response)) == [(code, parameter)]
