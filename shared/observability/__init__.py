"""Observability shared by the API and every worker: the Prometheus metric catalogue
(``metrics``), JSON logs carrying the request id (``logs``, ``context``, ``redact``), the ASGI
request-metrics middleware (``asgi``), scrape-time collectors and the worker metrics endpoint
(``exporter``), and the readiness checks behind ``/readyz`` (``health``)."""
