"""Submitting a push, whoever asks: ``POST /v2.1/push`` now, automation rules and campaigns next.

``submit`` takes an already validated request (``shared.payload.PushRequest``) and:

1. decides each token's platform (``domain.messages.plan``), looking the tokens up among the
   app's registered devices only when some token's shape says nothing, and refuses the tokens
   of a platform the app has no credentials for (``domain.messages.configured``, cached);
2. checks the limits that depend on the platforms the message goes to;
3. builds the message, one dispatch per accepted token, each with the submission's lane and
   source, and the send jobs (none when scheduled: the outbox publishes at ``scheduleTime``);
4. stores them through the outlet's writer -- which publishes only after the commit
   (``domain.messages.outbox.publish_messages``) -- or, with an idempotency key, in the statement
   that claims the key. When a registered device disagrees with the plan (registered under
   another platform, or invalidated meanwhile), nothing is stored: the devices are looked up
   and the plan redone, a few times.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Literal, Protocol

from prometheus_client import Counter

from domain.devices.registry import Verdict, devices_of_users, verdicts
from domain.messages import outbox, rows
from domain.messages.configured import ConfiguredPlatforms
from domain.messages.idempotency import StoredAnswer, stored_answer
from domain.messages.outbox import Broker, build_job
from domain.messages.plan import Plan, RejectedToken, plan_tokens, token_shapes
from domain.messages.rows import NewMessage
from shared.ids import new_id
from shared.observability import metrics
from shared.payload import FieldError, Limits, PushRequest, check_platform_limits
from shared.queues import Lane
from shared.settings import Settings
from shared.tokens import PLATFORMS

_DEVICE_ROUNDS = 3  # devices can change between our look-up and the insert; retry a little
# Metric children resolved once: ``.labels()`` hashes and locks on every call.
_DISPATCHES: Mapping[tuple[str, str], Counter] = MappingProxyType({
    (platform, lane): metrics.INTAKE_DISPATCHES.labels(platform, lane)
    for platform in PLATFORMS for lane in ("tx", "bulk")})


class SendingApp(Protocol):
    """The app a push is sent for (``producer.auth.Caller`` is one)."""

    @property
    def app_id(self) -> int: ...
    @property
    def limits(self) -> Limits: ...


class Writer(Protocol):
    async def store(self, message: NewMessage) -> bool:
        """True once stored (and published, or left to the outbox); False when a registered
        device disagrees with the message's plan (nothing stored)."""


class Outlet(Broker, Protocol):
    """Where submissions go (the API's ``producer.state.AppState`` is one)."""

    @property
    def settings(self) -> Settings: ...
    @property
    def writer(self) -> Writer: ...
    @property
    def platforms(self) -> ConfiguredPlatforms: ...


@dataclass(frozen=True)
class Source:
    """Where a push came from: the API, or the automation rule or campaign that made it."""

    kind: Literal["api", "automation", "campaign"] = "api"
    ref: str | None = None  # the rule's or campaign's id


API = Source()


@dataclass(frozen=True, slots=True)
class Dispatch:
    id: str
    token: str
    platform: str
    status: str  # queued, or scheduled


@dataclass(frozen=True)
class Submitted:
    message_id: str
    external_id: str | None
    dispatches: list[Dispatch]
    rejected: list[RejectedToken]  # tokens refused (the others were accepted)


@dataclass(frozen=True)
class Idempotency:
    """Submit at most once per key: ``render`` gives the answer stored for repeats."""

    key: str
    request_hash: bytes  # ``domain.messages.idempotency.body_hash`` of the request's body
    render: Callable[[Submitted], bytes]


class NothingAccepted(Exception):
    """Every token was refused."""

    def __init__(self, rejected: list[RejectedToken]) -> None:
        super().__init__(f"{len(rejected)} token(s) refused")
        self.rejected = rejected


class LimitsExceeded(Exception):
    """The content exceeds a limit of a platform it goes to."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(", ".join(e.parameter for e in errors))
        self.errors = errors


class TryAgain(Exception):
    """Nothing was stored, and the same submission may succeed later."""


async def _verdicts(outlet: Outlet, app_id: int, tokens: list[str]) -> dict[str, Verdict]:
    async with outlet.pool.connection() as conn:
        return await verdicts(conn, app_id, tokens)


async def submit(app: SendingApp, request: PushRequest, *, outlet: Outlet, source: Source = API,
                 lane: Lane = "tx", idempotency: Idempotency | None = None,
                 request_id: str = "", now: float | None = None) -> Submitted | StoredAnswer:
    """Store and queue one push (see the module docstring). A ``StoredAnswer`` is the first
    answer to the idempotency key, when an identical submission got there first."""
    now = time.time() if now is None else now
    no_devices: list[RejectedToken] = []
    if request.user_ids:
        request, no_devices = await _with_user_devices(outlet, app.app_id, request)
    configured = outlet.platforms.cached(app.app_id)
    if configured is None:
        configured = await outlet.platforms.get(outlet.pool, app.app_id)
    shapes = token_shapes(request.tokens)
    # Only tokens whose shape says nothing can be decided by a registered device's platform.
    needs_lookup = any(shape is None for shape in shapes)
    devices = await _verdicts(outlet, app.app_id, request.tokens) if needs_lookup else None
    scheduled = request.schedule_time is not None and request.schedule_time.timestamp() > now
    for _round in range(_DEVICE_ROUNDS):
        plan = plan_tokens(request, devices, shapes, configured)
        plan.rejected[:0] = no_devices
        if not plan.accepted:
            raise NothingAccepted(plan.rejected)
        limit_errors = check_platform_limits(request.content,
                                             {p for _, _, p in plan.accepted}, app.limits)
        if limit_errors:
            raise LimitsExceeded(limit_errors)
        message = _new_message(request, app.app_id, plan, request_id, scheduled, source, lane)
        submitted = Submitted(message.message_id, request.external_id, [
            Dispatch(did, token, platform, message.status)
            for did, token, platform in zip(message.dispatch_ids, message.tokens,
                                            message.platforms, strict=True)], plan.rejected)
        if idempotency is None:
            if await outlet.writer.store(message):
                _count(message, plan)
                return submitted
        else:
            outcome = await _store_idempotent(outlet, message, idempotency,
                                              idempotency.render(submitted))
            if outcome == "inserted":
                _count(message, plan)
                return submitted
            if outcome == "claimed":  # an identical submission got there first (or concurrently)
                async with outlet.pool.connection() as conn:
                    first = await stored_answer(conn, app.app_id, idempotency.key,
                                                idempotency.request_hash,
                                                outlet.settings.idempotency_ttl_hours)
                if first is None:
                    raise TryAgain("Concurrent request with this Idempotency-Key")
                return first
        devices = await _verdicts(outlet, app.app_id, request.tokens)
    raise TryAgain("Registered devices changed during the request; retry")


async def _with_user_devices(outlet: Outlet, app_id: int, request: PushRequest
                             ) -> tuple[PushRequest, list[RejectedToken]]:
    """The request with its users' valid registered devices added to its tokens, and a refusal
    (``NO_DEVICES``) for each user who has none."""
    async with outlet.pool.connection() as conn:
        devices = await devices_of_users(conn, app_id, request.user_ids)
    users = {d.user_id for d in devices}
    tokens = list(dict.fromkeys([*request.tokens, *(d.token for d in devices)]))
    missing = [RejectedToken(i, user, "NO_DEVICES", "This user has no valid registered device",
                             parameter=f"userIds[{i}]")
               for i, user in enumerate(request.user_ids) if user not in users]
    return replace(request, tokens=tokens), missing


def _count(message: NewMessage, plan: Plan) -> None:
    if len(message.platforms) == 1:
        _DISPATCHES[message.platforms[0], message.lane].inc()
    else:
        for platform in set(message.platforms):
            _DISPATCHES[platform, message.lane].inc(message.platforms.count(platform))
    for rejected in plan.rejected:
        metrics.INTAKE_REJECTED_TOKENS.labels(rejected.code).inc()


def _new_message(req: PushRequest, app_id: int, plan: Plan, request_id: str, scheduled: bool,
                 source: Source, lane: Lane) -> NewMessage:
    message_id = new_id()
    ids = [new_id() for _ in plan.accepted]
    tokens = [t for _, t, _ in plan.accepted]
    platforms = [p for _, _, p in plan.accepted]
    jobs = [] if scheduled else [
        build_job(did, message_id, app_id, token, platform, req.content, req.ttl, request_id,
                  lane)
        for did, token, platform in zip(ids, tokens, platforms, strict=True)]
    return NewMessage(
        app_id=app_id, message_id=message_id, external_id=req.external_id,
        content=dict(req.content), webhook_url=req.webhook_url,
        schedule_time=req.schedule_time if scheduled else None, ttl=req.ttl,
        request_id=request_id, status="scheduled" if scheduled else "queued",
        dispatch_ids=ids, tokens=tokens, platforms=list(platforms), jobs=jobs, lane=lane,
        source=source.kind, source_ref=source.ref)


async def _store_idempotent(outlet: Outlet, message: NewMessage, idempotency: Idempotency,
                            answer: bytes) -> str:
    async with outlet.pool.connection() as conn:
        outcome = await rows.insert_idempotent(
            conn, message, outlet.settings.outbox_sweep_after_seconds, idempotency.key,
            idempotency.request_hash, answer, outlet.settings.idempotency_ttl_hours)
    if outcome == "inserted":
        await outbox.publish_messages(outlet, [message])
    return outcome


class DirectWriter:
    """A ``Writer`` storing each message in a statement of its own, then publishing it: for
    callers without the API's grouping of concurrent requests (``producer.writer``)."""

    def __init__(self, broker: Broker, sweep_after_seconds: float) -> None:
        self.broker = broker
        self.sweep_after = sweep_after_seconds

    async def store(self, message: NewMessage) -> bool:
        async with self.broker.pool.connection() as conn:
            stored = await rows.insert_batch(conn, [message], self.sweep_after)
        if message.message_id not in stored:
            return False
        await outbox.publish_messages(self.broker, [message])
        return True
