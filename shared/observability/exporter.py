"""Exposition: the registry to scrape, scrape-time collectors, and a small HTTP endpoint for
processes that have no web server of their own (Celery workers).

Worker endpoint paths: ``/metrics`` (Prometheus text), ``/healthz`` (the process is alive and
serving), ``/readyz`` (the checks the process depends on pass; 503 otherwise).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import redis
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from shared import queues
from shared.observability.health import Check

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class QueueDepthCollector(Collector):
    """``pushflow_queue_depth{queue}``: each lane's Redis list length, read when scraped so the
    value is current and no process has to poll. A scrape with Redis down exports nothing for it
    (an absent series alerts; a stale zero would not)."""

    def __init__(self, redis_url: str, queue_names: Iterable[str] = queues.ALL_QUEUES) -> None:
        self._client = redis.Redis.from_url(redis_url, socket_timeout=1.0,
                                            socket_connect_timeout=1.0)
        self._queues = tuple(queue_names)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "pushflow_queue_depth", "Messages waiting in each queue (Redis list length).",
            labels=["queue"],
        )
        try:
            pipe = self._client.pipeline(transaction=False)
            for name in self._queues:
                pipe.llen(name)
            lengths = pipe.execute()
        except (redis.RedisError, OSError):
            return
        for name, length in zip(self._queues, lengths, strict=True):
            family.add_metric([name], float(length))
        yield family


def scrape_registry(extra: Iterable[Collector] = ()) -> CollectorRegistry:
    """The registry to expose: the process's own, or - with ``PROMETHEUS_MULTIPROC_DIR`` set -
    the merge of every process that wrote into that folder; plus ``extra`` collectors."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = REGISTRY
    extras = list(extra)
    if not extras:
        return registry
    merged = CollectorRegistry()
    merged.register(_Forward(registry))
    for collector in extras:
        merged.register(collector)
    return merged


class _Forward(Collector):
    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterable[object]:  # type: ignore[override]
        return self._registry.collect()


def render(registry: CollectorRegistry) -> tuple[bytes, str]:
    return generate_latest(registry), CONTENT_TYPE_LATEST


def reset_multiprocess_dir(path: str) -> None:
    """Create or empty a ``PROMETHEUS_MULTIPROC_DIR`` before its process tree starts (never
    from inside it: the processes map their files at import): a previous run's files would be
    merged into this run's counters."""
    os.makedirs(path, exist_ok=True)
    for name in os.listdir(path):
        if name.endswith(".db"):
            os.unlink(os.path.join(path, name))


ReadinessProbe = Callable[[], list[Check]]


class MetricsServer:
    """``/metrics``, ``/healthz`` and ``/readyz`` on a port, served by a daemon thread."""

    def __init__(self, host: str, port: int, registry: CollectorRegistry,
                 readiness: ReadinessProbe | None = None) -> None:
        handler = _handler_class(registry, readiness)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="metrics-server", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler_class(registry: CollectorRegistry,
                   readiness: ReadinessProbe | None) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                body, ctype = render(registry)
                self._reply(200, body, ctype)
            elif path == "/healthz":
                self._json(200, {"status": "alive"})
            elif path == "/readyz":
                checks = readiness() if readiness else []
                ok = all(c.ok for c in checks)
                self._json(200 if ok else 503, {"status": "ready" if ok else "not ready",
                                                "checks": [c.as_dict() for c in checks]})
            else:
                self._json(404, {"status": "not found"})

        def _json(self, status: int, payload: dict[str, object]) -> None:
            self._reply(status, json.dumps(payload).encode(), "application/json")

        def _reply(self, status: int, body: bytes, ctype: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Scrapes every few seconds would drown the logs: not logged."""

    return Handler
