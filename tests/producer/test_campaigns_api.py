"""``/v2.1/campaigns`` against the real app (PostgreSQL, Redis): the audience upload with bad,
duplicate and dead lines, the device audience, the launch plan and its refusal, the actions'
states, and the content checked with a push's rules."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg

from tests.producer.conftest import android_token, assert_envelope, error_codes, ios_token

CONTENT = {"title": "Sale", "content": "Everything -20 %"}


async def create(api: httpx.AsyncClient, headers: dict[str, str], **fields: Any
                 ) -> dict[str, Any]:
    body = {"name": "c", "content": CONTENT, "audience": {"kind": "upload"},
            "perMinute": 600, **fields}
    answer = await api.post("/v2.1/campaigns", headers=headers, json=body)
    assert answer.status_code == 201, answer.text
    campaign: dict[str, Any] = answer.json()["data"][0]
    return campaign


async def upload(api: httpx.AsyncClient, headers: dict[str, str], campaign_id: str,
                 body: bytes, kind: str = "text/csv") -> httpx.Response:
    return await api.post(f"/v2.1/campaigns/{campaign_id}/audience", content=body,
                          headers={**headers, "Content-Type": kind})


def mark_dead(db: psycopg.Connection[Any], app_id: int, token: str, platform: str) -> None:
    db.execute("INSERT INTO devices (app_id, token, platform, registered_at, invalidated_at,"
               " invalid_reason) VALUES (%s, %s, %s, 'epoch', now(), 'unregistered')",
               (app_id, token, platform))


async def test_an_upload_counts_bad_duplicate_and_dead_lines_and_keeps_the_rest(
        api: httpx.AsyncClient, make_app: Any, db: psycopg.Connection[Any]) -> None:
    app = make_app("campaign-upload")
    h = app.headers()
    campaign = await create(api, h)
    good = [ios_token() for _ in range(5)] + [android_token() for _ in range(3)]
    dead = ios_token()
    mark_dead(db, app.app_id, dead, "ios")
    lines = ["token,platform,language", *good[:4], f"{good[4]},ios,fr-CA", "not-a-token",
             f"{good[5]},ios", good[0], dead, "", *good[5:], f"{good[6]},,xx_!"]
    answer = await upload(api, h, campaign["id"], "\r\n".join(lines).encode())
    assert answer.status_code == 200, answer.text
    [report] = answer.json()["data"]
    assert {k: report[k] for k in ("lines", "accepted", "invalid", "duplicate", "dead")} == {
        "lines": 13, "accepted": 8, "invalid": 3, "duplicate": 1, "dead": 1}
    assert [p["line"] for p in report["problems"]] == [7, 8, 15]  # lines of the file
    # NDJSON to the same draft: the tokens of the first upload are duplicates too.
    more = ios_token()
    answer = await upload(api, h, campaign["id"], (
        f'{{"token": "{more}", "language": "de"}}\n{{"token": "{good[1]}"}}\n[1]\n').encode(),
        "application/x-ndjson")
    [report] = answer.json()["data"]
    assert (report["accepted"], report["duplicate"], report["invalid"]) == (1, 1, 1)
    rows = db.execute("SELECT token, platform, language FROM campaign_recipients"
                      " WHERE campaign_id = %s", (campaign["id"],)).fetchall()
    by_token = {r[0]: r[1:] for r in rows}
    assert len(rows) == 9 and set(by_token) == {*good, more}
    assert by_token[good[4]] == ("ios", "fr-CA") and by_token[good[5]] == ("android", None)
    assert by_token[more] == ("ios", "de")
    seen = (await api.get(f"/v2.1/campaigns/{campaign['id']}", headers=h)).json()["data"][0]
    assert seen["excluded"] == {"invalid": 4, "duplicate": 2, "dead": 1}
    assert seen["progress"]["total"] == 9 and seen["progress"]["pending"] == 9


async def test_an_upload_needs_a_draft_and_a_list_format(api: httpx.AsyncClient,
                                                        make_app: Any) -> None:
    h = make_app("campaign-upload-refused").headers()
    campaign = await create(api, h)
    answer = await upload(api, h, campaign["id"], b"{}", "application/json")
    assert answer.status_code == 415
    assert error_codes(assert_envelope(answer)) == [("UNSUPPORTED_MEDIA_TYPE", "Content-Type")]
    assert (await upload(api, h, campaign["id"], ios_token().encode())).status_code == 200
    started = await api.post(f"/v2.1/campaigns/{campaign['id']}/start", headers=h)
    assert started.status_code == 200, started.text
    answer = await upload(api, h, campaign["id"], ios_token().encode())
    assert answer.status_code == 409
    assert error_codes(assert_envelope(answer)) == [("STATE_CONFLICT", "state")]


async def test_the_plan_estimates_the_finish_and_start_refuses_an_unreachable_finish_by(
        api: httpx.AsyncClient, make_app: Any, db: psycopg.Connection[Any]) -> None:
    app = make_app("campaign-plan")
    h = app.headers()
    rates = {"sendRates": {"apns": {"bulk": 3}, "fcm": {"bulk": 6, "tx": 1}}}
    assert (await api.put("/v2.1/limits", headers=h, json=rates)).status_code == 200
    # 600/min wanted, but the app's APNs bulk rate is 3/s = 180/min: 90 iOS tokens take 30 s
    # (30 Android ones at FCM's 6/s, 5 s; the tx rates play no part).
    campaign = await create(api, h, finishBy="2099-01-01T00:00:00Z")
    tokens = "\n".join([ios_token() for _ in range(90)] + [android_token() for _ in range(30)])
    await upload(api, h, campaign["id"], tokens.encode())
    [plan] = (await api.get(f"/v2.1/campaigns/{campaign['id']}/plan", headers=h)).json()["data"]
    assert plan["recipients"] == 120 and plan["byPlatform"] == {"ios": 90, "android": 30}
    assert plan["ratePerMinute"] == {"ios": 180.0, "android": 360.0} and plan["feasible"]
    seconds = (_time(plan["estimatedFinish"]) - _time(plan["startsAt"]))
    assert abs(seconds - 30.0) < 0.01, plan

    tight = await create(api, h, finishBy="2000-01-01T00:00:00Z")
    await upload(api, h, tight["id"], tokens.encode())
    answer = await api.post(f"/v2.1/campaigns/{tight['id']}/start", headers=h)
    assert answer.status_code == 422, answer.text
    [error] = assert_envelope(answer)["errors"]
    assert error["code"] == "FINISH_BY_UNREACHABLE" and "180/min" in error["message"]
    assert "bulk send rate of apns" in error["message"]
    assert "raise the app's bulk send rate" in error["message"]
    state = (await api.get(f"/v2.1/campaigns/{tight['id']}", headers=h)).json()["data"][0]
    assert state["state"] == "draft"


def _time(value: str) -> float:
    from datetime import datetime
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


async def test_actions_follow_the_states(api: httpx.AsyncClient, make_app: Any,
                                         db: psycopg.Connection[Any]) -> None:
    h = make_app("campaign-actions").headers()
    campaign = await create(api, h, scheduleTime="2099-01-01T00:00:00Z")
    cid = campaign["id"]
    empty = await api.post(f"/v2.1/campaigns/{cid}/start", headers=h)
    assert error_codes(assert_envelope(empty)) == [("EMPTY_AUDIENCE", "audience")]
    await upload(api, h, cid, "\n".join(ios_token() for _ in range(3)).encode())

    async def do(action: str) -> httpx.Response:
        return await api.post(f"/v2.1/campaigns/{cid}/{action}", headers=h)

    assert (await do("pause")).status_code == 409
    assert (await do("start")).json()["data"][0]["state"] == "scheduled"
    assert (await do("start")).status_code == 409
    assert (await do("pause")).json()["data"][0]["state"] == "paused"
    assert (await do("resume")).json()["data"][0]["state"] == "running"
    assert (await do("retry-failed")).status_code == 409
    assert (await do("cancel")).json()["data"][0]["state"] == "canceled"
    assert (await do("resume")).status_code == 409
    states = db.execute("SELECT DISTINCT state FROM campaign_recipients WHERE campaign_id = %s",
                        (cid,)).fetchall()
    assert states == [("canceled",)]
    listed = (await api.get("/v2.1/campaigns", headers=h, params={"state": "canceled"})).json()
    assert [c["id"] for c in listed["data"]] == [cid]


async def test_a_device_audience_takes_the_matching_valid_devices(
        api: httpx.AsyncClient, make_app: Any, db: psycopg.Connection[Any]) -> None:
    app = make_app("campaign-devices")
    h = app.headers()
    tokens = [ios_token() for _ in range(4)]
    for token, tags, language in zip(tokens, (["vip"], ["vip"], ["other"], ["vip"]),
                                     ("fr-CA", "de", "fr", "fr"), strict=True):
        answer = await api.post("/v2.1/devices", headers=h, json={
            "token": token, "platform": "ios", "tags": tags, "language": language})
        assert answer.status_code == 201
    db.execute("UPDATE devices SET invalidated_at = now() + interval '1 s' WHERE token = %s",
               (tokens[3],))
    campaign = await create(api, h, audience={"kind": "devices", "tags": ["vip"],
                                              "languages": ["fr"]})
    rows = db.execute("SELECT token FROM campaign_recipients WHERE campaign_id = %s",
                      (campaign["id"],)).fetchall()
    assert rows == [(tokens[0],)]
    assert campaign["excluded"]["dead"] == 1


async def test_content_is_checked_as_a_push_and_per_language(api: httpx.AsyncClient,
                                                             make_app: Any) -> None:
    h = make_app("campaign-content").headers()
    answer = await api.post("/v2.1/campaigns", headers=h, json={
        "name": "c", "content": {"title": "x" * 40, "content": "y"}, "perMinute": 60,
        "languages": {"fr": {"content": ""}, "de": {"ttl": 5, "content": "z"}},
        "audience": {"kind": "upload"}})
    assert answer.status_code == 422, answer.text
    assert sorted(error_codes(assert_envelope(answer))) == [
        ("INVALID_FORMAT", "languages.de.ttl"), ("REQUIRED", "languages.fr.content"),
        ("TOO_LONG", "content.title")]
