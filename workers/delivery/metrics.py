"""The send path's metrics: the series of the project catalogue
(``shared.observability.metrics``, exported on the worker's ``/metrics``), under the names the
engine uses. Holds no series of its own, so building it twice registers nothing twice."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from shared.observability import metrics as catalogue


class DeliveryMetrics:
    def __init__(self) -> None:
        self.sends: Counter = catalogue.DISPATCHES  # {gateway, outcome}
        self.retries: Counter = catalogue.SEND_RETRIES  # {gateway, reason}
        self.latency: Histogram = catalogue.SEND_LATENCY  # {gateway}
        self.rate_limited: Counter = catalogue.RATE_LIMIT_WAITS  # {gateway}
        self.rate_limit_wait: Histogram = catalogue.RATE_LIMIT_WAIT_SECONDS  # {gateway}
        self.redelivered: Counter = catalogue.REDELIVERED_ALREADY_SENT  # {gateway}
        self.queue_wait: Histogram = catalogue.QUEUE_WAIT  # {gateway, lane}
        self.in_flight: Gauge = catalogue.SENDS_IN_FLIGHT  # {gateway}
        self.connections: Gauge = catalogue.GATEWAY_CONNECTIONS  # {gateway}


def default_metrics() -> DeliveryMetrics:
    return DeliveryMetrics()

