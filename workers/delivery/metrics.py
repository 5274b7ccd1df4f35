"""Prometheus metrics of the send path (exposed by whoever wires ``/metrics``; the default
registry is used so a ``prometheus_client`` exporter in the worker process finds them)."""

from __future__ import annotations

import functools

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram


class DeliveryMetrics:
    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.sends = Counter("pushflow_sends_total", "Final send outcomes",
                             ["gateway", "outcome"], registry=registry)
        self.retries = Counter("pushflow_send_retries_total", "Sends re-queued for a retry",
                               ["gateway", "reason"], registry=registry)
        self.latency = Histogram("pushflow_send_seconds", "Gateway round trip of a send batch",
                                 ["gateway"], registry=registry,
                                 buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self.rate_limited = Counter("pushflow_rate_limited_total",
                                    "Jobs parked by the per-app rate limit", ["gateway"],
                                    registry=registry)
        self.redelivered = Counter("pushflow_redelivered_already_sent_total",
                                   "Redelivered jobs the guard said were already accepted",
                                   ["gateway"], registry=registry)
        self.jwt_age = Gauge("pushflow_apns_jwt_age_seconds", "Age of the APNs JWT in use",
                             ["team", "key"], registry=registry)
        self.in_flight = Gauge("pushflow_sends_in_flight", "Jobs taken and not finished",
                               ["gateway"], registry=registry)


@functools.lru_cache(maxsize=1)
def default_metrics() -> DeliveryMetrics:
    """One set per process (metrics register once in the default registry)."""
    return DeliveryMetrics()
