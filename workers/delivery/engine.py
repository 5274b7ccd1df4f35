"""The per-process delivery engine: runs on the process's one long-lived asyncio loop.

For every batch of jobs it: drops the expired (never sent late), re-reports dispatches the guard
says were already accepted, groups by app and lane, loads the app's credentials (cached), refuses
oversized payloads, takes rate-limit tokens from the bucket of that app, gateway and lane (parking
what does not fit, without holding up other apps or the other lane),
hands each job to the gateway (APNs or FCM) as its own task, many in flight, and turns every
outcome into a final result or a retry through the queue (committer). No sleeping anywhere:
delays are timers on the loop or ETAs on re-published messages.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from domain.campaigns import throttle
from shared.gateway_payloads import payload_size_error
from shared.jobs import FailureReason, GatewayResponse, SendJob, SendResult
from shared.observability.logs import job_log
from shared.queues import Lane
from shared.settings import Settings
from shared.taskmessage import build_message
from shared.tokens import mask
from workers.delivery.appconfig import AppConfig, AppConfigCache
from workers.delivery.bulk_limit import BulkLimit
from workers.delivery.committer import Committer, guard_key
from workers.delivery.events import TaskEvents
from workers.delivery.gateway import Gateway
from workers.delivery.metrics import DeliveryMetrics
from workers.delivery.outcomes import Accepted, Failed, Outcome, Retry
from workers.delivery.ratelimit import RateLimiter
from workers.delivery.retry import eta_iso, retry_delay
from workers.delivery.window import SendWindow

log = logging.getLogger(__name__)


@dataclass(slots=True, eq=False)
class Work:
    job: SendJob
    queue: str  # the lane it came from; a retry goes back there
    task_name: str
    field: str | None = None  # in-flight hash field (batched consumer); None: Celery acks
    waiter: asyncio.Future[None] | None = None  # per-task path: resolved once committed
    done: bool = False  # its outcome or retry is handed to the committer
    task_id: str | None = None  # of its message (batched consumer): Celery task events, retries
    taken_at: float = 0.0  # when the engine got it to send (a held retry: once due)
    latency: float | None = None  # seconds the gateway took to answer; None: no request made


class Engine:
    def __init__(
        self,
        settings: Settings,
        redis: Redis[bytes],
        gateway: Gateway,
        committer: Committer,
        configs: AppConfigCache,
        metrics: DeliveryMetrics,
        visibility_timeout: float,
        on_done: Callable[[int], None] = lambda n: None,
        events: TaskEvents | None = None,
        window: int | None = None,
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.gateway = gateway
        self.committer = committer
        self.configs = configs
        self.metrics = metrics
        self._latency = metrics.latency.labels(gateway.name)  # observed once per send
        self.limiter = RateLimiter(redis)
        self.visibility_timeout = visibility_timeout
        self.on_done = on_done  # told how many works finished (the consumer takes more)
        self.events = events or TaskEvents()  # Celery task events of each send (Flower)
        self.active_in: dict[Lane, int] = {"tx": 0, "bulk": 0}  # works taken and not finished
        self.parked: dict[Lane, int] = {"tx": 0, "bulk": 0}
        self.accepting = True
        self._tasks: set[asyncio.Task[None]] = set()
        # Named in every attempt the DLR records, so support can find this process's logs.
        self.worker = f"{gateway.name}-{socket.gethostname()}-{os.getpid()}"
        # Sends on the wire at once; what is ready beyond it waits its turn (window.py).
        self.window: SendWindow[tuple[AppConfig, Work]] = SendWindow(
            window or settings.delivery_max_in_flight, self._send_ready, self._spawn,
            lambda: self.accepting)
        # Bulk sends this worker may hold: follows the answers' latency (bulk_limit.py).
        self.bulk_limit = BulkLimit(settings.delivery_bulk_min_in_flight,
                                    settings.delivery_bulk_max_in_flight)
        self.throttle_reported_at = 0.0  # the last bulk 429 told to the pacer (monotonic)

    def submit(self, works: list[Work]) -> None:
        """Start processing (call on the loop thread). Counts as active until finished.
        After ``stop_accepting`` (shutdown) new work is left in the in-flight hash, which the
        runtime hands back to the queue."""
        if works and self.accepting:
            now = time.time()
            for w in works:
                w.taken_at = now
                self.active_in[w.job["lane"]] += 1
            self._spawn(self._process(works))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _process(self, works: list[Work]) -> None:
        try:
            now = time.time()
            live = []
            for w in works:
                ttl = w.job.get("ttl")
                if ttl is not None and ttl <= now:
                    self._final(w, "failed", "expired", None, GatewayResponse(
                        status=0, detail="ttl passed before the push could be sent"))
                else:
                    live.append(w)
            live = await self._skip_already_sent(live)
            by_app: dict[tuple[int, Lane], list[Work]] = {}
            for w in live:
                by_app.setdefault((w.job["appId"], w.job["lane"]), []).append(w)
            for (app_id, lane), group in by_app.items():
                self._spawn(self._send_app_safely(app_id, lane, group))
        except Exception:
            log.exception("delivery batch failed; its jobs go back on the queue")
            self._recover(works)

    async def _send_app_safely(self, app_id: int, lane: Lane, works: list[Work]) -> None:
        try:
            await self._send_app(app_id, lane, works)
        except Exception:
            log.exception("sending for app %s failed; its jobs go back on the queue", app_id)
            self._recover(works)

    def _recover(self, works: list[Work]) -> None:
        """A bug or an outage (Redis) broke a batch: put its unfinished jobs back on the queue
        a second from now, attempt unchanged, so none is stuck in this process."""
        for w in works:
            if w.done:
                continue
            raw = build_message(w.task_name, w.queue, [w.job], eta=eta_iso(time.time() + 1.0),
                                retries=w.job["attempt"] - 1, task_id=w.task_id)
            self.events.retried(w, "requeued after an error")
            self.committer.requeue(w.queue, raw, w.field, w.waiter)
            self._finished(w)

    async def _skip_already_sent(self, works: list[Work]) -> list[Work]:
        """A redelivered dispatch that a gateway already accepted is re-reported, not re-sent."""
        if not works:
            return works
        seen = await self.redis.mget([guard_key(w.job["dispatchId"]) for w in works])
        out = []
        for w, value in zip(works, seen, strict=True):
            if value is None:
                out.append(w)
                continue
            previous: SendResult = orjson.loads(value)
            self.metrics.redelivered.labels(self.gateway.name).inc()
            log.info("redelivered %s token=%s was already accepted: re-reported, not resent",
                     w.job["dispatchId"], mask(w.job["token"]), extra=_job_log(w.job))
            self.events.finished(w, previous)
            self.committer.final(previous, w.field, guard=False, waiter=w.waiter)
            self._finished(w)
        return out

    async def _send_app(self, app_id: int, lane: Lane, works: list[Work]) -> None:
        try:
            config = await self.configs.get(app_id)
        except Exception as exc:  # database down: keep the messages (redelivered), retry soon
            log.warning("cannot load config of app %s: %s", app_id, exc)
            self._park(lane, works, 2.0)
            return
        if config.credential is None:
            detail = config.problem or f"no {self.gateway.name.upper()} credentials for this app"
            for w in works:
                self._final(w, "failed", "auth_config", None, GatewayResponse(status=0,
                                                                              detail=detail))
            return
        sendable = []
        for w in works:
            problem = payload_size_error(w.job["message"], w.job["platform"],
                                         self.settings.max_payload_bytes)
            if problem:
                self._final(w, "failed", "bad_message", None,
                            GatewayResponse(status=0, detail=problem))
            else:
                sendable.append(w)
        if not sendable:
            return
        grant = await self.limiter.take(app_id, self.gateway.name, lane,
                                        config.send_rates.of(self.gateway.name, lane),
                                        len(sendable))
        if grant.granted < len(sendable):
            self.metrics.rate_limited.labels(self.gateway.name).inc(len(sendable) - grant.granted)
            self.metrics.rate_limit_wait.labels(self.gateway.name).observe(grant.wait_seconds)
            self._log_parked(app_id, sendable[grant.granted:], grant.wait_seconds)
            self._park(lane, sendable[grant.granted:], grant.wait_seconds)
            sendable = sendable[: grant.granted]
        if sendable:
            now = time.time()
            for w in sendable:
                if w.job["attempt"] == 1:
                    self.metrics.queue_wait.labels(self.gateway.name, w.job["lane"]).observe(
                        max(0.0, now - w.job.get("enqueuedAt", now)))
            # Each send settled the moment its answer comes: a slow send holds its own slot
            # only, and the next ready send takes the slot at once.
            self.window.add([(config, w) for w in sendable])

    async def _send_ready(self, ready: tuple[AppConfig, Work]) -> None:
        await self._send_one(*ready)

    async def _send_one(self, config: AppConfig, w: Work) -> None:
        try:
            self.events.started(w)
            started = time.perf_counter()
            outcome = await self.gateway.send(config, w.job)
            w.latency = time.perf_counter() - started
            self.bulk_limit.observe(w.latency, started + w.latency, self.busy_in("bulk"))
            self._latency.observe(w.latency)
            self._settle(w, outcome)
        except Exception:
            log.exception("sending %s failed; it goes back on the queue", w.job["dispatchId"])
            self._recover([w])

    def _log_parked(self, app_id: int, works: list[Work], wait: float) -> None:
        """One line per API request among the parked jobs, so each carries its uniqId."""
        by_request: dict[str, list[Work]] = {}
        for w in works:
            by_request.setdefault(w.job["requestId"], []).append(w)
        for request_id, group in by_request.items():
            log.info("rate limit: %d send(s) of app %s wait %.2fs (first %s)", len(group),
                     app_id, wait, group[0].job["dispatchId"], extra=job_log(request_id))

    def _park(self, lane: Lane, works: list[Work], wait: float) -> None:
        """Hold jobs of one lane on the loop and try again later. They stay in flight (safe if we
        die) but do not count against the consumer's room (``busy``), so other apps keep
        flowing; once a lane holds ``delivery_max_parked`` the consumer stops taking from that
        lane only (``full_lanes``), so a rate-limited bulk backlog stays in the queue instead of
        moving into this process, and never stops transactional work."""
        self.parked[lane] += len(works)
        loop = asyncio.get_running_loop()
        loop.call_later(max(wait, 0.001), self._unpark, lane, works)

    def _unpark(self, lane: Lane, works: list[Work]) -> None:
        self.parked[lane] -= len(works)
        self._spawn(self._process(works))

    @property
    def active(self) -> int:
        """Works taken and not finished, of both lanes."""
        return sum(self.active_in.values())

    @property
    def busy(self) -> int:
        """Works occupying send capacity: active ones that are not parked."""
        return self.active - sum(self.parked.values())

    def busy_in(self, lane: Lane) -> int:
        """``busy`` of one lane."""
        return self.active_in[lane] - self.parked[lane]

    def full_lanes(self) -> set[Lane]:
        """The lanes the consumer must not take more from: their parking bound is reached."""
        bound = self.settings.delivery_max_parked
        return {lane for lane, n in self.parked.items() if n >= max(bound, 1)}

    def _settle(self, w: Work, outcome: Outcome) -> None:
        job = w.job
        if job["lane"] == "bulk" and throttle.is_throttle(outcome.response.get("status")):
            self._report_throttled()
        if isinstance(outcome, Accepted):
            self._final(w, "sent", None, outcome.gateway_id, outcome.response)
        elif isinstance(outcome, Failed):
            self._final(w, "failed", outcome.reason, None, outcome.response,
                        outcome.invalidated_at)
        elif job["attempt"] >= self.settings.max_attempts:
            self._final(w, "failed", "retries_exhausted", None, outcome.response)
        else:
            self._requeue(w, outcome)

    def _report_throttled(self) -> None:
        """Tell the pacer that the gateway answered a campaign's send with 429 (at most every
        ``throttle.REPORT_EVERY_SECONDS``: 429s come in bursts)."""
        now = time.monotonic()
        if now - self.throttle_reported_at >= throttle.REPORT_EVERY_SECONDS:
            self.throttle_reported_at = now
            self._spawn(self._write_throttled(time.time()))

    async def _write_throttled(self, at: float) -> None:
        try:
            await throttle.report_throttled(self.redis, self.gateway.name, at)
        except RedisError:  # the pacer still slows down on the tx lane's load; not worth a retry
            log.warning("could not report a 429 to the pacer", exc_info=True)

    def _requeue(self, w: Work, outcome: Retry) -> None:
        s = self.settings
        delay = retry_delay(w.job["attempt"], base=s.retry_base_seconds, cap=s.retry_max_seconds,
                            visibility_timeout=self.visibility_timeout,
                            retry_after=outcome.retry_after, floor=outcome.floor)
        job: SendJob = {**w.job, "attempt": w.job["attempt"] + 1}
        # The same task id, as Celery's own retries keep: Flower shows one task, retried.
        raw = build_message(w.task_name, w.queue, [job], eta=eta_iso(time.time() + delay),
                            retries=w.job["attempt"], task_id=w.task_id)
        self.metrics.retries.labels(self.gateway.name, outcome.response.get("reason", "")).inc()
        log.info("retry %s token=%s attempt=%d in %.1fs (%s)", job["dispatchId"],
                 mask(job["token"]), job["attempt"], delay, outcome.response.get("reason"),
                 extra=_job_log(job))
        self.events.retried(w, f"{outcome.response.get('reason') or 'retry'}: attempt "
                               f"{job['attempt']} in {delay:.1f}s")
        # The retried attempt goes to the DLR with the re-publish, in the same flush.
        report = self._report(w, "queued", None, None, outcome.response)
        report["retryAt"] = report["at"] + delay
        self.committer.requeue(w.queue, raw, w.field, w.waiter, report=report)
        self._finished(w)

    def _final(self, w: Work, status: str, reason: FailureReason | None, gateway_id: str | None,
               response: GatewayResponse | None, invalidated_at: float | None = None) -> None:
        job = w.job
        result = self._report(w, "sent" if status == "sent" else "failed", reason, gateway_id,
                              response, invalidated_at)
        self.metrics.sends.labels(self.gateway.name, reason or "sent").inc()
        if reason is not None:
            answer = response or {}
            log.log(logging.WARNING if reason == "auth_config" else logging.INFO,
                    "failed %s token=%s reason=%s attempts=%d (%s %s)", job["dispatchId"],
                    mask(job["token"]), reason, job["attempt"], answer.get("status"),
                    answer.get("reason") or answer.get("detail"), extra=_job_log(job))
        self.events.finished(w, result)
        self.committer.final(result, w.field, guard=status == "sent", waiter=w.waiter)
        self._finished(w)

    def _report(self, w: Work, status: Literal["sent", "failed", "queued"],
                reason: FailureReason | None, gateway_id: str | None,
                response: GatewayResponse | None, invalidated_at: float | None = None
                ) -> SendResult:
        """What the DLR records of this attempt: its outcome and where and how it was made."""
        job = w.job
        return {
            "dispatchId": job["dispatchId"], "messageId": job["messageId"],
            "appId": job["appId"], "token": job["token"], "platform": job["platform"],
            "status": status, "reason": reason, "gatewayId": gateway_id,
            "gatewayResponse": response, "attempts": job["attempt"], "at": time.time(),
            "invalidatedAt": invalidated_at, "requestId": job["requestId"],
            "worker": self.worker, "takenAt": w.taken_at,
            "latencyMs": None if w.latency is None else round(w.latency * 1000, 3),
        }

    def _finished(self, w: Work) -> None:
        w.done = True
        self.active_in[w.job["lane"]] -= 1
        self.on_done(1)

    async def drain(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self._tasks and time.monotonic() < deadline:
            await asyncio.wait(set(self._tasks), timeout=max(0.0, deadline - time.monotonic()))


def _job_log(job: SendJob) -> dict[str, Any]:
    return job_log(job["requestId"], dispatchId=job["dispatchId"])
