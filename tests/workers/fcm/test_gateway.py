"""The FCM gateway in this process against the sandbox (real HTTP/2 over TLS, real OAuth token
endpoint): the request firebase-admin would send, one OAuth refresh for many sends, a refused
access token refreshed once, refused credentials and an unreachable token endpoint."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from redis.asyncio import Redis

from domain.keys.send_rates import SendRates
from sandbox.testing import SandboxProcess
from shared.credentials import FcmServiceAccount, parse_fcm_service_account
from shared.gateway_payloads import fcm_message
from shared.jobs import SendJob
from shared.settings import get_settings
from workers.delivery.appconfig import AppConfig
from workers.delivery.outcomes import Accepted, Failed, Outcome, Retry
from workers.delivery.runtime import new_loop
from workers.delivery.testing import fcm_token, make_job
from workers.fcm.gateway import FcmGateway
from workers.fcm.oauth import AccessTokens, _Account

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    with asyncio.Runner(loop_factory=new_loop) as runner:  # uvloop, like the worker
        return runner.run(coro)


@pytest.fixture()
def account(sandbox: SandboxProcess) -> FcmServiceAccount:
    return parse_fcm_service_account(sandbox.service_account_file.read_bytes())


def new_gateway() -> FcmGateway:
    settings = get_settings()  # points at the sandbox (the sandbox fixture set the env)
    return FcmGateway(settings, Redis.from_url(settings.redis_url))


async def send(gateway: FcmGateway, account: FcmServiceAccount, jobs: list[SendJob],
               close: bool = True) -> list[Outcome]:
    config = AppConfig(1, account, SendRates({}, {"tx": 0.0, "bulk": 0.0}))
    try:
        return list(await asyncio.gather(*(gateway.send(config, job) for job in jobs)))
    finally:
        if close:
            await gateway.close()


def fcm_stats(sandbox: SandboxProcess) -> tuple[int, int]:
    """(FCM requests rejected, OAuth tokens issued) so far."""
    stats = sandbox.stats()
    return stats["fcm"]["rejected"], stats["oauth"]["tokensIssued"]


def test_sends_what_firebase_admin_would(sandbox: SandboxProcess,
                                         account: FcmServiceAccount) -> None:
    job = make_job(1, "android", fcm_token(), badge=1, data={"k": "v"})
    [outcome] = run(send(new_gateway(), account, [job]))
    assert isinstance(outcome, Accepted)
    assert outcome.gateway_id.startswith(f"projects/{account.project_id}/messages/")
    [req] = sandbox.requests("fcm", token=job["token"])
    # Our one encoder (the guard test checks it writes what firebase-admin would).
    assert req["payload"] == {"message": fcm_message(job["message"], token=job["token"])}
    assert req["headers"]["x-goog-api-format-version"] == "2"
    assert req["headers"]["x-firebase-client"].startswith("fire-admin-python/")


def test_many_sends_share_one_token_refresh(sandbox: SandboxProcess,
                                            account: FcmServiceAccount) -> None:
    _, issued = fcm_stats(sandbox)
    gateway = new_gateway()

    async def two_batches() -> list[Outcome]:
        first = await send(gateway, account, [make_job(1, "android", fcm_token())
                                              for _ in range(100)], close=False)
        return first + await send(gateway, account, [make_job(1, "android", fcm_token())])

    outcomes = run(two_batches())
    assert all(isinstance(o, Accepted) for o in outcomes), outcomes[:3]
    assert fcm_stats(sandbox)[1] == issued + 1


def test_refused_access_token_is_refreshed_once_and_resent(sandbox: SandboxProcess,
                                                           account: FcmServiceAccount) -> None:
    gateway = new_gateway()
    entry = gateway.tokens._account(account)  # a cached token FCM no longer accepts
    entry.token, entry.good_until = "ya29.revoked", time.monotonic() + 3600
    rejected, issued = fcm_stats(sandbox)
    jobs = [make_job(1, "android", fcm_token()) for _ in range(20)]
    outcomes = run(send(gateway, account, jobs))
    assert all(isinstance(o, Accepted) for o in outcomes), outcomes[:3]
    assert fcm_stats(sandbox) == (rejected + 20, issued + 1)  # 20 refused, ONE refresh
    assert all(len(sandbox.requests("fcm", token=j["token"])) == 1 for j in jobs)


class RevokedTokens(AccessTokens):
    """Every token it obtains is one FCM refuses (as after the key was revoked at Google)."""

    async def _refresh(self, entry: _Account) -> None:
        entry.token, entry.good_until = f"ya29.revoked{time.time_ns()}", time.monotonic() + 60


def test_refused_again_after_refresh_is_auth_config(sandbox: SandboxProcess,
                                                    account: FcmServiceAccount) -> None:
    gateway = new_gateway()
    gateway.tokens = RevokedTokens()
    rejected, _ = fcm_stats(sandbox)
    [outcome] = run(send(gateway, account, [make_job(1, "android", fcm_token())]))
    assert isinstance(outcome, Failed) and outcome.reason == "auth_config"
    assert (outcome.response["status"], outcome.response["reason"]) == (401, "UNAUTHENTICATED")
    assert fcm_stats(sandbox)[0] == rejected + 2  # the first try and one after the refresh


def test_credential_refused_by_token_endpoint_is_auth_config(
        sandbox: SandboxProcess, account: FcmServiceAccount) -> None:
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()
    revoked = FcmServiceAccount({**account.info, "private_key": other_key})
    job = make_job(1, "android", fcm_token())
    [outcome] = run(send(new_gateway(), revoked, [job]))
    assert isinstance(outcome, Failed) and outcome.reason == "auth_config"
    assert outcome.response["reason"] == "OAuthRefused"
    assert not sandbox.requests("fcm", token=job["token"])


def test_unreachable_token_endpoint_is_retried(account: FcmServiceAccount) -> None:
    unreachable = FcmServiceAccount({**account.info, "token_uri": "http://127.0.0.1:9/token"})
    jobs = [make_job(1, "android", fcm_token()) for _ in range(5)]
    outcomes = run(send(new_gateway(), unreachable, jobs))
    assert all(isinstance(o, Retry) and o.response["reason"] == "OAuthError" for o in outcomes)
