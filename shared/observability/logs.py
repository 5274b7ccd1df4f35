"""Structured logs: one JSON object per line on stderr, every line with the request id.

Fields: ``ts`` (RFC 3339 UTC), ``level``, ``logger``, ``msg``, ``uniqId`` (the record's own,
``extra=job_log(request_id)``, else ``shared.observability.context``'s when bound),
``process`` (the process type, e.g. ``api``, ``worker-fcm``), ``pid``, anything passed as
``extra=``, and ``exc`` for exceptions. Every line
goes through ``redact`` last, so secrets never reach the log store whatever a caller passed.
``PUSHFLOW_LOG_JSON=false`` gives the same content as readable text for a terminal.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from shared.observability.context import current_request_id
from shared.observability.redact import RedactingFilter, redact

_HANDLER_NAME = "pushflow"


class PushflowJsonFormatter(JsonFormatter):
    def __init__(self, process_type: str) -> None:
        super().__init__(timestamp=False, json_ensure_ascii=False)
        self._process_type = process_type

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        log_data["ts"] = datetime.fromtimestamp(record.created, UTC).isoformat(
            timespec="milliseconds"
        )
        log_data["level"] = record.levelname
        log_data["logger"] = record.name
        log_data["msg"] = record.getMessage()
        request_id = getattr(record, "uniqId", None) or current_request_id()
        if request_id:
            log_data["uniqId"] = request_id
        log_data["process"] = self._process_type
        log_data["pid"] = record.process
        super().add_fields(log_data, record, message_dict)
        log_data.pop("message", None)
        if "exc_info" in log_data:
            log_data["exc"] = log_data.pop("exc_info")

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class PushflowTextFormatter(logging.Formatter):
    def __init__(self, process_type: str) -> None:
        super().__init__(f"%(asctime)s %(levelname)s {process_type} %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        request_id = getattr(record, "uniqId", None) or current_request_id()
        return redact(f"{text} [uniqId={request_id}]" if request_id else text)


def job_log(request_id: str | None, **fields: Any) -> dict[str, Any]:
    """``extra=`` for a log line about one job when no context is bound to it (a batch of jobs
    of many requests on one asyncio loop): its request id as ``uniqId``, which both formatters
    prefer to the context's, plus ``fields`` (never a token in full, never a secret)."""
    return {"uniqId": request_id, **fields} if request_id else dict(fields)


class _CurrentStderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time of each record (not the object it was
    when logging was configured), as ``logging.lastResort`` does: test runners and daemons
    swap stderr, and a handler holding a closed one fails at interpreter exit."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        """The stream is always the current stderr."""


def configure_logging(
    process_type: str, *, level: str | None = None, json_output: bool | None = None
) -> logging.Handler:
    """Install the one Pushflow handler on the root logger (idempotent); returns it.

    ``level`` and ``json_output`` default to ``PUSHFLOW_LOG_LEVEL`` / ``PUSHFLOW_LOG_JSON``.
    """
    if level is None or json_output is None:
        from shared.settings import get_settings

        settings = get_settings()
        level = level or settings.log_level
        json_output = settings.log_json if json_output is None else json_output
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == _HANDLER_NAME:
            root.removeHandler(existing)
    handler = _CurrentStderrHandler()
    handler.set_name(_HANDLER_NAME)
    handler.addFilter(RedactingFilter())
    formatter: logging.Formatter = (
        PushflowJsonFormatter(process_type) if json_output else PushflowTextFormatter(process_type)
    )
    handler.setFormatter(formatter)
    root.addHandler(handler)
    root.setLevel(level)
    return handler
