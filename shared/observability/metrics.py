"""The Prometheus metric catalogue: every series Pushflow exports, defined once, here.

Import the object and increment it where the event happens (``from shared.observability import
metrics``; ``metrics.DISPATCHES.labels(gateway="apns", outcome="sent").inc()``). Labels are
small closed sets - never a token, a message id or an app key.

API (``/metrics`` on the API port)
  pushflow_http_requests_total{route,method,status}           counter, by route template
  pushflow_http_request_duration_seconds{route,method}        histogram
  pushflow_intake_dispatches_total{platform,lane}             counter, dispatches queued
  pushflow_intake_rejected_tokens_total{code}                 counter, INVALID_DEVICE_TOKEN...
  pushflow_outbox_republished_total                           counter, sweeper re-publishes

Send workers (``pushflow worker fcm|apns``; ``/metrics`` on the worker's metrics port)
  pushflow_dispatches_total{gateway,outcome}                  counter, final outcomes; outcome:
                                                              sent, or the failure reason
                                                              (invalid_token, unregistered,
                                                              bad_message, expired, auth_config,
                                                              retries_exhausted)
  pushflow_send_latency_seconds{gateway}                      histogram, gateway round trip
  pushflow_sends_in_flight{gateway}                           gauge, jobs taken, not finished
  pushflow_redelivered_already_sent_total{gateway}            counter, redelivered jobs the
                                                              guard said were already accepted
  pushflow_queue_wait_seconds{gateway,lane}                   histogram, enqueuedAt -> start
  pushflow_send_retries_total{gateway,reason}                 counter; reason: the gateway's
                                                              reason (TooManyRequests, ...)
  pushflow_rate_limit_waits_total{gateway}                    counter, sends delayed by the
                                                              per-app token bucket
  pushflow_rate_limit_wait_seconds{gateway}                   histogram, how long
  pushflow_apns_jwt_age_seconds{team,key}                     gauge, age of the shared JWT
  pushflow_credential_expiry_timestamp_seconds{provider,app}  gauge, unix time a certificate
                                                              (or key) expires; alert < 14 d
  pushflow_gateway_connections{gateway}                       gauge, open HTTP/2 connections

Every worker type (collected at scrape time, see ``exporter.QueueDepthCollector``)
  pushflow_queue_depth{queue}                                 gauge, Redis list length per lane
                                                              (fcm.tx, fcm.bulk, apns.tx, ...)

DLR and webhook workers
  pushflow_dlr_results_total{status}                          counter, results recorded
  pushflow_dlr_batch_size                                     histogram, results per write
  pushflow_webhook_attempts_total{outcome}                    counter; outcome: delivered |
                                                              http_error | timeout |
                                                              connect_error | blocked
  pushflow_webhook_latency_seconds                            histogram, one attempt
  pushflow_webhook_dead_letters_total                         counter
  pushflow_webhook_replays_total                              counter

Processes run with several worker processes (prefork, ``uvicorn --workers``) export through
prometheus_client's multiprocess mode when ``PROMETHEUS_MULTIPROC_DIR`` is set; each gauge
below says how values of several processes combine.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Latency buckets: gateways answer in 10-150 ms, webhooks up to their 5 s timeout.
_FAST = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_SEND = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_WAIT = (0.001, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 60.0, 300.0, 1800.0)

# -- API ---------------------------------------------------------------------------------------
HTTP_REQUESTS = Counter(
    "pushflow_http_requests", "API requests by route template, method and status.",
    ["route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "pushflow_http_request_duration_seconds", "API request handling time.",
    ["route", "method"], buckets=_FAST,
)
INTAKE_DISPATCHES = Counter(
    "pushflow_intake_dispatches", "Dispatches accepted and queued by the intake.",
    ["platform", "lane"],
)
INTAKE_REJECTED_TOKENS = Counter(
    "pushflow_intake_rejected_tokens", "Tokens refused by the intake, by error code.", ["code"],
)
OUTBOX_REPUBLISHED = Counter(
    "pushflow_outbox_republished", "Dispatches re-published by the outbox sweeper.",
)

# -- send workers ------------------------------------------------------------------------------
DISPATCHES = Counter(
    "pushflow_dispatches", "Final send outcomes: sent, or the failure reason.",
    ["gateway", "outcome"],
)
SEND_LATENCY = Histogram(
    "pushflow_send_latency_seconds", "Gateway round trip of a send (or send batch).",
    ["gateway"], buckets=_SEND,
)
SENDS_IN_FLIGHT = Gauge(
    "pushflow_sends_in_flight", "Send jobs taken and not finished.", ["gateway"],
    multiprocess_mode="livesum",
)
REDELIVERED_ALREADY_SENT = Counter(
    "pushflow_redelivered_already_sent",
    "Redelivered send jobs that the per-dispatch guard said were already accepted.", ["gateway"],
)
QUEUE_WAIT = Histogram(
    "pushflow_queue_wait_seconds", "Time a send job waited in its queue.",
    ["gateway", "lane"], buckets=_WAIT,
)
SEND_RETRIES = Counter(
    "pushflow_send_retries", "Sends scheduled for a retry, by gateway and cause.",
    ["gateway", "reason"],
)
RATE_LIMIT_WAITS = Counter(
    "pushflow_rate_limit_waits", "Sends delayed by the per-app token bucket.", ["gateway"],
)
RATE_LIMIT_WAIT_SECONDS = Histogram(
    "pushflow_rate_limit_wait_seconds", "Delay imposed by the per-app token bucket.",
    ["gateway"], buckets=_WAIT,
)
APNS_JWT_AGE = Gauge(
    "pushflow_apns_jwt_age_seconds", "Age of the APNs provider JWT in use, by team and key.",
    ["team", "key"], multiprocess_mode="max",
)
CREDENTIAL_EXPIRY = Gauge(
    "pushflow_credential_expiry_timestamp_seconds",
    "Unix time at which an app's gateway certificate or key expires.",
    ["provider", "app"], multiprocess_mode="min",
)
GATEWAY_CONNECTIONS = Gauge(
    "pushflow_gateway_connections", "Open HTTP/2 connections to a gateway.",
    ["gateway"], multiprocess_mode="livesum",
)

# -- DLR and webhooks --------------------------------------------------------------------------
DLR_RESULTS = Counter(
    "pushflow_dlr_results", "Send results recorded in PostgreSQL, by status (queued: an attempt"
    " to be retried).", ["status"],
)
DLR_BATCH_SIZE = Histogram(
    "pushflow_dlr_batch_size", "Results written per database round trip.",
    buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500),
)
WEBHOOK_ATTEMPTS = Counter(
    "pushflow_webhook_attempts", "Webhook delivery attempts by outcome.", ["outcome"],
)
WEBHOOK_LATENCY = Histogram(
    "pushflow_webhook_latency_seconds", "Time for one webhook attempt.", buckets=_SEND,
)
WEBHOOK_DEAD_LETTERS = Counter(
    "pushflow_webhook_dead_letters", "Webhook events dead-lettered after the retry window.",
)
WEBHOOK_REPLAYS = Counter(
    "pushflow_webhook_replays", "Dead-lettered webhook events replayed.",
)

# Label sets exported with value 0 from start-up, so dashboards and alerts see the series before
# the first event (a counter that does not exist yet cannot be rated).
_KNOWN_LABELS: tuple[tuple[Counter, tuple[str, ...]], ...] = tuple(
    (DISPATCHES, (gateway, outcome))
    for gateway in ("fcm", "apns")
    for outcome in ("sent", "invalid_token", "unregistered", "retries_exhausted")
) + tuple((WEBHOOK_ATTEMPTS, (outcome,)) for outcome in ("delivered", "http_error", "timeout"))


def initialise_known_series() -> None:
    for counter, labels in _KNOWN_LABELS:
        counter.labels(*labels)
    for gateway in ("fcm", "apns"):
        RATE_LIMIT_WAITS.labels(gateway)
        SEND_LATENCY.labels(gateway)
        SENDS_IN_FLIGHT.labels(gateway)
