"""What `pushflow up` prints: JSON lines pass as they are; anything else a process or honcho
prints is wrapped into a record of the same shape (and redacted like every log line)."""

from __future__ import annotations

import datetime
import io
import json

from honcho.printer import Message

from pushflow.up.printer import JsonLinePrinter


def printed(name: str, data: str) -> list[str]:
    out = io.StringIO()
    JsonLinePrinter(out).write(Message("line", data, datetime.datetime(2026, 1, 1), name, None))
    return out.getvalue().splitlines()


def test_a_json_line_passes_unchanged() -> None:
    line = json.dumps({"level": "INFO", "msg": "sent", "process": "worker-fcm"})
    assert printed("worker-fcm", line + "\n") == [f"00:00:00 worker-fcm | {line}"]


def test_text_is_wrapped_per_line_and_blank_lines_dropped() -> None:
    lines = printed("dlr", "\nworker: Warm shutdown (MainProcess)\n\n")
    assert len(lines) == 1 and lines[0].startswith("00:00:00 dlr | ")
    record = json.loads(lines[0].partition("| ")[2])
    assert record["msg"] == "worker: Warm shutdown (MainProcess)"
    assert (record["process"], record["logger"], record["level"]) == ("dlr", "stdout", "INFO")


def test_honchos_own_lines_are_records_of_honcho() -> None:
    record = json.loads(printed("system", "api started (pid=42)\n")[0].partition("| ")[2])
    assert (record["process"], record["logger"], record["msg"]) == (
        "system", "honcho", "api started (pid=42)")


def test_wrapped_text_is_redacted() -> None:
    line = printed("flower", "Broker: redis://:hunter2secret@127.0.0.1:6379/0")[0]
    assert "hunter2secret" not in line
