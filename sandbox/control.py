"""The control API (plain HTTP on loopback): faults, latency, counters and recorded requests.

POST   /faults    {"gateway", "kind", "match", "percent", "times", "retryAfter"} -> {"id"}
GET    /faults    -> {"faults": [...]}          DELETE /faults -> {"cleared": true}
GET    /stats     -> per gateway counters       POST   /reset  -> counters, faults, records
GET    /requests?gateway=apns&token=T&since=UNIX&limit=N   POST   /latency {"ms": 50}
POST   /http2     {"maxConcurrentStreams": 10, "strict": true, "settingsDelayMs": 50}
POST   /connections/close {"gateway": "apns" | "fcm" | null, "action": "goaway" | "drop"}
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from typing import Any

import orjson

from sandbox import apns, fcm
from sandbox.messages import Answer, Request, WireAction, json_answer
from sandbox.state import FaultError, Record, SandboxState, checked_ms, http2_json

FAULT_KINDS = {"apns": apns.FAULT_KINDS, "fcm": fcm.FAULT_KINDS}
_SECRET_HEADERS = frozenset({"authorization"})


CloseConnections = Callable[[str | None, WireAction], int]
_CLOSE_ACTIONS = {"goaway": WireAction.GOAWAY, "drop": WireAction.DROP}


class ControlApi:
    def __init__(self, state: SandboxState, close_connections: CloseConnections) -> None:
        self._state = state
        self._close_connections = close_connections

    def __call__(self, req: Request) -> Answer:
        path, _, query = req.path.partition("?")
        route = (req.method, path.rstrip("/") or "/")
        try:
            if route == ("POST", "/faults"):
                rule = self._state.add_fault(_json_object(req.body), FAULT_KINDS)
                return json_answer(200, {"id": rule.id, "fault": rule.to_json()})
            if route == ("GET", "/faults"):
                return json_answer(200, {"faults": [r.to_json() for r in self._state.faults()]})
            if route == ("DELETE", "/faults"):
                self._state.clear_faults()
                return json_answer(200, {"cleared": True})
            if route == ("GET", "/stats"):
                return json_answer(200, self._state.stats_json())
            if route == ("GET", "/requests"):
                return json_answer(200, {"requests": self._requests(urllib.parse.parse_qs(query))})
            if route == ("POST", "/reset"):
                self._state.reset()
                return json_answer(200, {"reset": True})
            if route == ("POST", "/latency"):
                return json_answer(200, {"ms": self._set_latency(_json_object(req.body))})
            if route == ("POST", "/http2"):  # for HTTP/2 connections opened from now on
                return json_answer(200, http2_json(self._state.set_http2(_json_object(req.body))))
            if route == ("POST", "/connections/close"):
                return json_answer(200, {"closed": self._close(_json_object(req.body))})
            if route == ("GET", "/health"):
                return json_answer(200, {"ok": True})
        except FaultError as exc:
            return json_answer(400, {"error": str(exc)})
        return json_answer(404, {"error": f"no route {req.method} {path}"})

    def _close(self, body: dict[str, Any]) -> int:
        gateway, action = body.get("gateway"), body.get("action", "goaway")
        if gateway is not None and gateway not in FAULT_KINDS:
            raise FaultError(f"gateway must be one of {sorted(FAULT_KINDS)} or null")
        if action not in _CLOSE_ACTIONS:
            raise FaultError(f"action must be one of {sorted(_CLOSE_ACTIONS)}")
        if set(body) - {"gateway", "action"}:
            raise FaultError(f"unknown field(s): {sorted(set(body) - {'gateway', 'action'})}")
        return self._close_connections(gateway, _CLOSE_ACTIONS[action])

    def _set_latency(self, body: dict[str, Any]) -> float:
        ms = checked_ms(body.get("ms"), "ms", 60_000)
        self._state.latency = ms / 1000.0
        return float(ms)

    def _requests(self, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        gateway = query.get("gateway", [None])[0]
        token = query.get("token", [None])[0]
        try:
            limit = int(query.get("limit", ["1000"])[0])
            # Received after this time only: a poller asks for what is new, not for the whole
            # record window again (a benchmark polling that was the sandbox's largest cost).
            since = float(query.get("since", ["-inf"])[0])
        except ValueError:
            raise FaultError("limit must be an integer and since a number") from None
        found = [
            r
            for r in self._state.records
            if (gateway is None or r.gateway == gateway)
            and (token is None or r.token == token)
            and r.at > since
        ]
        return [record_json(r) for r in found[-limit:]]


def record_json(rec: Record) -> dict[str, Any]:
    payload: Any
    try:
        payload = orjson.loads(rec.body) if rec.body else None
    except orjson.JSONDecodeError:
        payload = rec.body[:4096].decode("utf-8", "replace")
    out: dict[str, Any] = {
        "time": rec.at,
        "gateway": rec.gateway,
        "token": rec.token,
        "method": rec.method,
        "path": rec.path,
        "headers": {
            k: ("<redacted>" if k in _SECRET_HEADERS else v) for k, v in rec.headers.items()
        },
        "payload": payload,
        "status": rec.status,
        "reason": rec.reason,
        "http": rec.http,
        "connection": rec.conn_id,
    }
    if rec.answered_at is not None:  # 2xx: when it went out, or the client was already gone
        out["answeredAt"] = rec.answered_at
        out["abandoned"] = rec.abandoned
    if rec.extra:
        out.update(rec.extra)
    return out


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        doc = orjson.loads(body or b"{}")
    except orjson.JSONDecodeError:
        raise FaultError("body must be JSON") from None
    if not isinstance(doc, dict):
        raise FaultError("body must be a JSON object")
    return doc
