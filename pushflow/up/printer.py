"""What ``pushflow up`` prints: honcho's ``HH:MM:SS name | text`` lines, where with
``PUSHFLOW_LOG_JSON=true`` the text is always one JSON object in the processes' own log format.

The processes log JSON themselves. What they print outside logging (Celery's "Warm shutdown",
a library's warning, Flower's tornado lines) and honcho's own lines ("api started (pid=...)")
are wrapped into a record of the same shape: ``logger`` is ``stdout`` for a process's output,
``honcho`` for honcho's. The ready banner is the one exception (docs/operations.md).
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from honcho.printer import Message, Printer

from shared.observability.logs import PushflowJsonFormatter

HONCHO = "system"  # the name honcho prints its own lines under


def is_json_record(text: str) -> bool:
    if not text.startswith("{"):
        return False
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


def as_record(process: str, text: str, *, logger: str = "stdout",
              level: int = logging.INFO) -> str:
    """``text`` as one JSON log line of ``process`` (redacted like every other line)."""
    record = logging.makeLogRecord({"name": logger, "levelno": level,
                                    "levelname": logging.getLevelName(level), "msg": text})
    record.process = None  # printed by honcho or the runner: the process's pid is not known
    return PushflowJsonFormatter(process).format(record)


class JsonLinePrinter(Printer):  # type: ignore[misc]
    def write(self, message: Message) -> None:
        data = message.data
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)
        name = message.name or HONCHO
        logger = "honcho" if name == HONCHO else "stdout"
        lines = [line if is_json_record(line) else as_record(name, line, logger=logger)
                 for line in text.splitlines() if line.strip()]
        if lines:
            super().write(message._replace(data="\n".join(lines)))


def make_printer(json_lines: bool, **kwargs: Any) -> Printer:
    return (JsonLinePrinter if json_lines else Printer)(sys.stdout, **kwargs)
