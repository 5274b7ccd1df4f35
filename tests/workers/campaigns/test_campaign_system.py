"""Campaigns end to end with real processes: the pacer holds the rate, pause/resume/cancel act
within 2 s, a canary halts a broken campaign, a killed pacer and send worker lose and repeat
nothing, a scheduled campaign waits for its time, retry-failed sends only the retryable ones,
and dead tokens stay out of later campaigns."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest

from domain.keys import store as apps
from tests import conftest as root
from tests.chaos_system import ChaosSystem
from tests.producer.panel.conftest import PASSWORD, Panel, PanelUser, add_panel_user
from tests.producer.panel.conftest import password_hash as password_hash  # the fixture
from tests.services import patched_env
from tests.workers.campaigns.system import (
    SYSTEM_ENV,
    act,
    create,
    dispatches_per_token,
    ledger,
    read,
    sends,
    sent_once_each,
    submitted_times,
    wait_state,
)
from tests.workers.test_processes import COMMIT_WINDOW_SECONDS as COMMIT_WINDOW_S
from workers.delivery.testing import apns_token, fcm_token

FINAL = {"sent", "failed", "delivered", "opened"}


@pytest.fixture(scope="module")
def system(pushflow_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[ChaosSystem]:
    with patched_env(SYSTEM_ENV), ChaosSystem(Path(tmp_path_factory.mktemp("campaigns"))
                                              ) as running:
        warm_up(running)
        yield running


def warm_up(system: ChaosSystem) -> None:
    """A first campaign, so the send workers have their gateway connections and tokens (the
    first sends of a fresh worker wait for TLS, OAuth and JWT) before anything is measured."""
    tokens = [apns_token() for _ in range(20)] + [fcm_token() for _ in range(20)]
    act(system, create(system, tokens, perMinute=60000), "start")
    deadline = time.monotonic() + 60
    while len(sends(system, set(tokens))) < len(tokens):
        assert time.monotonic() < deadline, "the warm-up campaign was not sent"
        time.sleep(0.3)


@pytest.mark.timeout(180)
def test_the_pacer_holds_the_rate_and_every_recipient_ends_final_once(
        system: ChaosSystem) -> None:
    # Per gateway: what the whole system sustains on a loaded 2-core machine (the pacer never
    # runs ahead of the send workers: bench/isolation.py has the full speed).
    per_second = 40
    ios, android = [apns_token() for _ in range(400)], [fcm_token() for _ in range(400)]
    campaign_id = create(system, ios + android, perMinute=per_second * 60)
    act(system, campaign_id, "start")
    done = wait_state(system, campaign_id, "finished", 60)
    assert done["progress"]["sent"] == 800 and done["progress"]["queued"] == 0
    sent_once_each(system, ios + android)
    for platform in ("ios", "android"):
        # The pacer's submissions, over the middle of the run (the first and the last second
        # hold the start's burst and the tail).
        times = submitted_times(system, campaign_id, platform)
        middle = [t for t in times if times[0] + 1.0 <= t <= times[-1] - 1.0]
        # A step marks its whole group at one instant: the first group came before the window.
        rate = sum(1 for t in middle if t > middle[0]) / (middle[-1] - middle[0])
        print(platform, "paced", rate)
        assert abs(rate - per_second) <= 0.1 * per_second, (platform, rate)
    assert {(state, status) for _t, state, status, _r in ledger(system, campaign_id)} == {
        ("submitted", "sent")}
    # campaign.finished reached the app's webhook.
    deadline = time.monotonic() + 20
    while not [e for e in map(json.loads, system.receiver.bodies())
               if e.get("type") == "campaign.finished" and e["data"]["campaignId"] == campaign_id]:
        assert time.monotonic() < deadline, "no campaign.finished webhook"
        time.sleep(0.3)


@pytest.mark.timeout(120)
def test_pause_stops_sends_within_2s_resume_goes_on_and_cancel_ends_it(
        system: ChaosSystem) -> None:
    tokens = [apns_token() for _ in range(1000)]
    campaign_id = create(system, tokens, perMinute=6000)
    act(system, campaign_id, "start")
    time.sleep(1.5)
    act(system, campaign_id, "pause")
    time.sleep(2.0)
    paused_at = len(sends(system, set(tokens)))
    assert 0 < paused_at < len(tokens)
    time.sleep(1.5)
    assert len(sends(system, set(tokens))) == paused_at
    act(system, campaign_id, "resume")
    time.sleep(1.5)
    resumed = len(sends(system, set(tokens)))
    assert resumed > paused_at
    act(system, campaign_id, "cancel")
    time.sleep(2.0)
    canceled_at = len(sends(system, set(tokens)))
    time.sleep(1.0)
    assert canceled_at == len(sends(system, set(tokens))) < len(tokens)
    rows = ledger(system, campaign_id)
    assert {state for _t, state, _s, _r in rows} == {"submitted", "canceled"}
    assert read(system, campaign_id)["state"] == "canceled"


@pytest.mark.timeout(120)
def test_a_canary_that_fails_too_much_halts_the_campaign_with_the_reason(
        system: ChaosSystem) -> None:
    # The sandbox refuses tokens starting 0bad0bad (BadDeviceToken): the first tenth is bad.
    bad = ["0bad0bad" + apns_token()[8:] for _ in range(20)]
    good = [apns_token() for _ in range(180)]
    campaign_id = create(system, bad + good, perMinute=6000,
                         canary={"percent": 10, "maxFailureRate": 0.2})
    started = act(system, campaign_id, "start")
    assert started["canary"]["size"] == 20
    halted = wait_state(system, campaign_id, "halted", 30)
    assert "canary: 20 of 20 recipients failed" in halted["haltReason"]
    assert halted["progress"]["pending"] == 180
    time.sleep(1.0)
    assert {r["token"] for r in sends(system, set(bad + good))} == set(bad)
    # Tokens the gateway reported invalid are excluded from a later campaign.
    later = create(system, [*bad[:5], apns_token()])
    assert read(system, later)["excluded"]["dead"] == 5


@pytest.mark.timeout(180)
def test_a_pacer_and_a_send_worker_killed_mid_campaign_lose_and_repeat_nothing(
        system: ChaosSystem) -> None:
    ios, android = [apns_token() for _ in range(500)], [fcm_token() for _ in range(500)]
    campaign_id = create(system, ios + android, perMinute=6000)
    act(system, campaign_id, "start")
    time.sleep(2.0)
    system.kill("pacer")
    killing = time.time()
    system.kill("worker-apns")
    killed = time.time()
    time.sleep(1.0)
    stalled = len(sends(system, set(ios + android)))
    assert 0 < stalled < 1000
    system.start("pacer")
    system.start("worker-apns")
    done = wait_state(system, campaign_id, "finished", 90)
    assert done["progress"]["sent"] == 1000
    rows = ledger(system, campaign_id)
    assert len(rows) == 1000 and {(s, st) for _t, s, st, _r in rows} == {("submitted", "sent")}
    # The pacer submitted each recipient once: one dispatch per token.
    assert dispatches_per_token(system, campaign_id) == {1}
    sent_once_each(system, android)
    # An APNs send answered while its worker was killed is sent again (at-least-once), with
    # the same apns-id (its dispatch): only inside the window before the kill.
    apns = [r for r in sends(system, set(ios)) if r["status"] == 200]
    by_token: dict[str, list[dict[str, Any]]] = {}
    for r in apns:
        by_token.setdefault(r["token"], []).append(r)
    assert set(by_token) == set(ios)
    for token, seen in by_token.items():
        assert len({r["headers"]["apns-id"] for r in seen}) == 1, token
        if len(seen) > 1:
            first = min(r["time"] for r in seen)
            assert killing - COMMIT_WINDOW_S <= first <= killed, (token, seen)


@pytest.mark.timeout(120)
def test_a_scheduled_campaign_starts_at_its_time(system: ChaosSystem) -> None:
    tokens = [fcm_token() for _ in range(30)]
    at = time.time() + 4
    when = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + f".{int(at % 1 * 1000):03d}Z"
    campaign_id = create(system, tokens, scheduleTime=when, perMinute=60000)
    assert act(system, campaign_id, "start")["state"] == "scheduled"
    wait_state(system, campaign_id, "finished", 30)
    first = sends(system, set(tokens))[0]["time"]
    assert at <= first < at + 2.0


@pytest.mark.timeout(120)
def test_retry_failed_sends_again_only_to_the_retryable_failures(system: ChaosSystem) -> None:
    # 05000500...: the sandbox answers 500 (retried, then retries_exhausted: retryable);
    # 04100410...: 410 Unregistered (dead: never again).
    flaky = ["05000500" + apns_token()[8:] for _ in range(5)]
    gone = ["04100410" + apns_token()[8:] for _ in range(5)]
    fine = [apns_token() for _ in range(10)]
    campaign_id = create(system, flaky + gone + fine, perMinute=60000)
    act(system, campaign_id, "start")
    first = wait_state(system, campaign_id, "finished", 60)["progress"]
    assert (first["sent"], first["failedByReason"]) == (10, {"retries_exhausted": 5,
                                                             "unregistered": 5})
    before = {t: n for t, n in _counts(system, flaky + gone + fine).items()}
    assert act(system, campaign_id, "retry-failed")["round"] == 2
    again = wait_state(system, campaign_id, "finished", 60)["progress"]
    assert again["failedByReason"] == {"retries_exhausted": 5, "unregistered": 5}
    after = _counts(system, flaky + gone + fine)
    assert {t for t in after if after[t] > before.get(t, 0)} == set(flaky)


def _counts(system: ChaosSystem, tokens: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in sends(system, set(tokens)):
        counts[r["token"]] = counts.get(r["token"], 0) + 1
    return counts


def rate_between(times: list[float], start: float, end: float) -> float:
    """Recipients submitted per second in [start, end)."""
    return sum(1 for t in times if start <= t < end) / (end - start)


@pytest.mark.timeout(180)
def test_a_gateway_answering_429_slows_the_campaign_which_recovers_after(
        system: ChaosSystem) -> None:
    # The sandbox answers 429 TooManyRequests to tokens starting 04290429: the campaign's first
    # recipients (and their one retry) get it, the rest are accepted.
    per_second = 40
    throttled = ["04290429" + apns_token()[8:] for _ in range(30)]
    good = [apns_token() for _ in range(900)]
    campaign_id = create(system, throttled + good, perMinute=per_second * 60)
    act(system, campaign_id, "start")
    done = wait_state(system, campaign_id, "finished", 120)
    assert done["progress"]["sent"] == len(good)
    assert {r["status"] for r in sends(system, set(throttled))} == {429}
    times = submitted_times(system, campaign_id, "ios")
    first, last = times[0], times[-1]
    # Slowed: the 429s come in the first second or so, each halving the rate.
    slowed = rate_between(times, first + 1.5, first + 3.5)
    # Recovered: the last stretch (before the final second's tail) is back at the set rate.
    recovered = rate_between(times, last - 5.0, last - 1.0)
    print("429 slow-down: slowed", slowed, "recovered", recovered, "of", per_second)
    assert slowed < 0.6 * per_second, slowed
    assert recovered >= 0.85 * per_second, recovered
    assert last - first > len(times) / per_second + 2.0  # slower than it would have been


@pytest.mark.timeout(120)
def test_the_panel_starts_a_campaign_and_shows_it_finished_with_its_chart(
        system: ChaosSystem, password_hash: str) -> None:
    app_key = system.headers["Application-Key"]
    with psycopg.connect(system.direct_db_url, autocommit=True) as db:
        app_id = apps.app_id_for(db, app_key)
    email = f"admin-{secrets.token_hex(4)}@example.com"
    with ThreadPoolExecutor(1) as pool:  # its own event loop, as the panel fixture does it
        pool.submit(asyncio.run, add_panel_user(system.direct_db_url, app_id, email, "admin",
                                                password_hash)).result()
    http = Panel(system.api_url).session(PanelUser(email, PASSWORD, root.TestApp(
        app_key, app_id, system.headers["Authorization"]), "admin"))
    bad = ["0bad0bad" + apns_token()[8:]]
    campaign_id = create(system, bad + [apns_token() for _ in range(59)], perMinute=6000)
    url = f"/panel/apps/{app_key}/campaigns/{campaign_id}"
    assert "Launch plan" in http.get(url).text
    started = http.post(url + "/start", data={"csrf_token": http.csrf})
    assert started.status_code == 303, started.text
    wait_state(system, campaign_id, "finished", 60)
    html = http.get(url).text
    assert ">finished</span>" in html
    assert "<th scope=\"row\">Sent</th><td>59</td>" in html
    assert "invalid_token 1" in html
    heights = [float(h) for h in re.findall(r'<rect [^>]*height="([\d.]+)"', html)]
    assert "<svg" in html and sum(heights) > 0, "the chart has no bars"
