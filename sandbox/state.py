"""What the sandbox remembers while it runs: fault rules, latency, counters, recent requests.

One ``SandboxState`` per process, owned by the server and passed to every gateway (no module
globals). Recording keeps raw values; decoding to JSON happens only when ``/requests`` is read,
so the hot path pays for a tuple append, not for serialisation.
"""

from __future__ import annotations

import functools
import itertools
import random
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import orjson

from sandbox.messages import Answer, H2Behaviour, Request

GATEWAYS = ("apns", "fcm")
RECORD_LIMIT = 20_000


class FaultError(ValueError):
    """A fault rule that cannot be used; the control API answers 400 with this message."""


@dataclass(slots=True)
class FaultRule:
    id: int
    gateway: str
    kind: str
    match: str | None = None  # token prefix
    percent: float | None = None
    times: int | None = None  # remaining applications; None = unlimited
    retry_after: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "gateway": self.gateway,
            "kind": self.kind,
            "match": self.match,
            "percent": self.percent,
            "times": self.times,
            "retryAfter": self.retry_after,
        }


@dataclass(slots=True)
class GatewayStats:
    requests: int = 0
    accepted: int = 0
    rejected: int = 0
    abandoned: int = 0  # 2xx decided, but the client was gone before the answer went out
    connections: int = 0
    duplicates: int = 0  # accepted sends of a push already accepted (see ``push_identity``)
    refused_streams: int = 0  # streams over SETTINGS_MAX_CONCURRENT_STREAMS: REFUSED_STREAM
    stream_limit_goaways: int = 0  # connections closed for it (strict mode)
    accepted_by_token: Counter[str] = field(default_factory=Counter)
    accepted_pushes: set[int] = field(default_factory=set)  # hashes of push_identity
    # APNs: provider JWT string -> its iat; FCM: OAuth access tokens seen.
    jwts: dict[str, int | None] = field(default_factory=dict)
    access_tokens: set[str] = field(default_factory=set)

    def to_json(self, gateway: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "requests": self.requests,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "abandoned": self.abandoned,
            "duplicates": self.duplicates,
            "connections": self.connections,
            "refusedStreams": self.refused_streams,
            "streamLimitGoaways": self.stream_limit_goaways,
            "acceptedByToken": dict(self.accepted_by_token),
        }
        if gateway == "apns":
            out["jwts"] = len(self.jwts)
            out["jwtIats"] = sorted({iat for iat in self.jwts.values() if iat is not None})
        else:
            out["accessTokens"] = len(self.access_tokens)
        return out


@dataclass(slots=True)
class Record:
    """One answered request, raw; ``extra`` holds gateway-specific decoded facts (JWT claims)."""

    at: float
    gateway: str
    token: str
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    reason: str | None
    extra: dict[str, Any] | None
    delivered: bool = True  # False for FCM validate_only: checked but not delivered
    http: str = "h2"  # the protocol spoken: "h2" or "http/1.1"
    conn_id: int = 0
    answered_at: float | None = None  # 2xx only: when the answer went out (or was abandoned)
    abandoned: bool = False

    @classmethod
    def of(
        cls,
        req: Request,
        gateway: str,
        token: str,
        status: int,
        reason: str | None,
        extra: dict[str, Any] | None = None,
        delivered: bool = True,
    ) -> Record:
        return cls(
            time.time(),
            gateway,
            token,
            req.method,
            req.path,
            req.headers,
            req.body,
            status,
            reason,
            extra,
            delivered,
            req.conn.protocol,
            req.conn.conn_id,
        )


class SandboxState:
    def __init__(self, latency_ms: float = 0.0) -> None:
        self.latency = latency_ms / 1000.0
        self.http2 = H2Behaviour()  # for connections opened from now on
        self.stats = {g: GatewayStats() for g in GATEWAYS}
        self.records: deque[Record] = deque(maxlen=RECORD_LIMIT)
        self.oauth_tokens_issued = 0
        self._faults: list[FaultRule] = []
        self._fault_ids = itertools.count(1)
        self._conn_ids = itertools.count(1)
        self._random = random.Random()

    # -- connections ----------------------------------------------------------------------------
    def new_connection(self, gateway: str) -> int:
        if gateway in self.stats:
            self.stats[gateway].connections += 1
        return next(self._conn_ids)

    def set_http2(self, body: dict[str, Any]) -> H2Behaviour:
        unknown = set(body) - {"maxConcurrentStreams", "strict", "settingsDelayMs"}
        if unknown:
            raise FaultError(f"unknown field(s): {sorted(unknown)}")
        old = self.http2
        limit = body.get("maxConcurrentStreams", old.max_concurrent_streams)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100_000:
            raise FaultError("maxConcurrentStreams must be an integer from 1 to 100000")
        strict = body.get("strict", old.strict)
        if not isinstance(strict, bool):
            raise FaultError("strict must be true or false")
        delay = checked_ms(
            body.get("settingsDelayMs", old.settings_delay * 1000), "settingsDelayMs", 10_000
        )
        self.http2 = H2Behaviour(limit, strict, delay / 1000.0)
        return self.http2

    def over_stream_limit(self, gateway: str, closed: bool) -> None:
        """A client opened a stream beyond the limit: refused, or its connection ``closed``."""
        if gateway in self.stats:
            st = self.stats[gateway]
            if closed:
                st.stream_limit_goaways += 1
            else:
                st.refused_streams += 1

    # -- faults ---------------------------------------------------------------------------------
    def add_fault(self, rule: dict[str, Any], kinds: dict[str, frozenset[str]]) -> FaultRule:
        gateway = rule.get("gateway")
        if gateway not in kinds:
            raise FaultError(f"gateway must be one of {sorted(kinds)}")
        kind = rule.get("kind")
        if kind not in kinds[gateway]:
            raise FaultError(f"kind for {gateway} must be one of {sorted(kinds[gateway])}")
        match = rule.get("match")
        if match is not None and not isinstance(match, str):
            raise FaultError("match must be a token prefix string or null")
        percent = rule.get("percent")
        if percent is not None and (
            isinstance(percent, bool)
            or not isinstance(percent, int | float)
            or not 0 <= percent <= 100
        ):
            raise FaultError("percent must be a number from 0 to 100 or null")
        times = _optional_int(rule, "times", minimum=1)
        retry_after = _optional_int(rule, "retryAfter", minimum=0)
        unknown = set(rule) - {"gateway", "kind", "match", "percent", "times", "retryAfter"}
        if unknown:
            raise FaultError(f"unknown field(s): {sorted(unknown)}")
        fault = FaultRule(next(self._fault_ids), gateway, kind, match, percent, times, retry_after)
        self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        self._faults.clear()

    def faults(self) -> list[FaultRule]:
        return list(self._faults)

    def pick_fault(self, gateway: str, token: str) -> FaultRule | None:
        """The first rule that applies to this request, consuming one of its ``times``."""
        for rule in self._faults:
            if rule.gateway != gateway:
                continue
            if rule.match is not None and not token.startswith(rule.match):
                continue
            if rule.percent is not None and self._random.random() * 100 >= rule.percent:
                continue
            if rule.times is not None:
                rule.times -= 1
                if rule.times <= 0:
                    self._faults.remove(rule)
            return rule
        return None

    # -- counting and recording -----------------------------------------------------------------
    def record(self, rec: Record) -> None:
        """A request was received and decided. A 2xx is not counted yet: ``settle`` counts it
        once its answer is written (``accepted``) or could not be (``abandoned``)."""
        st = self.stats[rec.gateway]
        st.requests += 1
        if not 200 <= rec.status < 300:
            st.rejected += 1
        self.records.append(rec)

    def settle(self, rec: Record, written: bool) -> None:
        st = self.stats[rec.gateway]
        rec.answered_at = time.time()
        if written:
            st.accepted += 1
            if rec.delivered:
                st.accepted_by_token[rec.token] += 1
                identity = hash(push_identity(rec))
                if identity in st.accepted_pushes:
                    st.duplicates += 1
                else:
                    st.accepted_pushes.add(identity)
        else:
            rec.abandoned = True
            st.abandoned += 1

    def track(self, rec: Record, answer: Answer) -> None:
        """Record a decided request; a 2xx answer is counted when the connection settles it."""
        self.record(rec)
        if 200 <= rec.status < 300:
            answer.on_settled = functools.partial(self.settle, rec)

    def reset(self) -> None:
        self.stats = {g: GatewayStats() for g in GATEWAYS}
        self.records.clear()
        self._faults.clear()
        self.oauth_tokens_issued = 0
        self.http2 = H2Behaviour()

    def stats_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {g: self.stats[g].to_json(g) for g in GATEWAYS}
        out["oauth"] = {"tokensIssued": self.oauth_tokens_issued}
        out["latencyMs"] = self.latency * 1000
        out["http2"] = http2_json(self.http2)
        return out


def push_identity(rec: Record) -> str:
    """What makes two accepted sends the same push. APNs: the apns-id, which a client keeps
    across retries (else the token and payload). FCM messages carry no id and ``android.ttl``
    shrinks on every retry, so: the token with the message's data and notification."""
    if rec.gateway == "apns":
        return rec.headers.get("apns-id") or rec.token + rec.body.decode("utf-8", "replace")
    message = orjson.loads(rec.body).get("message") or {}
    content = [message.get("data"), message.get("notification")]
    return rec.token + orjson.dumps(content, option=orjson.OPT_SORT_KEYS).decode()


def checked_ms(value: Any, name: str, most: int) -> float:
    """A duration in milliseconds from the control API, from 0 to ``most``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= most:
        raise FaultError(f"{name} must be a number from 0 to {most}")
    return float(value)


def http2_json(h2: H2Behaviour) -> dict[str, Any]:
    return {
        "maxConcurrentStreams": h2.max_concurrent_streams,
        "strict": h2.strict,
        "settingsDelayMs": h2.settings_delay * 1000,
    }


def _optional_int(rule: dict[str, Any], name: str, minimum: int) -> int | None:
    value = rule.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise FaultError(f"{name} must be an integer >= {minimum} or null")
    return value


def now_ms() -> int:
    return int(time.time() * 1000)
