"""``/v2.1/limits`` through the real app in-process (real PostgreSQL and Redis): the defaults
read back, send rates set per gateway and lane and kept apart from the other section, values
refused by their setting's rule with the parameter named, and admin scope only."""

from __future__ import annotations

import pytest

from shared.settings import get_settings
from tests.producer.conftest import assert_envelope, error_codes

pytestmark = pytest.mark.asyncio


async def test_send_rates_per_gateway_and_lane_set_and_read_back(api, make_app, db):
    app = make_app()
    h = app.headers()
    [view] = (await api.get("/v2.1/limits", headers=h)).json()["data"]
    settings = get_settings()
    assert view["limits"] == {}
    assert view["sendRates"] == {g: {"tx": None, "bulk": None} for g in ("apns", "fcm")}
    assert view["effectiveSendRates"]["fcm"] == {
        "tx": settings.send_rate_per_second, "bulk": settings.bulk_send_rate_per_second}

    body = {"limits": {"max_content": 50},
            "sendRates": {"apns": {"tx": 200, "bulk": 20.5}, "fcm": {"bulk": 0}}}
    r = await api.put("/v2.1/limits", headers=h, json=body)
    assert r.status_code == 200, r.text
    [view] = assert_envelope(r)["data"]
    assert view["limits"] == {"max_content": 50}
    assert view["sendRates"] == {"apns": {"tx": 200.0, "bulk": 20.5},
                                 "fcm": {"tx": None, "bulk": 0.0}}
    assert view["effectiveSendRates"]["fcm"] == {"tx": settings.send_rate_per_second,
                                                 "bulk": 0.0}
    [stored] = db.execute("SELECT send_rates FROM apps WHERE id = %s", (app.app_id,)).fetchone()
    assert stored == {"apns.tx": 200.0, "apns.bulk": 20.5, "fcm.bulk": 0.0}

    # A section left out is kept; a lane left out of a section given goes back to its default.
    r = await api.put("/v2.1/limits", headers=h, json={"sendRates": {"fcm": {"tx": 7}}})
    [view] = r.json()["data"]
    assert view["limits"] == {"max_content": 50}
    assert view["sendRates"] == {"apns": {"tx": None, "bulk": None},
                                 "fcm": {"tx": 7.0, "bulk": None}}
    r = await api.put("/v2.1/limits", headers=h, json={"limits": {}})
    assert r.json()["data"][0]["limits"] == {}
    assert r.json()["data"][0]["sendRates"]["fcm"]["tx"] == 7.0


async def test_bad_limits_are_422_naming_the_parameter_and_change_nothing(api, make_app, db):
    app = make_app()
    h = app.headers()
    cases = [({"sendRates": {"apns": {"bulk": -1}}}, "sendRates.apns.bulk"),
             ({"limits": {"max_payload_bytes": 10}}, "limits.max_payload_bytes"),
             ({"limits": {"max_content": 2.5}}, "limits.max_content"),
             ({"limits": {"no_such_limit": 1}}, "limits.no_such_limit")]
    for body, parameter in cases:
        r = await api.put("/v2.1/limits", headers=h, json=body)
        assert r.status_code == 422, (body, r.text)
        assert error_codes(assert_envelope(r)) == [("INVALID_FORMAT", parameter)], body
    for body in ({"sendRates": {"hms": {"tx": 1}}}, {"sendRates": {"apns": {"tx": "fast"}}},
                 {"sendRates": {"apns": {"tx": True}}}, {"sendRate": 5}):
        r = await api.put("/v2.1/limits", headers=h, json=body)
        assert r.status_code == 422, (body, r.text)
        assert assert_envelope(r)["errors"]
    row = db.execute("SELECT limits, send_rates FROM apps WHERE id = %s",
                     (app.app_id,)).fetchone()
    assert row == ({}, {})


async def test_limits_need_the_admin_scope(api, make_app):
    h = make_app(scopes=("push:send",)).headers()
    assert (await api.get("/v2.1/limits", headers=h)).status_code == 403
    r = await api.put("/v2.1/limits", headers=h, json={"sendRates": {"fcm": {"tx": 1}}})
    assert r.status_code == 403
